"""How Flask-Login finds the account: a login session token from the cookie, or a bearer token on the API."""

from __future__ import annotations

from flask import redirect, request, url_for
from flask_babel import gettext as _

from app.accounts import services
from app.errors import json_error, record_denial
from app.web import is_safe_next


def load_user(token: str):
    # An API call that names a bearer token is judged by that token alone: a browser cookie riding along must not
    # stand in for a revoked or bogus token (bearer calls also skip the CSRF check that cookie calls need).
    if is_api_request() and bearer_token():
        return None
    return services.load_login_session(token)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def load_user_from_request(_request):
    if not request.path.startswith("/api/"):
        return None
    return services.load_api_token(bearer_token())


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def unauthorized():
    record_denial(401)
    if is_api_request():
        return json_error(401, "unauthorized", _("Sign in or send a valid bearer token."))
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("accounts.login", next=target if is_safe_next(target) else None))



