"""Forms for sharing with supporters."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, IntegerField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.supporters.labels import DATA_CLASS_LABELS


def _no_nul(form, field):
    if isinstance(field.data, str) and "\x00" in field.data:
        raise ValidationError(_l("This field contains a character that is not allowed."))


class DataClassesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConsentTermsForm(FlaskForm):
    data_classes = DataClassesField(
        _l("What they may see"), choices=[SelectChoice(k.value, v) for k, v in DATA_CLASS_LABELS.items()],
        validators=[DataRequired(message=_l("Choose at least one thing to share."))])
    days = IntegerField(_l("For how many days"), validators=[DataRequired(), NumberRange(min=1, max=365)], default=90,
                        description=_l("Sharing stops by itself after this; we will ask you before it ends."))
    data_from = DateField(_l("Share data from (optional)"), validators=[Optional()],
                          description=_l("Nothing from before this date is shown. Empty: from today."))
    purpose = TextAreaField(_l("Why you are sharing (optional)"), validators=[Optional(), Length(max=1000), _no_nul])


class InviteSupporterForm(ConsentTermsForm):
    email = EmailField(_l("Their email"), validators=[DataRequired(), Email(), Length(max=254), _no_nul])
    relationship = StringField(_l("Who they are to you"), validators=[DataRequired(), Length(max=60), _no_nul],
                               description=_l("For example: partner, parent, friend"))


class RenewForm(FlaskForm):
    days = IntegerField(_l("For how many more days"), validators=[DataRequired(), NumberRange(min=1, max=365)],
                        default=90)


class HoldForm(FlaskForm):
    reason = TextAreaField(_l("Reason (the patient sees it)"), validators=[DataRequired(), Length(max=1000), _no_nul])


class EncouragementForm(FlaskForm):
    body = TextAreaField(_l("A short note of encouragement"), validators=[DataRequired(), Length(max=500), _no_nul])
