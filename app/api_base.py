"""The JSON API's shared parts: the Api object's error format, bearer-or-session authentication, CSRF for browsers."""

from __future__ import annotations

import json

import flask_smorest
import marshmallow
from flask import Blueprint, Flask, render_template, request
from flask_babel import gettext
from flask_login import current_user
from flask_smorest import Api
from marshmallow import ValidationError, fields
from marshmallow.validate import Regexp
from webargs.flaskparser import FlaskParser
from werkzeug.routing import IntegerConverter

from app.accounts.session_loader import bearer_token
from app.extensions import csrf
from app.input_checks import (
    CONTROLS_IN_TEXT,
    EARLIEST_YEAR,
    LATEST_YEAR,
    UNPAIRED_SURROGATE,
    in_date_range,
    is_one_line,
)

#: The largest id a route accepts: ids are Integer columns, 32-bit on PostgreSQL, where SQLAlchemy casts every bound
#: value to INTEGER (a larger number is an error, not a miss); SQLite's driver overflows above 64 bits.
MAX_ID = 2**31 - 1

def storable_text(value: str) -> None:
    """Refuse what a database cannot store or UTF-8 cannot encode: NUL (PostgreSQL refuses it) and unpaired
    surrogates (JSON's "\\ud800" escape decodes to one, and encoding it raises)."""
    if "\x00" in value:
        raise ValidationError(gettext("Must not contain NUL characters."))
    if UNPAIRED_SURROGATE.search(value):
        raise ValidationError(gettext("Must be valid Unicode text."))


# Messages in the caller's language ------------------------------------------------------------------------------------


class Message(str):
    """An English message that is translated, into the request's language, when it is formatted: marshmallow formats
    every field and validator message it reports (``message.format(**values)``), at request time. Schemas are made
    at import time, when no language is known, so a message translated then would stay English."""

    def format(self, *args, **kwargs) -> str:
        return gettext(str(self)).format(*args, **kwargs)


def N_(message: str) -> Message:
    """Mark an English message for the catalog (N_ is one of Babel's default keywords) and translate it later."""
    return Message(message)


#: What marshmallow (4.x) reports for the fields and validators the API's schemas use, and what the schemas report
#: themselves, so that the catalog holds them; tests/test_api.py fails when a schema can report one missing here.
MARSHMALLOW_MESSAGES = [
    N_("Missing data for required field."), N_("Field may not be null."), N_("Invalid value."), N_("Invalid type."),
    N_("Not a valid string."), N_("Not a valid utf-8 string."), N_("Not a valid integer."), N_("Not a valid number."),
    N_("Number too large."), N_("Not a valid boolean."), N_("Not a valid email address."), N_("Not a valid list."),
    N_("Not a valid mapping type."), N_("Not a valid {obj_type}."), N_("Not a valid {awareness} {obj_type}."),
    N_('"{input}" cannot be formatted as a {obj_type}.'), N_("Must be one of: {choices}."),
    N_("String does not match expected pattern."), N_("Unknown field."), N_("Invalid input type."),
    N_("Shorter than minimum length {min}."), N_("Longer than maximum length {max}."),
    N_("Length must be between {min} and {max}."), N_("Length must be {equal}."),
    N_("Must be greater than or equal to {min}."), N_("Must be greater than {min}."),
    N_("Must be less than or equal to {max}."), N_("Must be less than {max}."),
    N_("Must be greater than or equal to {min} and less than or equal to {max}."),
    N_("Must be greater than or equal to {min} and less than {max}."),
    N_("Must be greater than {min} and less than or equal to {max}."),
    N_("Must be greater than {min} and less than {max}."),
]

#: The attributes of marshmallow's validators that hold a message template.
_VALIDATOR_MESSAGES = ("error", "message_min", "message_max", "message_all", "message_equal")


def translate_field_messages(field: fields.Field) -> None:
    """Make every message a field and its validators (and the fields inside it) can report a Message."""
    field.error_messages = {key: Message(value) if isinstance(value, str) else value
                            for key, value in field.error_messages.items()}
    for validator in field.validators:
        for name in _VALIDATOR_MESSAGES:
            value = getattr(validator, name, None)
            if isinstance(value, str):
                setattr(validator, name, Message(value))
    for inner in (getattr(field, "inner", None), getattr(field, "key_field", None), getattr(field, "value_field", None),
                  *getattr(field, "tuple_fields", ())):
        if isinstance(inner, fields.Field):
            translate_field_messages(inner)


def _translate_left_over(messages):
    """A schema's own messages ("Unknown field.") are reported without being formatted: translate them now."""
    if isinstance(messages, dict):
        return {key: _translate_left_over(value) for key, value in messages.items()}
    if isinstance(messages, list):
        return [_translate_left_over(value) for value in messages]
    return gettext(str(messages)) if isinstance(messages, Message) else messages


