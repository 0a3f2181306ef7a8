"""API schemas for peer pairs (a pair as a member or a facilitator sees it, peer check-ins, and the requests) and for
check-in circles."""

from marshmallow import fields, validate

from app.api_base import MAX_ID, Line, Schema, date_in_range
from app.groups.models import OccurrenceStatus
from app.peers.circles import LONGEST, SHORTEST
from app.peers.models import CHECKIN_FIELD_MAX, ConcernKind, ReactionKind

_ID = {"strict": True, "validate": validate.Range(min=1, max=MAX_ID)}
_IDS = validate.Length(max=50)


class PairSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    group_id = fields.Integer(strict=True, required=True)
    status = fields.String(required=True, metadata={
        "description": "For a member: proposed, answered, active, paused, paused_by_me, not_matched, declined or "
                       "ended (never the other's answer or why a pair ended). For a facilitator: proposed, active, "
                       "paused or ended"})
    peer_name = fields.String(allow_none=True, metadata={"description": "The other member (members only)"})
    member_ids = fields.List(fields.Integer(), metadata={"description": "Both members (facilitators only)"})
    rhythm_weekday = fields.Integer(allow_none=True, metadata={"description": "0 Monday to 6 Sunday"})
    rhythm_time = fields.String(allow_none=True, metadata={"description": "HH:MM in rhythm_zone"})
    rhythm_zone = fields.String(required=True)
    next_checkin_at = fields.DateTime(allow_none=True)
    nudge = fields.Boolean(metadata={"description": "The planned check-in passed without one from you"})
    checkins_count = fields.Integer(metadata={"description": "Facilitators only"})
    last_contact_at = fields.DateTime(allow_none=True, metadata={"description": "Facilitators only"})


class PairCreateSchema(Schema):
    group_id = fields.Integer(required=True, **_ID)
    first_id = fields.Integer(required=True, **_ID)
    second_id = fields.Integer(required=True, **_ID)
    weekday = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=0, max=6))
    time = Line(load_default=None, allow_none=True, validate=validate.Length(max=5))


class AnswerSchema(Schema):
    accept = fields.Boolean(required=True)


class ReactionSchema(Schema):
    kind = fields.Enum(ReactionKind, by_value=True, required=True)


class PeerCheckInSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    author_id = fields.Integer(strict=True, required=True)
    mine = fields.Boolean(required=True)
    tried = fields.String(required=True)
    how_it_went = fields.String(required=True)
    whats_next = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    reactions = fields.List(fields.String(), required=True)
    risk = fields.Boolean(metadata={"description": "On creation: the words matched the risk list; the writer is "
                                                   "shown the crisis resources"})
    support = fields.Dict(metadata={"description": "The organisation's crisis resources, when risk is true"})


class PeerCheckInRequestSchema(Schema):
    tried = Line(load_default="", validate=validate.Length(max=CHECKIN_FIELD_MAX))
    how_it_went = Line(load_default="", validate=validate.Length(max=CHECKIN_FIELD_MAX))
    whats_next = Line(load_default="", validate=validate.Length(max=CHECKIN_FIELD_MAX))
    client_id = Line(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class ConcernRequestSchema(Schema):
    kind = fields.Enum(ConcernKind, by_value=True, required=True, metadata={
        "description": "worried or concern (risk_phrase is raised by Momentum itself)"})
    checkin_ids = fields.List(fields.Integer(**_ID), load_default=list, validate=_IDS)
    message_ids = fields.List(fields.Integer(**_ID), load_default=list, validate=_IDS)


class ConcernSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    pair_id = fields.Integer(strict=True, required=True)
    kind = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    subject_id = fields.Integer(metadata={"description": "Facilitators only"})
    reporter_id = fields.Integer(allow_none=True, metadata={"description": "Facilitators only"})
    checkins = fields.List(fields.Nested(PeerCheckInSchema), metadata={"description": "Only the reported ones"})
    messages = fields.List(fields.Dict(), metadata={"description": "Only the reported ones"})


class CircleSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    group_id = fields.Integer(strict=True, required=True)
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    local_start = fields.String(required=True, metadata={"description": "Start in the group's time zone"})
    timezone = fields.String(required=True, metadata={"description": "The group's time zone"})
    duration_minutes = fields.Integer(strict=True, required=True)
    status = fields.Enum(OccurrenceStatus, by_value=True, required=True)
    on_now = fields.Boolean(required=True, metadata={"description": "Between its start and its end: members may enter"})


class CircleRequestSchema(Schema):
    start_local = fields.NaiveDateTime(required=True, validate=date_in_range, metadata={
        "description": "In the group's time zone; in the future, at most 90 days ahead"})
    duration_minutes = fields.Integer(strict=True, load_default=20, validate=validate.Range(min=SHORTEST, max=LONGEST))
