"""Forms for groups, schedules, sessions, enrolment, attendance, agendas and notes."""

from __future__ import annotations

from babel.dates import get_day_names
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FieldList,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
)
from wtforms.widgets import CheckboxInput, ListWidget

from app.accounts.forms import ZoneField
from app.groups.models import AttendanceStatus
from app.input_checks import MomentumForm, MomentumSubForm


def format_choices():
    return [
        SelectChoice("online", _l("Online")),
        SelectChoice("in_person", _l("In person")),
        SelectChoice("hybrid", _l("Hybrid")),
    ]


def status_choices():
    return [
        SelectChoice("forming", _l("Forming")),
        SelectChoice("active", _l("Active")),
        SelectChoice("finished", _l("Finished")),
        SelectChoice("cancelled", _l("Cancelled")),
    ]


ATTENDANCE_LABELS = {
    AttendanceStatus.PRESENT_IN_PERSON: _l("Present in person"),
    AttendanceStatus.PRESENT_ONLINE: _l("Present online"),
    AttendanceStatus.BRIEF_CHECKIN: _l("Brief check-in only"),
    AttendanceStatus.LEFT_EARLY: _l("Left early"),
    AttendanceStatus.EXCUSED: _l("Excused"),
    AttendanceStatus.ABSENT: _l("Absent"),
}

ACCOMMODATION_LABELS = {
    "camera_off": _l("I may keep my camera off"),
    "brief_checkin": _l("I may only do a brief check-in"),
    "reminders": _l("I would like reminders before sessions"),
}

