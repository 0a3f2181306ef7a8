"""API schemas for consents and the supporter's view."""

from marshmallow import fields, validate

from app.api_base import MAX_ID, Line, Paragraph, Schema, date_in_range
from app.supporters.models import DataClass


class ConsentEventSchema(Schema):
    state = fields.String(required=True)
    at = fields.DateTime(required=True)
    by_id = fields.Integer(strict=True, allow_none=True)
    reason = fields.String()


class ConsentSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    patient_id = fields.Integer(strict=True, required=True)
    supporter_id = fields.Integer(strict=True, allow_none=True)
    state = fields.String(required=True, metadata={
        "description": "proposed, active, on_hold, revoked, expired or renewed; the supporter it was given to sees "
                       "only active or ended (never why), and no history"})
    data_classes = fields.List(fields.String(), required=True)
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    data_from = fields.DateTime(required=True)
    purpose = fields.String()
    renews_id = fields.Integer(strict=True, allow_none=True)
    history = fields.List(fields.Nested(ConsentEventSchema), required=True)


class ConsentCreateSchema(Schema):
    """Either `supporter_id` (someone already in your circle) or `email` and `relationship` (an invitation)."""

    supporter_id = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID))
    email = fields.Email(validate=validate.Length(max=254))
    relationship = Line(load_default="", validate=validate.Length(max=60))
    data_classes = fields.List(fields.Enum(DataClass, by_value=True), required=True,
                               validate=validate.Length(min=1, max=len(DataClass)))
    days = fields.Integer(strict=True, load_default=90, validate=validate.Range(min=1, max=365))
    data_from = fields.AwareDateTime(load_default=None, validate=date_in_range)
    purpose = Paragraph(load_default="", validate=validate.Length(max=1000))


class SharedViewSchema(Schema):
    patient_id = fields.Integer(strict=True, required=True)
    classes = fields.List(fields.String(), required=True)
    data = fields.Dict(required=True, metadata={"description": (
        "Per data class, what the consent allows. mood_summary: {trend, weeks: [{week_start, average}]}, whole "
        "weeks (Monday to Sunday in the patient's time zone) that are over and have at least 3 check-ins. "
        "goals_wins: {goals: [{id, title, why, next_step, status, created_at, asked, comments}], wins: [{text, "
        "created_at, goal}]}, goals set and wins noted inside the data period; `asked` says the patient asked for "
        "your thoughts on that goal, and `comments` holds yours only. "
        "measure_bands: {instruments: [{instrument, code, trend, scores: [{completed_at, severity, "
        "severity_label, total}]}]}, questionnaires completed inside the data period, oldest first: the band of "
        "each and the trend of the totals (lower, higher or same, latest against first), never an answer to a "
        "question; `total` is null in a PHQ-9 band that reaches past 24, where the number could tell how item 9 "
        "was answered. relapse_help is not in Momentum yet: it is {\"available\": false} (a patient may grant it "
        "ahead of time), and reading it is not a look in the access log.")})
