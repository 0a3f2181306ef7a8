"""Forms for goals, small wins and asking a supporter for their thoughts."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.input_checks import MomentumForm
from app.progress.models import COMMENT_MAX, STEP_MAX, TITLE_MAX, WHY_MAX, WIN_MAX


class GoalForm(MomentumForm):
    title = StringField(_l("What would you like to work towards?"),
                        validators=[DataRequired(_l("Write a few words.")), Length(max=TITLE_MAX)],
                        description=_l("For example: get outside most days."))
    why = TextAreaField(_l("Why it matters to you (optional)"), validators=[Optional(), Length(max=WHY_MAX)])
    next_step = StringField(_l("A next small step (optional)"), validators=[Optional(), Length(max=STEP_MAX)],
                            description=_l("Small enough for a low-energy day: a walk to the corner counts."))


class WinForm(MomentumForm):
    text = StringField(_l("A small win"), validators=[DataRequired(_l("Write a few words.")), Length(max=WIN_MAX)],
                       description=_l("Anything that got done, however small."))
    goal_id = SelectField(_l("For a goal (optional)"), coerce=int, validators=[Optional()])


class AskForm(MomentumForm):
    # Whether the person chosen may be asked is the service's rule (services.ask_for_thoughts), with words that say
    # why: WTForms' own "Not a valid choice." would say nothing, and the choices on a page can be out of date.
    supporter_id = SelectField(_l("Ask"), coerce=int, validate_choice=False,
                               validators=[DataRequired(_l("Choose someone to ask."))])


class CommentForm(MomentumForm):
    body = TextAreaField(_l("Your thoughts"), validators=[DataRequired(_l("Write a few words.")),
                                                          Length(max=COMMENT_MAX)])
