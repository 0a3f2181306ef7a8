"""API schemas for check-ins and safety alerts."""

from marshmallow import fields, validate

from app.api_base import Line, Schema, Text
from app.rooms.models import ALERT_NOTE_MAX, Energy


class CheckInRequestSchema(Schema):
    client_id = Text(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{8,64}$"),
        metadata={"description": "Idempotency key chosen by the client: a retry with the same key is stored once."},
    )
    mood = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=0, max=10))
    energy = fields.Enum(Energy, by_value=True, load_default=None, allow_none=True)
    note = Line(load_default="", validate=validate.Length(max=280))
    passed = fields.Boolean(load_default=False)


class CheckInSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    user_id = fields.Integer(strict=True, required=True)
    name = fields.String()
    session_id = fields.Integer(strict=True, allow_none=True)
    created_at = fields.String(required=True)
    checked_in = fields.Boolean()
    mood = fields.Integer(strict=True, allow_none=True)
    energy = fields.String(allow_none=True)
    note = fields.String()
    passed = fields.Boolean()
    client_id = fields.String(allow_none=True)
    duplicate = fields.Boolean(metadata={"description": "True when this key was already stored (a retry)."})
    support = fields.Dict(metadata={"description": "Crisis resources, when the check-in raised a safety alert."})


class AlertSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    kind = fields.String(required=True)
    group_id = fields.Integer(strict=True, required=True)
    session_id = fields.Integer(strict=True, allow_none=True)
    user_id = fields.Integer(strict=True, required=True)
    name = fields.String(required=True)
    created_at = fields.String(required=True)
    acknowledged = fields.Boolean(required=True)
    acknowledged_by = fields.String(allow_none=True)


class AlertAcknowledgeSchema(Schema):
    note = Line(load_default="", validate=validate.Length(max=ALERT_NOTE_MAX), metadata={
        "description": "What was done, in a few words: for the group's facilitators only, never the member."})
