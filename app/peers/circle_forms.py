"""The form a facilitator schedules a check-in circle with: a day, a start time in the group's zone and a length."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, IntegerField, TimeField
from wtforms.validators import DataRequired, InputRequired, NumberRange

from app.input_checks import MomentumForm
from app.peers.circles import LONGEST, SHORTEST


class CircleForm(MomentumForm):
    date = DateField(_l("Date"), validators=[DataRequired()])
    time = TimeField(_l("Start time"), validators=[DataRequired()])
    duration_minutes = IntegerField(_l("Length in minutes"),
                                    validators=[InputRequired(), NumberRange(min=SHORTEST, max=LONGEST)], default=20,
                                    description=_l("Between 10 and 60 minutes."))


class MembersStartForm(MomentumForm):
    allowed = BooleanField(_l("Members may start a check-in circle themselves, at any time"))
