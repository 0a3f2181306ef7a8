"""Error pages for people and JSON errors for the API, with every denial written to the audit trail."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app import audit
from app.accounts.models import User
from app.extensions import db
from app.policy import Denied
from app.refusal import Refusal

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "server_error",
}


def messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        401: _("Sign in to continue."),
        403: _("You do not have access to this."),
        404: _("We could not find that page."),
        405: _("That action is not available here."),
        409: _("That conflicts with the current state. Reload and try again."),
        413: _("That was more than can be sent at once. Shorten it and try again."),
        422: _("Some fields need attention."),
        429: _("Too many attempts. Wait a few minutes and try again."),
        500: _("Something went wrong on our side. Nothing you entered was lost; try again in a moment."),
    }


def json_error(status: int, code: str | None = None, message: str | None = None, fields: dict | None = None,
               headers: dict | None = None):
    body = {"error": {"code": code or CODES.get(status, "error"),
                      "message": message or messages().get(status, ""),
                      "fields": fields or {}}}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _flatten_fields(data) -> dict:
    """webargs reports {"json": {"name": ["..."]}}; clients want {"name": ["..."]}."""
    messages_ = (data or {}).get("messages") or (data or {}).get("errors") or {}
    fields: dict = {}
    for location_errors in messages_.values() if isinstance(messages_, dict) else []:
        if isinstance(location_errors, dict):
            fields.update(location_errors)
    return fields


def record_denial(status: int, subject_id: int | None = None, consent_id: int | None = None) -> None:
    actor = current_user.id if current_user.is_authenticated else None
    if subject_id is not None and db.session.get(User, subject_id) is None:
        subject_id = None  # an id from the URL that names no account
    audit.record("request_denied", actor=actor, subject=subject_id, consent_id=consent_id,
                 target=f"{request.method} {request.path}"[:120], outcome="denied", details={"status": status})


def handle_http_exception(error: HTTPException):
    db.session.rollback()
    status = error.code or 500
    if isinstance(error, Denied):  # answered 404 like a missing object, but a refusal all the same
        record_denial(status, error.subject_id, error.consent_id)
    elif status in (401, 403):
        record_denial(status)
    if error.response is not None and not request.path.startswith("/api/"):
        return error.response  # a page made for this refusal (the sign-in-free link's own "wait a little")
    if request.path.startswith("/api/"):
        data = getattr(error, "data", None) or {}
        code = "csrf_failed" if isinstance(error, CSRFError) else None
        message = data.get("message") if isinstance(data, dict) else None
        headers = dict(error.get_response().headers) if status in (405, 429) else {}
        headers = {k: v for k, v in headers.items() if k in ("Allow", "Retry-After")}
        return json_error(status, code, message, _flatten_fields(data) if status in (400, 422) else None, headers)
    template = "errors/error.html"
    message = _("This form has expired. Go back, reload the page and try again.") if isinstance(error, CSRFError) \
        else messages().get(status, error.description)
    response = render_template(template, status=status, message=message), status
    return response


def handle_refusal(error: Refusal):
    """A refusal nobody caught on the way: nothing of the change is kept. The API answers with the refusal's status
    (422 with the field when the input is at fault, 409 for the state of things, 403 or 404 for the person, which is
    recorded as a denial); a page shows the message."""
    db.session.rollback()
    status = error.status
    if status in (401, 403, 404):
        record_denial(status)
    if request.path.startswith("/api/"):
        return json_error(status, None, error.message or None, {error.field: [error.message]} if error.field else None)
    return render_template("errors/error.html", status=status, message=error.message or messages()[status]), status


def handle_unexpected(error: Exception):
    db.session.rollback()
    current_app.logger.exception("unhandled error", exc_info=error)
    return handle_http_exception(InternalServerError())


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Refusal, handle_refusal)
    app.register_error_handler(Exception, handle_unexpected)
