"""API schemas for measures: a member's due questionnaires, one questionnaire with its items and saved answers, the
answers sent, scores and change per instrument, a facilitator's schedules, a group's due, done and missed, and group
outcomes."""

from marshmallow import fields, validate

from app.api_base import MAX_ID, Schema, date_in_range
from app.measures.instruments import Instrument
from app.measures.models import Frequency

_ANSWER = validate.Range(min=0, max=3)


class MeasureSummarySchema(Schema):
    id = fields.Integer(strict=True, required=True)
    group_id = fields.Integer(strict=True, required=True)
    instrument = fields.String(required=True, metadata={"description": "phq9 or gad7"})
    code = fields.String(required=True, metadata={"description": "The name people know it by: PHQ-9, GAD-7"})
    status = fields.String(required=True, metadata={"description": "due, done, missed or withdrawn"})
    opens_at = fields.DateTime(required=True)
    closes_at = fields.DateTime(required=True)
    answered = fields.Integer(required=True, metadata={"description": "How many questions are answered so far"})
    item_count = fields.Integer(required=True)


class MeasureChoiceSchema(Schema):
    value = fields.Integer(required=True)
    text = fields.String(required=True)


class MeasureItemSchema(Schema):
    number = fields.Integer(required=True, metadata={"description": "1-based, as on the form"})
    text = fields.String(required=True)
    choices = fields.List(fields.Nested(MeasureChoiceSchema), required=True)
    answer = fields.Integer(allow_none=True, required=True, metadata={"description": "The saved answer, if any"})


class MeasureDifficultySchema(Schema):
    text = fields.String(required=True)
    choices = fields.List(fields.Nested(MeasureChoiceSchema), required=True)
    answer = fields.Integer(allow_none=True, required=True)


class MeasureSchema(MeasureSummarySchema):
    title = fields.String(required=True)
    stem = fields.String(required=True)
    notice = fields.String(required=True)
    items = fields.List(fields.Nested(MeasureItemSchema), required=True)
    difficulty = fields.Nested(
        MeasureDifficultySchema, required=True, metadata={"description": "The unscored last question"}
    )
    total = fields.Integer(allow_none=True, required=True)
    severity = fields.String(allow_none=True, required=True)
    severity_label = fields.String(allow_none=True, required=True)
    completed_at = fields.DateTime(allow_none=True, required=True)
    safety_resources = fields.Boolean(
        required=True,
        metadata={
            "description": "PHQ-9 item 9 is answered with anything but 'Not at all': show the crisis resources now"
        },
    )
    crisis_resources = fields.Dict(
        metadata={"description": "The organisation's crisis resources, when safety_resources is true"}
    )


class MeasureAnswersSchema(Schema):
    answers = fields.List(
        fields.Integer(strict=True, allow_none=True, validate=_ANSWER),
        required=True,
        validate=validate.Length(max=9),
        metadata={
            "description": "In item order, 0 to 3, null for a question not answered yet; a null "
            "or a missing answer keeps the one saved before"
        },
    )
    difficulty = fields.Integer(strict=True, allow_none=True, load_default=None, validate=_ANSWER)
    complete = fields.Boolean(
        load_default=False,
        metadata={"description": "Every question must then be answered: the questionnaire is scored and done"},
    )


class MeasureScoreSchema(Schema):
    measure_id = fields.Integer(required=True)
    completed_at = fields.DateTime(required=True)
    total = fields.Integer(required=True)
    severity = fields.String(required=True)
    severity_label = fields.String(required=True)


