"""The check-in form of the home page (between sessions), and the note on a safety alert."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, IntegerField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.input_checks import MomentumForm
from app.rooms.models import ALERT_NOTE_MAX


class CheckInForm(MomentumForm):
    """A check-in between sessions; the client id makes a double submit count once."""

    client_id = HiddenField(validators=[DataRequired(), Length(min=8, max=64)])
    mood = IntegerField(
        _l("Mood today, from 0 (very low) to 10 (very good)"), validators=[Optional(), NumberRange(min=0, max=10)]
    )
    energy = RadioField(
        _l("Energy"),
        choices=[
            SelectChoice("low", _l("Low")),
            SelectChoice("medium", _l("Medium")),
            SelectChoice("high", _l("High")),
        ],
        validators=[Optional()],
    )
    note = StringField(_l("A line about today (optional)"), validators=[Optional(), Length(max=280)])
    passed = HiddenField(default="0")

    def validate_mood(self, field):
        if self.passed.data != "1" and field.data is None:
            raise ValidationError(_l("Choose a mood from 0 to 10, or pass."))


class AlertNoteForm(MomentumForm):
    """Acknowledging a safety alert, or noting afterwards what was done: a few words for the group's facilitators."""

    note = StringField(_l("What was done (optional, only facilitators of the group see it)"),
                       validators=[Optional(), Length(max=ALERT_NOTE_MAX)])
