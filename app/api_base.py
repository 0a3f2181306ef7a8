"""The JSON API's shared parts: the Api object's error format, bearer-or-session authentication, CSRF for browsers."""

from __future__ import annotations

import re

from flask import Blueprint, Flask, render_template, request
from flask_login import current_user
from flask_smorest import Api
from marshmallow import Schema, ValidationError, fields
from marshmallow.validate import Regexp
from werkzeug.routing import IntegerConverter

#: The largest id a route accepts: ids are Integer columns, 32-bit on PostgreSQL, where SQLAlchemy casts every bound
#: value to INTEGER (a larger number is an error, not a miss); SQLite's driver overflows above 64 bits.
MAX_ID = 2**31 - 1

_UNPAIRED_SURROGATE = re.compile(r"[\ud800-\udfff]")


def storable_text(value: str) -> None:
    """Refuse what a database cannot store or UTF-8 cannot encode: NUL (PostgreSQL refuses it) and unpaired
    surrogates (JSON's "\\ud800" escape decodes to one, and encoding it raises)."""
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")
    if _UNPAIRED_SURROGATE.search(value):
        raise ValidationError("Must be valid Unicode text.")


class Text(fields.String):
    """A string the API reads: every request schema's string fields use it, so that no bad character reaches a
    query, a hash or the database."""

    def __init__(self, *args, validate=None, metadata=None, **kwargs):
        validators = list(validate) if isinstance(validate, (list, tuple)) else [validate] if validate else []
        metadata = dict(metadata or {})
        if not any(isinstance(v, Regexp) for v in validators):
            # Tells clients (and schemathesis) that NUL is refused. Surrogates have no portable pattern: JSON Schema
            # validators built on Rust or RE2 reject one that names them.
            metadata.setdefault("pattern", "^[^\\x00]*$")
        super().__init__(*args, validate=[*validators, storable_text], metadata=metadata, **kwargs)


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


def numbers_up_to(limit: int) -> str:
    """A regular expression for the decimal numbers from 0 to `limit`: shorter numbers, then for each digit of the
    limit, the same prefix followed by a smaller digit and any digits, then the limit itself."""
    digits = str(limit)
    branches = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for position, digit in enumerate(map(int, digits)):
        low = 1 if position == 0 and len(digits) > 1 else 0
        if digit > low:
            smaller = str(low) if digit - 1 == low else f"[{low}-{digit - 1}]"
            rest = len(digits) - position - 1
            branches.append(digits[:position] + smaller + (rf"\d{{{rest}}}" if rest > 1 else r"\d" * rest))
    branches.append(digits)
    return "(?:" + "|".join(branches) + ")"


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` in a route is always a database id. A number above MAX_ID matches no route (404) and never reaches
    the database. The bound is in the pattern, not in to_python: Werkzeug answers a to_python refusal with 405
    when the path has a rule for another method. It shows in the OpenAPI document as the parameter's maximum."""

    regex = numbers_up_to(MAX_ID)

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def register_id_converter(app: Flask) -> None:
    """Replace the stock `int` converter; it must run before any route with `<int:...>` is added."""
    app.url_map.converters["int"] = DatabaseIdConverter


def document_errors(blp, *statuses: int):
    """Decorator: add the shared error responses to an endpoint's documentation."""

    def decorator(func):
        for status in statuses:
            func = blp.alt_response(status, schema=ErrorSchema, description=_STATUS_TEXT.get(status, "Error"))(func)
        return func

    return decorator


_STATUS_TEXT = {
    400: "Malformed request, or a browser-session write without its CSRF token",
    401: "Not signed in, or the token is invalid, expired or revoked",
    403: "Not allowed",
    404: "Not found (or not visible to you)",
    409: "Conflict with the current state",
    410: "No longer usable (expired, used or revoked)",
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

    register_id_converter(app)
    api.init_app(app, spec_kwargs={"info": {"description": "Momentum's JSON API. Authenticate with a bearer token "
                                            "from POST /api/v1/auth/tokens, or a browser session with a CSRF token."}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]
    from app.accounts.api import blp as accounts_api
    from app.groups.api import blp as groups_api
    from app.supporters.api import blp as supporters_api

    for blp in (accounts_api, groups_api, supporters_api):
        csrf.exempt(blp)
        api.register_blueprint(blp)
    app.before_request(protect_browser_writes)
    app.register_blueprint(docs_bp)
