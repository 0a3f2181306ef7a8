"""API schemas for groups, memberships, sessions, attendance and agendas."""

from marshmallow import fields, validate

from app.api_base import MAX_ID, Line, Paragraph, Schema, Text, date_in_range
from app.groups.models import (
    ACCOMMODATIONS,
    AttendanceStatus,
    Enrolment,
    GroupFormat,
    GroupStatus,
    MembershipStatus,
    OccurrenceStatus,
    SpeakingComfort,
)
from app.markdown_text import render_markdown
from app.recurrence import to_local


class GroupSchema(Schema):
    id = fields.Integer(strict=True, dump_only=True)
    name = Line(required=True, validate=validate.Length(min=1, max=120))
    description = Paragraph(load_default="", validate=validate.Length(max=4000))
    focus = Line(load_default="", validate=validate.Length(max=200))
    format = fields.Enum(GroupFormat, by_value=True, load_default=GroupFormat.ONLINE)
    location = Line(load_default="", validate=validate.Length(max=300))
    video_link = Line(load_default="", validate=validate.Length(max=500))
    capacity = fields.Integer(strict=True, load_default=10, validate=validate.Range(min=1, max=500))
    enrolment = fields.Enum(Enrolment, by_value=True, load_default=Enrolment.ROLLING)
    status = fields.Enum(GroupStatus, by_value=True, load_default=GroupStatus.FORMING)
    timezone = Text(load_default=None, validate=validate.Length(max=64))
    checkin_visibility = Text(load_default="all", validate=validate.OneOf(["all", "presence"]))
    distress_threshold = fields.Integer(strict=True, load_default=2, validate=validate.Range(min=0, max=10))
    lobby_minutes = fields.Integer(strict=True, load_default=15, validate=validate.Range(min=0, max=120))
    agreement = Paragraph(load_only=True, load_default="", validate=validate.Length(max=8000))
    agreement_version = fields.Integer(
        strict=True, dump_only=True, attribute="current_agreement.version", allow_none=True
    )
    agreement_text = fields.String(dump_only=True, attribute="current_agreement.text", allow_none=True)
    active_members = fields.Method("_active_members", dump_only=True)

    def _active_members(self, group) -> int:
        return group.active_count()


class GroupUpdateSchema(GroupSchema):
    class Meta:
        partial = True

    name = Line(validate=validate.Length(min=1, max=120))
    description = Paragraph(validate=validate.Length(max=4000))
    focus = Line(validate=validate.Length(max=200))
    format = fields.Enum(GroupFormat, by_value=True)
    location = Line(validate=validate.Length(max=300))
    video_link = Line(validate=validate.Length(max=500))
    capacity = fields.Integer(strict=True, validate=validate.Range(min=1, max=500))
    enrolment = fields.Enum(Enrolment, by_value=True)
    status = fields.Enum(GroupStatus, by_value=True)
    checkin_visibility = Text(validate=validate.OneOf(["all", "presence"]))
    distress_threshold = fields.Integer(strict=True, validate=validate.Range(min=0, max=10))
    lobby_minutes = fields.Integer(strict=True, validate=validate.Range(min=0, max=120))
    agreement = Paragraph(
        load_only=True,
        validate=validate.Length(min=1, max=8000),
        metadata={"description": "A new text for the group agreement: saved as its next version, which members are "
                  "asked to accept. The same text as now changes nothing."},
    )


class FacilitatorSchema(Schema):
    user_id = fields.Integer(strict=True, required=True)
    display_name = fields.String(attribute="user.display_name", required=True)
    lead = fields.Boolean(required=True, metadata={"description": "The facilitator who created the group."})


class CoFacilitatorsSchema(Schema):
    co_facilitators = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID)),
        required=True,
        validate=validate.Length(max=50),
        metadata={"description": "User ids of the co-facilitators; the lead stays whatever the list says."},
    )


