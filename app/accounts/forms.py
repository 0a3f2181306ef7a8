"""Forms for signing in, passwords, the profile, invitations and organisation settings."""

from flask import has_request_context
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SearchField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    Email,
    EqualTo,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget, TextInput

from app.accounts.availability import PART_HOURS, SLOTS
from app.accounts.labels import PART_LABELS
from app.accounts.services import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from app.input_checks import MomentumForm
from app.zones import ALIASES, CHOOSABLE, TIMEZONES, equivalent, likely_zones, may_choose, zone_labels

LANGUAGE_CHOICES = [SelectChoice("en", "English"), SelectChoice("es", "Español")]



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


class LoginForm(MomentumForm):
    email = EmailField(
        _l("Email"), validators=[DataRequired(), Length(max=254)], render_kw={"autocomplete": "username"}
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class EmptyForm(MomentumForm):
    """A POST-only button: it carries nothing but the CSRF token."""


class ForgotPasswordForm(MomentumForm):
    email = EmailField(
        _l("Email"), validators=[DataRequired(), Email(), Length(max=254)], render_kw={"autocomplete": "email"}
    )


class ResetPasswordForm(MomentumForm):
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


class ZoneInput(TextInput):
    """A text box that suggests zones as the person types (a native <datalist>, so it works without scripts): the
    likely ones first, then every other, each named by its place in the reader's language. timezone.js puts the
    browser's own zone at the top, and in an empty box."""

    def __call__(self, field, **kwargs):
        listed = f"{field.id}-zones"
        kwargs.update({"list": listed, "autocomplete": "off", "spellcheck": "false", "data_zone_picker": True})
        language = get_locale().language if get_locale() else "en"
        labels = zone_labels(language)
        likely = likely_zones(field.data, *_own_zones(), language=language)
        rest = sorted(CHOOSABLE.difference(likely))
        options = "".join(
            f'<option value="{escape(name)}"'
            + (f' data-also="{escape(" ".join(ALIASES[name]))}"' if name in ALIASES else "")
            + f">{escape(labels[name])}</option>" for name in (*likely, *rest))
        return Markup(f'{super().__call__(field, **kwargs)}<datalist id="{listed}">{options}</datalist>')


def _own_zones() -> tuple[str | None, ...]:
    """The zones of the person choosing, and of their organisation, when someone is signed in."""
    if not has_request_context() or not current_user.is_authenticated:
        return ()
    organisation = current_user.organisation
    return current_user.timezone, organisation.timezone if organisation is not None else None


class ZoneField(StringField):
    """An IANA zone, typed or picked from the suggestions; one that is stored already may stay as it is."""

    widget = ZoneInput()

    def __init__(self, label, **kwargs):
        kwargs.setdefault("description", _l("Type a city or a country, then pick your zone from the list."))
        super().__init__(label, validators=[DataRequired(_l("Choose a time zone from the list."))],
                         filters=[lambda value: value.strip() if isinstance(value, str) else value], **kwargs)

    def process_data(self, value):
        # A stored alias shows as the zone it stands for; one that no longer loads shows empty, to be chosen again.
        self.data = (equivalent(value) or (value if value in TIMEZONES else "")) if value else value

    def pre_validate(self, form):
        if self.data and not may_choose(self.data, kept=self.object_data):
            raise ValidationError(_l("Choose a time zone from the list."))


class ProfileForm(MomentumForm):
    display_name = StringField(_l("Name shown to others"), validators=[DataRequired(), Length(max=100)])
    pronouns = StringField(_l("Pronouns (optional)"), validators=[Optional(), Length(max=40)])
    timezone = ZoneField(_l("Time zone"))
    locale = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, validators=[DataRequired()])
    low_energy = BooleanField(_l("Low-energy mode: fewer things on each page, larger buttons"))
    email_reminders = BooleanField(_l("Email me reminders of sessions and check-ins"))
    email_messages = BooleanField(_l("Email me when someone sends me a message"))
    in_app = BooleanField(_l("Show notifications inside Momentum"))
    # Unknown slots are refused by services.update_profile, with words that say what to choose.
    availability = SelectMultipleField(
        _l("When you are usually free (optional)"),
        choices=[SelectChoice(slot, PART_LABELS[slot.split("-")[1]]) for slot in SLOTS],
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        description=_l("In your own time zone: mornings %(morning)s, afternoons %(afternoon)s, evenings %(evening)s. "
                       "Your group's facilitators may use it to suggest a peer coach who is free at the same times.",
                       **{str(part): "%d:00–%d:00" % hours for part, hours in PART_HOURS.items()}),
    )


