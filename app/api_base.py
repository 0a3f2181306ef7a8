"""The JSON API's shared parts: the Api object's error format, bearer-or-session authentication, CSRF for browsers."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request
from flask_login import current_user
from flask_smorest import Api
from marshmallow import Schema, fields


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "machine-readable error code"})
    message = fields.String(required=True)
    field_errors = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True, data_key="fields",
                               metadata={"description": "per-field messages for invalid input"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class MomentumApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        """app/errors.py answers every error, in JSON under /api and as a page elsewhere."""




def document_errors(blp, *statuses: int):
    """Decorator: add the shared error responses to an endpoint's documentation."""

    def decorator(func):
        for status in statuses:
            func = blp.alt_response(status, schema=ErrorSchema, description=_STATUS_TEXT.get(status, "Error"))(func)
        return func

    return decorator


_STATUS_TEXT = {
    400: "Bad request",
    401: "Not signed in, or the token is invalid, expired or revoked",
    403: "Not allowed",
    404: "Not found (or not visible to you)",
    409: "Conflict with the current state",
    422: "Invalid input",
    429: "Too many requests",
}


def protect_browser_writes() -> None:
    """CSRF applies to calls that ride on a browser session; bearer-token calls carry no ambient credentials."""
    from app.accounts.session_loader import bearer_token

    from app.extensions import csrf

    if not request.path.startswith("/api/") or request.method in ("GET", "HEAD", "OPTIONS") or bearer_token():
        return
    if current_user.is_authenticated:
        csrf.protect()


docs_bp = Blueprint("api_docs", __name__)


@docs_bp.get("/api/v1/docs")
def swagger_ui():
    return render_template("api_docs.html")


def init_api(app: Flask) -> None:
    from app.extensions import api, csrf

    api.init_app(app, spec_kwargs={"info": {"description": "Momentum's JSON API. Authenticate with a bearer token "
                                            "from POST /api/v1/auth/tokens, or a browser session with a CSRF token."}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]
    from app.accounts.api import blp as accounts_api

    for blp in (accounts_api,):
        csrf.exempt(blp)
        api.register_blueprint(blp)
    app.before_request(protect_browser_writes)
    app.register_blueprint(docs_bp)