class MeasureChangeSchema(Schema):
    count = fields.Integer(required=True)
    baseline = fields.Integer(allow_none=True, required=True)
    baseline_at = fields.DateTime(allow_none=True, required=True)
    latest = fields.Integer(allow_none=True, required=True)
    latest_at = fields.DateTime(allow_none=True, required=True)
    change = fields.Integer(allow_none=True, required=True, metadata={"description": "latest - baseline"})
    rci = fields.Float(allow_none=True, required=True, metadata={"description": "Reliable Change Index"})
    reliable_change = fields.Boolean(required=True)
    reliable_improvement = fields.Boolean(required=True)
    reliable_deterioration = fields.Boolean(required=True)
    baseline_caseness = fields.Boolean(allow_none=True, required=True)
    latest_caseness = fields.Boolean(allow_none=True, required=True)
    recovery = fields.Boolean(required=True)
    reliable_recovery = fields.Boolean(required=True)
    response = fields.Boolean(required=True)
    remission = fields.Boolean(allow_none=True, required=True, metadata={"description": "null for the GAD-7"})
    reliability = fields.Float(required=True, metadata={"description": "The test-retest r the RCI uses"})
    standard_deviation = fields.Float(required=True, metadata={"description": "The SD the RCI uses"})
    how_measured = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class MeasureInstrumentScoresSchema(Schema):
    instrument = fields.String(required=True)
    code = fields.String(required=True)
    scores = fields.List(fields.Nested(MeasureScoreSchema), required=True, metadata={"description": "Oldest first"})
    change = fields.Nested(MeasureChangeSchema, required=True)


class MeasurePauseSchema(Schema):
    paused = fields.Boolean(required=True)
    since = fields.DateTime(allow_none=True, required=True)


class MeasureScheduleSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    group_id = fields.Integer(strict=True, required=True)
    patient_id = fields.Integer(
        allow_none=True, required=True, metadata={"description": "null: every active member of the group"}
    )
    instrument = fields.String(required=True)
    frequency = fields.String(required=True)
    starts_at = fields.DateTime(required=True)
    created_at = fields.DateTime(required=True)
    stopped_at = fields.DateTime(allow_none=True, required=True)


class MeasureScheduleCreateSchema(Schema):
    instrument = fields.Enum(Instrument, by_value=True, required=True)
    frequency = fields.Enum(
        Frequency,
        by_value=True,
        required=True,
        metadata={
            "description": "once, weekly, fortnightly, monthly or before_session (due from 48 hours before each of the "
            "group's sessions)"
        },
    )
    starts_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        validate=date_in_range,
        metadata={"description": "When the first window opens, with offset (now if left out)"},
    )
    patient_id = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "One active member; left out, every active member"},
    )


class GroupMeasureSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    patient_id = fields.Integer(strict=True, required=True)
    name = fields.String(required=True)
    instrument = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "due, done or missed"})
    opens_at = fields.DateTime(required=True)
    closes_at = fields.DateTime(required=True)
    completed_at = fields.DateTime(allow_none=True, required=True)
    total = fields.Integer(allow_none=True, required=True)
    severity = fields.String(allow_none=True, required=True)


class GroupMeasuresSchema(Schema):
    measures = fields.List(
        fields.Nested(GroupMeasureSchema),
        required=True,
        metadata={"description": "The latest windows first (at most 200)"},
    )
    missed_twice_in_a_row = fields.List(
        fields.Integer(),
        required=True,
        metadata={"description": "Members whose last two ended measures on one instrument were both missed"},
    )
    paused = fields.List(
        fields.Integer(), required=True, metadata={"description": "Members who paused their own questionnaires"}
    )


class GroupOutcomeSchema(Schema):
    instrument = fields.String(required=True)
    measured = fields.Integer(required=True, metadata={"description": "Members with two scores or more"})
    shown = fields.Boolean(
        required=True,
        metadata={"description": "false under the minimum: no figure is given, so that no one is singled out"},
    )
    minimum = fields.Integer(required=True)
    mean_change = fields.Float(allow_none=True, required=True)
    reliably_improved = fields.Float(allow_none=True, required=True, metadata={"description": "Percent"})
    recovered = fields.Float(
        allow_none=True,
        required=True,
        metadata={"description": "Percent of the members at caseness at their first score"},
    )
    reliably_deteriorated = fields.Float(allow_none=True, required=True, metadata={"description": "Percent"})
    at_caseness = fields.Integer(allow_none=True, required=True)
