"""Forms of the peers pages: a peer check-in, the rhythm, sharing a goal and a facilitator's proposal."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app.input_checks import MomentumForm
from app.peers.labels import WEEKDAYS
from app.peers.models import CHECKIN_FIELD_MAX


class PeerCheckInForm(MomentumForm):
    tried = StringField(_l("What I tried"), validators=[Optional(), Length(max=CHECKIN_FIELD_MAX)],
                        description=_l("However small: a walk to the corner counts."))
    how_it_went = StringField(_l("How it went"), validators=[Optional(), Length(max=CHECKIN_FIELD_MAX)])
    whats_next = StringField(_l("What is next"), validators=[Optional(), Length(max=CHECKIN_FIELD_MAX)])


def _weekday_choices():
    return [("", _l("No set day"))] + [(str(i), name) for i, name in enumerate(WEEKDAYS)]


class RhythmForm(MomentumForm):
    weekday = SelectField(_l("Day"), validators=[Optional()])
    time = StringField(_l("Time"), validators=[Optional(), Length(max=5)], description=_l("For example 18:30."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.weekday.choices = _weekday_choices()


class ShareGoalForm(MomentumForm):
    goal_id = SelectField(_l("One of your goals"), coerce=int, validate_choice=False,
                          validators=[DataRequired(_l("Choose a goal."))])


class ProposeForm(MomentumForm):
    # Whether two members may be paired is the suitability check's rule (services.propose_pair), with words that say
    # why: the choices on a page can be out of date.
    first_id = SelectField(_l("First member"), coerce=int, validate_choice=False,
                           validators=[DataRequired(_l("Choose a member."))])
    second_id = SelectField(_l("Second member"), coerce=int, validate_choice=False,
                            validators=[DataRequired(_l("Choose a member."))])
    weekday = SelectField(_l("Check-in day (optional)"), validators=[Optional()])
    time = StringField(_l("Check-in time (optional)"), validators=[Optional(), Length(max=5)],
                       description=_l("In your time zone; each member sees it in theirs."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.weekday.choices = _weekday_choices()