class LanguageForm(MomentumForm):
    locale = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, validators=[DataRequired()])
    next = HiddenField()


class ApiTokenForm(MomentumForm):
    name = StringField(
        _l("Token name"), validators=[DataRequired(), Length(max=100)], description=_l("For example: my phone")
    )


class FinishJoiningForm(MomentumForm):
    """Creates the account that accepts an invitation, for an address the link already gives."""

    display_name = StringField(
        _l("Your name, as others will see it"),
        validators=[DataRequired(), Length(max=100)],
        description=_l("A first name or a nickname is enough."),
    )
    password = new_password_field(_l("Choose a password"))
    timezone = ZoneField(_l("Time zone"))


class AcceptInvitationForm(FinishJoiningForm):
    """Creates the account that accepts an invitation sent to an address."""

    email = EmailField(
        _l("Email"), validators=[DataRequired(), Email(), Length(max=254)], render_kw={"autocomplete": "email"}
    )


class JoinByEmailForm(MomentumForm):
    """A code bound to no address: the address to send the link that finishes joining."""

    email = EmailField(
        _l("Email"), validators=[DataRequired(), Email(), Length(max=254)], render_kw={"autocomplete": "email"}
    )


class InviteStaffForm(MomentumForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice("facilitator", _l("Facilitator")), SelectChoice("admin", _l("Admin"))],
        validators=[DataRequired()],
    )


