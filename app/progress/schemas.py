"""API schemas for goals and small wins."""

from marshmallow import fields, validate

from app.api_base import MAX_ID, Line, Paragraph, Schema
from app.progress.models import STEP_MAX, TITLE_MAX, WHY_MAX, WIN_MAX, GoalStatus


class WinSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    text = fields.String(required=True)
    goal_id = fields.Integer(strict=True, allow_none=True)
    created_at = fields.DateTime(required=True)


class GoalCommentSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    author_id = fields.Integer(strict=True, required=True)
    author_name = fields.String(required=True)
    body = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class GoalSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    title = fields.String(required=True)
    why = fields.String(required=True)
    next_step = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "active, done or set_aside"})
    created_at = fields.DateTime(required=True)
    done_at = fields.DateTime(allow_none=True)
    wins = fields.List(fields.Nested(WinSchema), required=True)
    comments = fields.List(fields.Nested(GoalCommentSchema), required=True)
    asked_supporter_ids = fields.List(fields.Integer(), required=True, metadata={
        "description": "Supporters asked for their thoughts on this goal (and not stopped)"})


class GoalCreateSchema(Schema):
    title = Line(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    why = Paragraph(load_default="", validate=validate.Length(max=WHY_MAX))
    next_step = Line(load_default="", validate=validate.Length(max=STEP_MAX))


class GoalUpdateSchema(Schema):
    title = Line(validate=validate.Length(min=1, max=TITLE_MAX))
    why = Paragraph(validate=validate.Length(max=WHY_MAX))
    next_step = Line(validate=validate.Length(max=STEP_MAX))
    status = fields.Enum(GoalStatus, by_value=True)


class WinCreateSchema(Schema):
    text = Line(required=True, validate=validate.Length(min=1, max=WIN_MAX))
    goal_id = fields.Integer(strict=True, load_default=None, allow_none=True,
                             validate=validate.Range(min=1, max=MAX_ID))