SPEAKING_LABELS = [
    SelectChoice("comfortable", _l("I am comfortable speaking in a group")),
    SelectChoice("some_nerves", _l("I feel a little nervous about it")),
    SelectChoice("very_uneasy", _l("Speaking in a group feels very hard right now")),
]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class GroupForm(MomentumForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=4000)])
    focus = StringField(
        _l("Focus"),
        validators=[Optional(), Length(max=200)],
        description=_l("For example: behavioural activation, coping with low mood"),
    )
    format = SelectField(_l("Format"), choices=format_choices, validators=[DataRequired()])
    location = StringField(
        _l("Place"),
        validators=[Optional(), Length(max=300)],
        description=_l("Needed for in-person and hybrid groups"),
    )
    video_link = StringField(
        _l("Video link"),
        validators=[Optional(), Length(max=500)],
        description=_l("Needed for online and hybrid groups; starts with https://"),
    )
    capacity = IntegerField(_l("Places"), validators=[InputRequired(), NumberRange(min=1, max=500)], default=10)
    enrolment = SelectField(
        _l("Enrolment"),
        choices=[
            SelectChoice("rolling", _l("Rolling: people join as places free up")),
            SelectChoice("closed", _l("Closed cohort: everyone starts together")),
        ],
    )
    status = SelectField(_l("Status"), choices=status_choices, default="forming")
    timezone = ZoneField(_l("Time zone of the sessions"))
    checkin_visibility = SelectField(
        _l("In the live room, members see"),
        choices=[
            SelectChoice("all", _l("each other's check-ins")),
            SelectChoice("presence", _l("only that someone checked in")),
        ],
    )
    distress_threshold = IntegerField(
        _l("Alert me when a live check-in mood is at or below"),
        validators=[InputRequired(), NumberRange(min=0, max=10)],
        default=2,
    )
    lobby_minutes = IntegerField(
        _l("Members may enter the live room this many minutes before the start"),
        validators=[InputRequired(), NumberRange(min=0, max=120)],
        default=15,
    )
    co_facilitators = MultiCheckboxField(_l("Co-facilitators"), coerce=int, validators=[Optional()])

    def __init__(self, *args, facilitators=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.co_facilitators.choices = [SelectChoice(u.id, u.display_name) for u in facilitators]


class NewGroupForm(GroupForm):
    agreement = TextAreaField(
        _l("Group agreement"),
        validators=[Optional(), Length(max=8000)],
        description=_l("Confidentiality and ground rules; leave empty to start from ours."),
    )


class AgreementForm(MomentumForm):
    text = TextAreaField(
        _l("Group agreement"),
        validators=[DataRequired(), Length(max=8000)],
        description=_l("Saving a change creates a new version; members are asked to accept it."),
    )


class _NeededWhenEnding:
    """Required when the series ends this way (the form's `end_mode`), optional otherwise.

    Not Optional() plus a validate_<field> method: an empty field stops at Optional() and the method never runs.
    """

    field_flags = {"optional": True}

    def __init__(self, end_mode: str, message):
        self.end_mode, self.message = end_mode, message

    def __call__(self, form, field):
        if field.raw_data and str(field.raw_data[0]).strip():
            return
        field.errors[:] = []  # "Not a valid integer value" for an empty box is noise
        if form.end_mode.data == self.end_mode:
            raise StopValidation(self.message)
        raise StopValidation()


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class ScheduleForm(MomentumForm):
    start_date = DateField(_l("First session"), validators=[DataRequired()])
    start_time = TimeField(_l("Start time"), validators=[DataRequired()])
    interval_weeks = SelectField(_l("Repeats"), default="1")
    weekdays = MultiCheckboxField(
        _l("On these days"),
        validators=[Optional()],
        description=_l("Leave all unticked for the weekday of the first session."),
    )
    end_mode = RadioField(
        _l("Ends"),
        choices=[SelectChoice("count", _l("After a number of sessions")), SelectChoice("until", _l("On a date"))],
        default="count",
    )
    count = IntegerField(
        _l("Number of sessions"),
        validators=[_NeededWhenEnding("count", _l("How many sessions?")), NumberRange(min=1, max=260)],
        default=12,
    )
    until = DateField(_l("Last date"), validators=[_NeededWhenEnding("until", _l("Choose the last date."))])
    #: Its own id: the schedule page holds the extra session's form too, which has a length of its own.
    duration_minutes = IntegerField(
        _l("Length in minutes"), validators=[InputRequired(), NumberRange(min=15, max=480)], default=90,
        id="series_duration_minutes",
    )

    def __init__(self, *args, interval: str = "1", **kwargs):
        """`interval`: the saved rule's, offered even when it is not one of the usual choices (set through the API)."""
        super().__init__(*args, **kwargs)
        choices = [SelectChoice("1", _l("Every week")), SelectChoice("2", _l("Every other week"))]
        for n in sorted({3, 4, int(interval) if interval.isdigit() and 3 <= int(interval) <= 52 else 3}):
            choices.append(SelectChoice(str(n), _l("Every %(n)d weeks", n=n)))
        self.interval_weeks.choices = choices
        names = get_day_names("wide", locale=get_locale())
        self.weekdays.choices = [SelectChoice(code, names[index].capitalize()) for index, code in enumerate(WEEKDAYS)]


class SessionTimeForm(MomentumForm):
    date = DateField(_l("Date"), validators=[DataRequired()])
    time = TimeField(_l("Start time"), validators=[DataRequired()])
    duration_minutes = IntegerField(
        _l("Length in minutes"), validators=[InputRequired(), NumberRange(min=15, max=480)], default=90
    )
    video_link = StringField(_l("Video link for this session only"), validators=[Optional(), Length(max=500)])
    location = StringField(_l("Place for this session only"), validators=[Optional(), Length(max=300)])


class CancelSessionForm(MomentumForm):
    reason = TextAreaField(_l("Reason members will see"), validators=[DataRequired(), Length(max=1000)])


class InviteMemberForm(MomentumForm):
    email = EmailField(
        _l("Email (leave empty for a link to share)"), validators=[Optional(), Email(), Length(max=254)]
    )


class JoinForm(MomentumForm):
    agreement_id = HiddenField(validators=[DataRequired()])
    accept = BooleanField(_l("I have read the group agreement and accept it"), validators=[DataRequired()])
    preferred_name = StringField(
        _l("Name shown to the group"),
        validators=[DataRequired(), Length(max=100)],
        description=_l("A first name, a nickname or a pseudonym."),
    )
    hopes = TextAreaField(
        _l("What do you hope to get from the group?"), validators=[Optional(), Length(max=2000)]
    )
    doable = TextAreaField(
        _l("What feels doable for you right now?"), validators=[Optional(), Length(max=2000)]
    )
    speaking_comfort = RadioField(
        _l("Speaking in a group"),
        choices=SPEAKING_LABELS,
        validators=[DataRequired(message=_l("Choose the answer closest to how you feel."))],
    )
    accommodations = MultiCheckboxField(
        _l("What would help (optional)"),
        choices=[SelectChoice(k, v) for k, v in ACCOMMODATION_LABELS.items()],
        validators=[Optional()],
    )
    accommodations_note = TextAreaField(
        _l("Anything else the facilitator should know (optional)"), validators=[Optional(), Length(max=2000)]
    )


class AcceptAgreementForm(MomentumForm):
    agreement_id = HiddenField(validators=[DataRequired()])
    accept = BooleanField(_l("I have read the new version and accept it"), validators=[DataRequired()])


class MembershipStatusForm(MomentumForm):
    status = SelectField(
        _l("New status"),
        choices=[
            SelectChoice("active", _l("Active")),
            SelectChoice("paused", _l("Paused")),
            SelectChoice("left", _l("Left")),
            SelectChoice("completed", _l("Completed")),
        ],
    )
    reason = TextAreaField(_l("Reason (seen only by facilitators)"), validators=[Optional(), Length(max=1000)])


class LeaveGroupForm(MomentumForm):
    reason = TextAreaField(
        _l("Would you like to tell your facilitator why? (optional)"),
        validators=[Optional(), Length(max=1000)],
    )


class AttendanceRowForm(MomentumSubForm):
    user_id = HiddenField()
    status = SelectField(
        _l("Attendance"),
        choices=[SelectChoice("", _l("Not recorded"))]
        + [SelectChoice(status.value, label) for status, label in ATTENDANCE_LABELS.items()],
        validators=[Optional()],
    )
    comment = StringField(_l("Comment"), validators=[Optional(), Length(max=500)])
    previous_status = HiddenField()
    previous_comment = HiddenField()


class AttendanceForm(MomentumForm):
    rows = FieldList(FormField(AttendanceRowForm), max_entries=500)


class AgendaItemForm(MomentumForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Content (Markdown)"), validators=[Optional(), Length(max=8000)])
    rationale = TextAreaField(
        _l("Why we do this"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Members see this before the session."),
    )


class NoteForm(MomentumForm):
    member_id = SelectField(_l("About"), coerce=int, validators=[Optional()])
    body = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=8000)])

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.member_id.choices = [SelectChoice(0, _l("The session as a whole"))] + [
            SelectChoice(m.user_id, m.shown_name) for m in members
        ]