class OrganisationForm(MomentumForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the organisation a name.")), Length(max=200)])
    locale = SelectField(_l("Language of invitations to new people"), choices=LANGUAGE_CHOICES,
                         validators=[DataRequired()],
                         description=_l("Someone who has no account yet gets their invitation in this language; "
                                        "everyone can choose their own language later."))
    timezone = ZoneField(_l("Time zone of the organisation"),
                         description=_l("Times are shown in it to anyone whose own time zone is no longer "
                                        "available."))

    staff_second_factor = BooleanField(
        _l("Admins and facilitators sign in with a second factor"),
        description=_l("A passkey or an authenticator app besides the password. Staff without one set it up at their "
                       "next sign-in."))
    peer_message_retention_days = IntegerField(
        _l("Days a peer pair's chat messages are kept"),
        validators=[Optional(), NumberRange(min=1, max=3650, message=_l("Keep messages between 1 and 3650 days."))],
        description=_l("Older messages are deleted for good. Members read this period above their chat."))
    risk_phrases = TextAreaField(
        _l("Risk phrases"), validators=[Optional(), Length(max=40000)], render_kw={"rows": 8},
        description=_l("One phrase a line. Words in a peer check-in or message that match one (without case or "
                       "accents) show the writer the crisis resources and alert the group's facilitators. Leave it "
                       "empty to use the default list."))


class CrisisResourcesForm(MomentumForm):
    crisis_name = StringField(_l("Service name"), validators=[Optional(), Length(max=200)])
    crisis_phone = StringField(_l("Phone"), validators=[Optional(), Length(max=50)])
    crisis_text = StringField(_l("Text line"), validators=[Optional(), Length(max=100)])
    crisis_url = StringField(
        _l("Web address"), validators=[Optional(), Length(max=300), _web_address, URL(require_tld=False)]
    )
    crisis_note = TextAreaField(_l("Other guidance"), validators=[Optional(), Length(max=2000)])


class LocalDateField(DateField):
    """A day in the reader's own time zone; one that does not parse says so in their language."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_l("Enter a date as year-month-day, for example 2026-03-26.")) from None


class PageField(IntegerField):
    """The page of a list: anything but a whole number from 1 up is the first page."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None

    @property
    def number(self) -> int:
        return self.data if self.data is not None and 1 <= self.data <= 10**6 else 1


class AuditTrailForm(MomentumForm):
    """The filters of the audit page, read from the query string (a GET form: no CSRF token, nothing changes).

    `people` are (id, label) pairs of the organisation's accounts, `kinds` (code, label) pairs of actions."""

    class Meta:
        csrf = False

    actor = SelectField(_l("Who did it"), validate_choice=False)
    subject = SelectField(_l("Whose data"), validate_choice=False)
    kind = SelectField(_l("Kind of event"), validate_choice=False)
    start = LocalDateField(_l("From"), validators=[Optional()])
    end = LocalDateField(_l("To (included)"), validators=[Optional()])
    page = PageField()

    def __init__(self, formdata, *, people: list[tuple[str, str]], kinds: list[tuple[str, str]], **kwargs):
        super().__init__(formdata, **kwargs)
        self.actor.choices = [SelectChoice("", _l("Anyone"))] + [SelectChoice(*person) for person in people]
        self.subject.choices = [SelectChoice("", _l("Anyone"))] + [SelectChoice(*person) for person in people]
        self.kind.choices = [SelectChoice("", _l("Any kind"))] + [SelectChoice(*kind) for kind in kinds]
        self._people = {value for value, _label in people}
        self._kinds = {value for value, _label in kinds}

    def validate_actor(self, field):
        if field.data and field.data not in self._people:
            raise ValidationError(_l("No one at your organisation has this id: choose a person from the list."))

    def validate_subject(self, field):
        self.validate_actor(field)

    def validate_kind(self, field):
        if field.data and field.data not in self._kinds:
            raise ValidationError(_l("Choose a kind of event from the list."))

    def validate_end(self, field):
        if field.data is not None and self.start.data is not None and field.data < self.start.data:
            raise ValidationError(_l("The end date is before the start date."))


class PeopleFilterForm(MomentumForm):
    """The search of the people page, read from the query string (a GET form: no CSRF token, nothing changes)."""

    class Meta:
        csrf = False

    q = SearchField(_l("Name or email"), validators=[Optional(), Length(max=254)],
                    description=_l("Part of a name, or a whole email address."))
    #: Its own id: the people page holds the invitation's choice of role too.
    role = SelectField(_l("Show"), id="people_role", choices=[SelectChoice("", _l("Everyone")),
                                            SelectChoice("admin", _l("Admins")),
                                            SelectChoice("facilitator", _l("Facilitators")),
                                            SelectChoice("patient", _l("Members")),
                                            SelectChoice("supporter", _l("Supporters"))], default="")
    page = PageField()



# Second factors ------------------------------------------------------------------------------------------------------


class TotpCodeForm(MomentumForm):
    code = StringField(
        _l("Code from your authenticator app"),
        validators=[DataRequired(_l("Enter the 6-digit code.")), Length(max=12),
                    Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Enter the 6 digits the app shows."))],
        description=_l("6 digits; a new code appears every 30 seconds."),
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "off",
                   "spellcheck": "false"},
    )


class RecoveryCodeForm(MomentumForm):
    recovery_code = StringField(
        _l("Recovery code"),
        validators=[DataRequired(_l("Enter one of your recovery codes.")), Length(max=40)],
        description=_l("One of the ten codes you saved, for example abcd-efgh-ijkl-mnop. Each works once."),
        render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"},
    )


class PasskeySignInForm(MomentumForm):
    """The browser's answer to navigator.credentials.get(), filled in by passkey.js."""

    credential = HiddenField(validators=[DataRequired(), Length(max=16000)])


class NewPasskeyForm(PasskeySignInForm):
    name = StringField(_l("A name for this passkey (optional)"), validators=[Optional(), Length(max=100)],
                       description=_l("For example: work laptop, or my phone."))
