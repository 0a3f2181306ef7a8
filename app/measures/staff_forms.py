"""The facilitator's form for a group's questionnaire schedule: which one, for whom, how often, from when (a date and a
time in the facilitator's own zone, kept in UTC)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, ValidationError

from app import recurrence
from app.groups.schedules import schedule_error_message
from app.input_checks import MomentumForm
from app.measures.instruments import Instrument, definition
from app.measures.labels import FREQUENCY_LABELS
from app.measures.models import Frequency

#: How far ahead a schedule may start: a year is as far as a group plans.
LATEST_START = timedelta(days=366)
#: The patient_id choice that means every active member of the group.
WHOLE_GROUP = 0


class _MemberField(SelectField):
    """A member's id, or WHOLE_GROUP; what is not a number gets the field's own words, not WTForms' "could not
    coerce"."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_l("Choose the whole group or one member.")) from None


class ScheduleMeasureForm(MomentumForm):
    instrument = SelectField(
        _l("Questionnaire"),
        validate_choice=False,
        validators=[
            InputRequired(_l("Choose a questionnaire.")),
            AnyOf([i.value for i in Instrument], message=_l("Choose the PHQ-9 or the GAD-7.")),
        ],
    )
    # Whether the member chosen may be asked is the service's rule (an active member of this group), with words that
    # say why: the choices on a page can be out of date.
    patient_id = _MemberField(
        _l("For"),
        coerce=int,
        validate_choice=False,
        validators=[InputRequired(_l("Choose the whole group or one member."))],
    )
    frequency = SelectField(
        _l("How often"),
        validate_choice=False,
        description=_l(
            "Each questionnaire stays open for a week; before each group session, from 48 hours before it "
            "until it starts."
        ),
        validators=[
            InputRequired(_l("Choose how often.")),
            AnyOf([f.value for f in Frequency], message=_l("Choose how often from the list.")),
        ],
    )
    start_date = DateField(_l("Starting on"), validators=[InputRequired(_l("Choose the day it starts."))])
    start_time = TimeField(_l("At"), validators=[InputRequired(_l("Choose the time it starts."))])

    def __init__(self, *args, members=(), zone: str = "UTC", today: date | None = None, **kwargs):
        """`members`: the group's active memberships; `zone`: the facilitator's, in which the date and time are read;
        `today`: the facilitator's today (a start may not be on an earlier day)."""
        super().__init__(*args, **kwargs)
        self.zone, self.today = zone, today
        #: The start in UTC, once the form is valid.
        self.starts_at: datetime | None = None
        self.instrument.choices = [SelectChoice(i.value, definition(i).title) for i in Instrument]
        self.frequency.choices = [SelectChoice(f.value, label) for f, label in FREQUENCY_LABELS.items()]
        self.patient_id.choices = [SelectChoice(WHOLE_GROUP, _l("The whole group (every active member)"))] + [
            SelectChoice(m.user_id, m.shown_name) for m in members
        ]

    def validate_start_date(self, field) -> None:
        if self.today is not None and field.data is not None:
            if field.data < self.today:
                raise ValidationError(_l("Choose today or a later day."))
            if field.data > self.today + LATEST_START:
                raise ValidationError(_l("Choose a day within the next year."))

    def validate_start_time(self, field) -> None:
        if self.start_date.data is None or field.data is None or self.start_date.errors:
            return
        try:
            self.starts_at = recurrence.to_utc_strict(datetime.combine(self.start_date.data, field.data), self.zone)
        except recurrence.ScheduleError as error:
            raise ValidationError(schedule_error_message(error)) from None
