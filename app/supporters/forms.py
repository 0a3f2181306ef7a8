"""Forms for sharing with supporters."""

from flask_babel import lazy_gettext as _l
from wtforms import DateField, EmailField, IntegerField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.input_checks import MomentumForm
from app.supporters.labels import DATA_CLASS_LABELS


class DataClassesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConsentTermsForm(MomentumForm):
    data_classes = DataClassesField(
        _l("What they may see"), choices=[SelectChoice(k.value, v) for k, v in DATA_CLASS_LABELS.items()],
        validators=[DataRequired(message=_l("Choose at least one thing to share."))])
    days = IntegerField(_l("For how many days"), validators=[DataRequired(), NumberRange(min=1, max=365)], default=90,
                        description=_l("Sharing stops by itself after this; we will ask you before it ends."))
    data_from = DateField(_l("Share data from (optional)"), validators=[Optional()],
                          description=_l("Nothing from before this date is shown. Empty: from today."))
    purpose = TextAreaField(_l("Why you are sharing (optional)"), validators=[Optional(), Length(max=1000)])


class SharePreviewForm(ConsentTermsForm):
    """The terms on their way to a grant: shown as the supporter would see them, or (change) back in the form."""

    change = SubmitField(_l("Change"))


class InviteSupporterForm(ConsentTermsForm):
    email = EmailField(_l("Their email"), validators=[DataRequired(), Email(), Length(max=254)])
    relationship = StringField(_l("Who they are to you"), validators=[DataRequired(), Length(max=60)],
                               description=_l("For example: partner, parent, friend"))


class RenewForm(MomentumForm):
    days = IntegerField(_l("For how many more days"), validators=[DataRequired(), NumberRange(min=1, max=365)],
                        default=90)


class HoldForm(MomentumForm):
    reason = TextAreaField(_l("Reason (the patient sees it)"), validators=[DataRequired(), Length(max=1000)])


class EncouragementForm(MomentumForm):
    body = TextAreaField(_l("A short note of encouragement"), validators=[DataRequired(), Length(max=500)])