class ScheduleSchema(Schema):
    dtstart_local = fields.NaiveDateTime(
        required=True,
        validate=date_in_range,
        metadata={
            "description": "Local wall-clock start of the first session in the group's time zone, without offset."
        },
    )
    rrule = Text(
        required=True,
        validate=validate.Length(min=1, max=300),
        metadata={
            "description": "RFC 5545 RRULE without DTSTART; it must end (COUNT or UNTIL). Example: FREQ=WEEKLY;COUNT=12"
        },
    )
    duration_minutes = fields.Integer(strict=True, load_default=90, validate=validate.Range(min=15, max=480))
    timezone = fields.String(dump_only=True)


class InvitationRequestSchema(Schema):
    email = fields.Email(load_default="", validate=validate.Length(max=254))


class InvitationSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    email = fields.String(required=True)
    state = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)


class NewInvitationSchema(InvitationSchema):
    code = fields.String(required=True, metadata={"description": "Single use; shown only once."})
    url = fields.String(required=True)


class AcceptInvitationSchema(Schema):
    """Only for someone without an account: the account to create. A signed-in caller sends an empty body."""

    email = fields.Email(validate=validate.Length(max=254))
    password = Text(load_only=True, validate=validate.Length(min=1, max=128))
    display_name = Line(validate=validate.Length(min=1, max=100))
    timezone = Text(load_default="UTC", validate=validate.Length(max=64))


class AcceptedSchema(Schema):
    user_id = fields.Integer(strict=True, metadata={"description": "The account that accepted (absent when "
                                                                   "`email_sent`)."})
    organisation_id = fields.Integer(strict=True, required=True)
    group_id = fields.Integer(strict=True, allow_none=True)
    token = fields.String(metadata={"description": "A bearer token, when the call created the account."})
    email_sent = fields.Boolean(metadata={"description": "A code sent to no one in particular, taken up without "
                                                         "signing in: the link to finish joining went to the email."})


class JoinSchema(Schema):
    agreement_version = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=1_000_000))
    preferred_name = Line(required=True, validate=validate.Length(min=1, max=100))
    hopes = Paragraph(load_default="", validate=validate.Length(max=2000))
    doable = Paragraph(load_default="", validate=validate.Length(max=2000))
    speaking_comfort = fields.Enum(SpeakingComfort, by_value=True, required=True)
    accommodations = fields.List(
        Text(validate=validate.OneOf(ACCOMMODATIONS)),
        load_default=list,
        validate=validate.Length(max=len(ACCOMMODATIONS)),
    )
    accommodations_note = Paragraph(load_default="", validate=validate.Length(max=2000))


class MembershipSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    group_id = fields.Integer(strict=True, required=True)
    user_id = fields.Integer(strict=True, required=True)
    preferred_name = fields.String(attribute="shown_name", required=True)
    status = fields.Enum(MembershipStatus, by_value=True, required=True)
    joined_at = fields.DateTime(allow_none=True)
    agreement_version = fields.Integer(strict=True, attribute="agreement.version", allow_none=True)
    agreement_accepted_at = fields.DateTime(allow_none=True)


class FacilitatorMembershipSchema(MembershipSchema):
    """What the group's facilitators see: the intake and the private status reason too."""

    status_reason = fields.String()
    intake_hopes = fields.String()
    intake_doable = fields.String()
    speaking_comfort = fields.Enum(SpeakingComfort, by_value=True, allow_none=True)
    accommodations = fields.List(fields.String())
    accommodations_note = fields.String()


class MembershipUpdateSchema(Schema):
    status = fields.Enum(MembershipStatus, by_value=True, required=True)
    reason = Paragraph(load_default="", validate=validate.Length(max=1000))


class SessionQuerySchema(Schema):
    start = fields.AwareDateTime(load_default=None, validate=date_in_range,
                                 metadata={"description": "From (inclusive), with offset."})
    end = fields.AwareDateTime(load_default=None, validate=date_in_range,
                               metadata={"description": "Until (exclusive), with offset."})


class SessionSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    group_id = fields.Integer(strict=True, required=True)
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    local_start = fields.Method("_local_start", metadata={"description": "Start in the group's time zone."})
    timezone = fields.String(attribute="group.timezone")
    duration_minutes = fields.Integer(strict=True, required=True)
    status = fields.Enum(OccurrenceStatus, by_value=True, required=True)
    cancel_reason = fields.String()
    video_link = fields.String(attribute="effective_video_link")
    location = fields.String(attribute="effective_location")
    is_exception = fields.Boolean()
    is_extra = fields.Boolean()

    def _local_start(self, occurrence) -> str:
        return to_local(occurrence.starts_at, occurrence.group.timezone).isoformat()


class ExtraSessionSchema(Schema):
    start_local = fields.NaiveDateTime(required=True, validate=date_in_range)
    duration_minutes = fields.Integer(strict=True, load_default=90, validate=validate.Range(min=15, max=480))
    video_link = Line(load_default="", validate=validate.Length(max=500))
    location = Line(load_default="", validate=validate.Length(max=300))


class SessionUpdateSchema(Schema):
    start_local = fields.NaiveDateTime(validate=date_in_range)
    duration_minutes = fields.Integer(strict=True, validate=validate.Range(min=15, max=480))
    video_link = Line(validate=validate.Length(max=500))
    location = Line(validate=validate.Length(max=300))
    status = fields.Enum(OccurrenceStatus, by_value=True)
    cancel_reason = Paragraph(validate=validate.Length(max=1000))


class AttendanceRecordSchema(Schema):
    user_id = fields.Integer(strict=True, required=True)
    preferred_name = fields.String()
    status = fields.Enum(AttendanceStatus, by_value=True, allow_none=True)
    comment = fields.String()


class AttendanceEntrySchema(Schema):
    user_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=MAX_ID))
    status = fields.Enum(AttendanceStatus, by_value=True, allow_none=True, required=True)
    comment = Line(load_default="", validate=validate.Length(max=500))
    previous_status = fields.Enum(
        AttendanceStatus,
        by_value=True,
        allow_none=True,
        load_default=None,
        metadata={
            "description": "What the client showed before the change; rows changed meanwhile by someone else are kept "
            "and reported as conflicts."
        },
    )
    previous_comment = Line(load_default="", validate=validate.Length(max=500))


class AttendanceUpdateSchema(Schema):
    entries = fields.List(fields.Nested(AttendanceEntrySchema), required=True, validate=validate.Length(max=500))


class AttendanceSheetSchema(Schema):
    session_id = fields.Integer(strict=True, required=True)
    records = fields.List(fields.Nested(AttendanceRecordSchema), required=True)
    conflicts = fields.List(
        fields.Integer(strict=True),
        required=True,
        metadata={"description": "Rows someone else changed meanwhile: their entries are kept."},
    )
    skipped = fields.List(
        fields.Integer(strict=True),
        required=True,
        metadata={"description": "Rows of people who are not active members: nothing was saved for them."},
    )


class AgendaItemSchema(Schema):
    id = fields.Integer(strict=True, dump_only=True)
    position = fields.Integer(strict=True, dump_only=True)
    title = Line(required=True, validate=validate.Length(min=1, max=200))
    body = Paragraph(load_default="", validate=validate.Length(max=8000), metadata={"description": "Markdown"})
    body_html = fields.Method("_body_html", dump_only=True)
    rationale = Paragraph(load_default="", validate=validate.Length(max=2000))

    def _body_html(self, item) -> str:
        return str(render_markdown(item.body))


class AgendaItemUpdateSchema(Schema):
    title = Line(validate=validate.Length(min=1, max=200))
    body = Paragraph(validate=validate.Length(max=8000), metadata={"description": "Markdown"})
    rationale = Paragraph(validate=validate.Length(max=2000))
