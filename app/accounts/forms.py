"""Forms for signing in, passwords, the profile, invitations and organisation settings."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import URL, DataRequired, Email, EqualTo, Length, Optional, Regexp, ValidationError

from app.accounts.services import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, TIMEZONES

LANGUAGE_CHOICES = [SelectChoice("en", "English"), SelectChoice("es", "Español")]


def _no_nul(form, field):
    if field.data and "\x00" in field.data:
        raise ValidationError(_l("This field contains a character that is not allowed."))


def _web_address(form, field):
    if field.data and not field.data.lower().startswith(("https://", "http://")):
        raise ValidationError(_l("Start the address with https://"))


def new_password_field(label):
    return PasswordField(
        label,
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
        description=_l("At least %(n)d characters. A few unrelated words are easy to remember.", n=MIN_PASSWORD_LENGTH),
        render_kw={"autocomplete": "new-password"},
    )


class LoginForm(FlaskForm):
    email = EmailField(
        _l("Email"), validators=[DataRequired(), Length(max=254), _no_nul], render_kw={"autocomplete": "username"}
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class EmptyForm(FlaskForm):
    """A POST-only button: it carries nothing but the CSRF token."""


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        _l("Email"), validators=[DataRequired(), Email(), Length(max=254), _no_nul], render_kw={"autocomplete": "email"}
    )


class ResetPasswordForm(FlaskForm):
    password = new_password_field(_l("New password"))
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )


class ChangePasswordForm(ResetPasswordForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


def timezone_choices():
    return [SelectChoice(name) for name in sorted(TIMEZONES)]


class ProfileForm(FlaskForm):
    display_name = StringField(_l("Name shown to others"), validators=[DataRequired(), Length(max=100), _no_nul])
    pronouns = StringField(_l("Pronouns (optional)"), validators=[Optional(), Length(max=40), _no_nul])
    timezone = SelectField(_l("Time zone"), validators=[DataRequired()])
    locale = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, validators=[DataRequired()])
    low_energy = BooleanField(_l("Low-energy mode: fewer things on each page, larger buttons"))
    email_reminders = BooleanField(_l("Email me reminders of sessions and check-ins"))
    email_messages = BooleanField(_l("Email me when someone sends me a message"))
    in_app = BooleanField(_l("Show notifications inside Momentum"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, validators=[DataRequired()])
    next = HiddenField()


class ApiTokenForm(FlaskForm):
    name = StringField(
        _l("Token name"), validators=[DataRequired(), Length(max=100), _no_nul], description=_l("For example: my phone")
    )


class FinishJoiningForm(FlaskForm):
    """Creates the account that accepts an invitation, for an address the link already gives."""

    display_name = StringField(
        _l("Your name, as others will see it"),
        validators=[DataRequired(), Length(max=100), _no_nul],
        description=_l("A first name or a nickname is enough."),
    )
    password = new_password_field(_l("Choose a password"))
    timezone = SelectField(_l("Time zone"), validators=[DataRequired()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()


class AcceptInvitationForm(FinishJoiningForm):
    """Creates the account that accepts an invitation sent to an address."""

    email = EmailField(
        _l("Email"), validators=[DataRequired(), Email(), Length(max=254), _no_nul], render_kw={"autocomplete": "email"}
    )


class JoinByEmailForm(FlaskForm):
    """A code bound to no address: the address to send the link that finishes joining."""

    email = EmailField(
        _l("Email"), validators=[DataRequired(), Email(), Length(max=254), _no_nul], render_kw={"autocomplete": "email"}
    )


class InviteStaffForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254), _no_nul])
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice("facilitator", _l("Facilitator")), SelectChoice("admin", _l("Admin"))],
        validators=[DataRequired()],
    )


class OrganisationForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the organisation a name.")), Length(max=200),
                                               _no_nul])
    locale = SelectField(_l("Language of invitations to new people"), choices=LANGUAGE_CHOICES,
                         validators=[DataRequired()],
                         description=_l("Someone who has no account yet gets their invitation in this language; "
                                        "everyone can choose their own language later."))
    staff_second_factor = BooleanField(
        _l("Admins and facilitators sign in with a second factor"),
        description=_l("A passkey or an authenticator app besides the password. Staff without one set it up at their "
                       "next sign-in."))


class CrisisResourcesForm(FlaskForm):
    crisis_name = StringField(_l("Service name"), validators=[Optional(), Length(max=200), _no_nul])
    crisis_phone = StringField(_l("Phone"), validators=[Optional(), Length(max=50), _no_nul])
    crisis_text = StringField(_l("Text line"), validators=[Optional(), Length(max=100), _no_nul])
    crisis_url = StringField(
        _l("Web address"), validators=[Optional(), Length(max=300), _web_address, URL(require_tld=False)]
    )
    crisis_note = TextAreaField(_l("Other guidance"), validators=[Optional(), Length(max=2000), _no_nul])


# Second factors ------------------------------------------------------------------------------------------------------


class TotpCodeForm(FlaskForm):
    code = StringField(
        _l("Code from your authenticator app"),
        validators=[DataRequired(_l("Enter the 6-digit code.")), Length(max=12),
                    Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Enter the 6 digits the app shows."))],
        description=_l("6 digits; a new code appears every 30 seconds."),
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "off",
                   "spellcheck": "false"},
    )


class RecoveryCodeForm(FlaskForm):
    recovery_code = StringField(
        _l("Recovery code"),
        validators=[DataRequired(_l("Enter one of your recovery codes.")), Length(max=40), _no_nul],
        description=_l("One of the ten codes you saved, for example abcd-efgh-ijkl-mnop. Each works once."),
        render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"},
    )


class PasskeySignInForm(FlaskForm):
    """The browser's answer to navigator.credentials.get(), filled in by passkey.js."""

    credential = HiddenField(validators=[DataRequired(), Length(max=16000)])


class NewPasskeyForm(PasskeySignInForm):
    name = StringField(_l("A name for this passkey (optional)"), validators=[Optional(), Length(max=100), _no_nul],
                       description=_l("For example: work laptop, or my phone."))