class Schema(marshmallow.Schema):
    """Every API schema's base: whatever it reports about the input is in the caller's language."""

    error_messages = {"unknown": N_("Unknown field."), "type": N_("Invalid input type.")}

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        translate_field_messages(field_obj)

    def handle_error(self, error: ValidationError, data, *, many: bool, **kwargs) -> None:
        translated = _translate_left_over(error.messages)
        if isinstance(error.messages, dict):
            error.messages.clear()
            error.messages.update(translated)
        elif isinstance(error.messages, list):
            error.messages[:] = translated


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


# Request bodies ------------------------------------------------------------------------------------------------------

#: No request body of the API nests deeper than a few levels; a deeper one is refused before any schema walks it.
MAX_JSON_DEPTH = 32


def _nested_deeper_than(value, limit: int) -> bool:
    """Whether arrays and objects nest past `limit` levels, found without recursion (that is what it guards)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


class BodyParser(FlaskParser):
    """webargs' parser, refusing JSON nested deeper than MAX_JSON_DEPTH as invalid JSON (400 in the API's error
    shape): Python's decoder raises RecursionError, not a decoding error, on a few thousand levels."""

    def _raw_load_json(self, req):
        text = req.get_data(cache=True, as_text=False)
        try:
            value = super()._raw_load_json(req)
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", doc=repr(text[:40]), pos=0) from None
        if _nested_deeper_than(value, MAX_JSON_DEPTH):
            raise json.JSONDecodeError(f"nested deeper than {MAX_JSON_DEPTH} levels", doc=repr(text[:40]), pos=0)
        return value


class ApiBlueprint(flask_smorest.Blueprint):
    """Every API blueprint: flask-smorest's, reading bodies with BodyParser."""

    ARGUMENTS_PARSER = BodyParser()


class Line(Text):
    """A one-line string: no line break or control character (a name, a title, a link)."""

    def __init__(self, *args, validate=None, metadata=None, **kwargs):
        validators = list(validate) if isinstance(validate, (list, tuple)) else [validate] if validate else []
        metadata = {"pattern": "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]*$", **(metadata or {})}
        super().__init__(*args, validate=[*validators, _one_line], metadata=metadata, **kwargs)


class Paragraph(Text):
    """A longer text: line breaks and tabs, but no other control character."""

    def __init__(self, *args, validate=None, metadata=None, **kwargs):
        validators = list(validate) if isinstance(validate, (list, tuple)) else [validate] if validate else []
        metadata = {"pattern": "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$", **(metadata or {})}
        super().__init__(*args, validate=[*validators, _plain_text], metadata=metadata, **kwargs)


def date_in_range(value) -> None:
    """A validator for every date and datetime the API reads."""
    if not in_date_range(value):
        raise ValidationError(gettext("Choose a date between %(first)d and %(last)d.", first=EARLIEST_YEAR,
                                      last=LATEST_YEAR))


def _one_line(value: str) -> None:
    if not is_one_line(value):
        raise ValidationError(gettext("Keep this on one line, without special characters."))


def _plain_text(value: str) -> None:
    if CONTROLS_IN_TEXT.search(value):
        raise ValidationError(gettext("This field contains a character that is not allowed."))


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


#: The one API of the app: every domain registers its blueprint here (register_api_blueprint).
api = MomentumApi()


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
    """Decorator: add the shared error responses to an endpoint's documentation. An endpoint that reads a body (each
    documents 400) may also answer 413, for a body past MAX_CONTENT_LENGTH."""
    if 400 in statuses and 413 not in statuses:
        statuses = (*statuses, 413)

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
    413: "The body is larger than the server accepts (MAX_CONTENT_LENGTH)",
    422: "Invalid input",
    429: "Too many requests",
}


def protect_browser_writes() -> None:
    """CSRF applies to calls that ride on a browser session; bearer-token calls carry no ambient credentials."""
    if not request.path.startswith("/api/") or request.method in ("GET", "HEAD", "OPTIONS") or bearer_token():
        return
    if current_user.is_authenticated:
        csrf.protect()


docs_bp = Blueprint("api_docs", __name__)


@docs_bp.get("/api/v1/docs")
def swagger_ui():
    return render_template("api_docs.html")


def register_api_blueprint(blp: ApiBlueprint) -> None:
    """A domain's API: bearer tokens or a browser session with its CSRF token (protect_browser_writes), documented."""
    csrf.exempt(blp)
    api.register_blueprint(blp)


def init_api(app: Flask) -> None:
    register_id_converter(app)
    api.init_app(app, spec_kwargs={"info": {"description": "Momentum's JSON API. Authenticate with a bearer token "
                                            "from POST /api/v1/auth/tokens, or a browser session with a CSRF token."}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]
    app.before_request(protect_browser_writes)
    app.register_blueprint(docs_bp)
