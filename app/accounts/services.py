"""Writes for accounts: sign-in, login sessions, passwords, tokens, invitations, profiles and organisations.

Services validate, flush and audit; the request or event boundary commits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from app import audit, signals
from app.accounts.availability import SLOTS_REFUSED, in_order, only_slots
from app.accounts.models import (
    ApiToken,
    Invitation,
    LoginSession,
    Organisation,
    Role,
    RoleName,
    User,
)
from app.extensions import db
from app.links import external_url
from app.models_base import utcnow
from app.notifications.email import queue_email
from app.realtime import sockets  # which imports this module: used at call time only
from app.refusal import Refusal
from app.zones import may_choose

# argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile), above the ASVS floor.
password_hasher = PasswordHasher()
# Verified when the account does not exist, so both paths cost one argon2 verification (no enumeration by timing).
DUMMY_HASH = password_hasher.hash("momentum-dummy-password")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
MAX_RISK_PHRASES, MAX_RISK_PHRASE_LENGTH = 300, 100


class AccountError(Refusal):
    """A domain rule refused the change; the message is shown to the user as is. Without a field, it is the state
    of an invitation or an account that refuses (a conflict)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message, field, code="invalid" if field else "conflict")


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def normalise_email(email: str) -> str:
    return email.strip().lower()


# Passwords -----------------------------------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return password_hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(_("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH), "password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(_("Use at most %(n)d characters.", n=MAX_PASSWORD_LENGTH), "password")


def authenticate(email: str, password: str) -> User | None:
    """The account for these credentials, or None. Unknown, wrong and deactivated all cost one hash check."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        verify_password(DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password) or not user.active:
        return None
    if password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


# Login sessions ------------------------------------------------------------------------------------------------------


def start_login_session(user: User, user_agent: str = "", organisation_id: int | None = None,
                        second_factor: str | None = None) -> str:
    """Open a login session (that passed `second_factor`, if any) and return its token, Flask-Login's user id."""
    raw = new_token()
    if organisation_id is None:
        organisation_id = user.roles[0].organisation_id if user.roles else None
    login = LoginSession(user_id=user.id, organisation_id=organisation_id, token_hash=hash_token(raw),
                         user_agent=user_agent[:200], second_factor=second_factor)
    db.session.add(login)
    db.session.flush()
    user.login_session, user.session_token = login, raw
    audit.record("login", actor=user, subject=user, target=f"login_session:{login.id}", organisation_id=organisation_id,
                 details={"second_factor": second_factor} if second_factor else None)
    return raw


def session_expiry_reason(login: LoginSession, now: datetime) -> str | None:
    config = current_app.config
    if login.ended_at is not None:
        return login.end_reason or "ended"
    if now - login.created_at > timedelta(hours=config["SESSION_MAX_HOURS"]):
        return "expired"
    if now - login.last_seen_at > timedelta(minutes=config["SESSION_IDLE_MINUTES"]):
        return "idle"
    return None


def load_login_session(raw: str | None, *, touch: bool = True) -> User | None:
    """The user behind a login token, if the login is still open, unexpired and the account active. `touch=False`
    for what a client does by itself (a socket's heartbeat): it does not count as activity for the idle timeout."""
    if not raw:
        return None
    login = db.session.scalars(select(LoginSession).where(LoginSession.token_hash == hash_token(raw))
                               .options(joinedload(LoginSession.user).joinedload(User.roles))).unique().first()
    if login is None:
        return None
    now = utcnow()
    reason = session_expiry_reason(login, now)
    if reason is not None:
        if login.ended_at is None:
            login.ended_at, login.end_reason = now, reason
        return None
    user = login.user
    if not user.active:
        return None
    # Writing on every request would serialise reads; a minute of precision is plenty for an idle timeout.
    if touch and now - login.last_seen_at > timedelta(seconds=60):
        login.last_seen_at = now
    user.login_session, user.session_token = login, raw
    return user


def end_login_session(login: LoginSession, reason: str) -> None:
    if login.ended_at is None:
        login.ended_at, login.end_reason = utcnow(), reason
        audit.record("logout", actor=login.user_id, subject=login.user_id, target=f"login_session:{login.id}",
                     organisation_id=login.organisation_id, details={"reason": reason})
    db.session.flush()
    # Listening sockets go too; the account's other devices reconnect at once and are let back in if still valid.
    sockets.disconnect_user(login.user_id)


def end_all_sessions(user: User, reason: str, keep: LoginSession | None = None) -> int:
    """End every login session and revoke every API token of this account (but `keep`)."""
    now = utcnow()
    query = update(LoginSession).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(LoginSession.id != keep.id)
    ended = db.session.execute(query.values(ended_at=now, end_reason=reason)).rowcount
    if reason != "password_change":
        db.session.execute(
            update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
        )
    db.session.flush()
    sockets.disconnect_user(user.id)
    return ended


# Profile -------------------------------------------------------------------------------------------------------------


def update_profile(user: User, *, display_name: str, pronouns: str, timezone: str, locale: str, low_energy: bool,
                   notification_prefs: dict, availability: list[str] | None = None) -> None:
    if not may_choose(timezone, kept=user.timezone):
        raise AccountError(_("Choose a time zone from the list."), "timezone")
    if locale not in current_app.config["LANGUAGES"]:
        raise AccountError(_("Choose English or Spanish."), "locale")
    if availability is not None and not only_slots(availability):  # None keeps the stored slots
        raise AccountError(str(SLOTS_REFUSED), "availability")
    user.availability = user.availability if availability is None else in_order(availability)
    user.display_name = display_name.strip()
    user.pronouns = pronouns.strip()
    user.timezone = timezone
    user.locale = locale
    user.low_energy = low_energy
    user.notification_prefs = dict(notification_prefs)
    db.session.flush()
    audit.record("profile_update", actor=user, subject=user)


# API tokens ----------------------------------------------------------------------------------------------------------


def create_api_token(user: User, name: str) -> tuple[ApiToken, str]:
    raw = "mtm_" + new_token()
    token = ApiToken(
        user_id=user.id,
        organisation_id=user.organisation_id,
        name=name.strip() or "API token",
        token_hash=hash_token(raw),
        prefix=raw[:10],
        expires_at=utcnow() + timedelta(days=current_app.config["API_TOKEN_DAYS"]),
    )
    db.session.add(token)
    db.session.flush()
    audit.record("api_token_create", actor=user, subject=user, target=f"api_token:{token.id}")
    return token, raw


def revoke_api_token(user: User, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
        audit.record("api_token_revoke", actor=user, subject=token.user_id, target=f"api_token:{token.id}")


def load_api_token(raw: str | None) -> User | None:
    if not raw:
        return None
    token = db.session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(raw))
                               .options(joinedload(ApiToken.user).joinedload(User.roles))).unique().first()
    now = utcnow()
    if token is None or token.revoked_at is not None or token.expires_at <= now or not token.user.active:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(seconds=60):
        token.last_used_at = now
    user = token.user
    user.api_token = token
    return user


# Organisations and accounts ------------------------------------------------------------------------------------------


def create_organisation(name: str, slug: str) -> Organisation:
    if db.session.scalar(select(Organisation).where(Organisation.slug == slug)):
        raise AccountError(_("An organisation with that short name exists."), "slug")
    organisation = Organisation(name=name.strip(), slug=slug)
    db.session.add(organisation)
    db.session.flush()
    audit.record("organisation_create", organisation_id=organisation.id, target=f"organisation:{organisation.id}")
    return organisation


def create_account(email: str, password: str, display_name: str, organisation: Organisation, role: RoleName,
                   *, timezone: str = "UTC", locale: str = "en") -> User:
    email = normalise_email(email)
    if db.session.scalar(select(User).where(User.email == email)):
        raise AccountError(_("An account with that email exists; sign in to accept."), "email")
    check_password_rules(password)
    user = User(email=email, password_hash=hash_password(password), display_name=display_name.strip(),
                timezone=timezone if may_choose(timezone) else "UTC", locale=locale)
    user.roles.append(Role(organisation_id=organisation.id, name=role))
    db.session.add(user)
    db.session.flush()
    audit.record("account_create", subject=user, organisation_id=organisation.id, target=f"user:{user.id}",
                 details={"role": role.value})
    return user


def set_account_active(by: User, account: User, active: bool) -> None:
    if account.active == active:
        return
    account.active = active
    if not active:
        end_all_sessions(account, "deactivated")
        # What the account handed out goes with it: its invitations no longer bring anyone in.
        for invitation in db.session.scalars(select(Invitation).where(
                Invitation.created_by_id == account.id, Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None), Invitation.expires_at > utcnow())):
            revoke_invitation(by, invitation, reason="creator_deactivated")
        signals.account_deactivated.send(account)
    db.session.flush()
    audit.record("account_deactivate" if not active else "account_reactivate", actor=by, subject=account,
                 target=f"user:{account.id}")


def update_organisation(by: User, organisation: Organisation, *, name: str, locale: str, timezone: str,
                        staff_second_factor: bool | None = None,
                        peer_message_retention_days: int | None = None, risk_phrases: str | None = None) -> None:
    """`staff_second_factor` None leaves the organisation following the deployment's default; a retention period or
    risk phrases of None leave them as they are, and empty risk phrases mean the default list."""
    name = name.strip()
    if not name:
        raise AccountError(_("Give the organisation a name."), "name")
    if locale not in current_app.config["LANGUAGES"]:
        raise AccountError(_("Choose English or Spanish."), "locale")
    if not may_choose(timezone, kept=organisation.timezone):
        raise AccountError(_("Choose a time zone from the list."), "timezone")
    if peer_message_retention_days is not None and not 1 <= peer_message_retention_days <= 3650:
        raise AccountError(_("Keep messages between 1 and 3650 days."), "peer_message_retention_days")
    fields = (("name", name), ("locale", locale), ("timezone", timezone), ("staff_second_factor", staff_second_factor),
              ("peer_message_retention_days", peer_message_retention_days))
    changed = sorted(field for field, value in fields if value is not None and getattr(organisation, field) != value)
    for field, value in fields:
        if value is not None:
            setattr(organisation, field, value)
    if risk_phrases is not None and (own := _risk_phrases(risk_phrases)) != organisation.risk_phrases:
        organisation.risk_phrases = own
        changed = sorted([*changed, "risk_phrases"])
    db.session.flush()
    audit.record("organisation_update", actor=by, target=f"organisation:{organisation.id}",
                 details={"changed": changed})


def _risk_phrases(text: str) -> str | None:
    """One phrase a line, spaces tidied, blank lines and repeats dropped; nothing left means the default list."""
    phrases: list[str] = []
    for line in text.splitlines():
        phrase = " ".join(line.split())
        if phrase and phrase.casefold() not in {p.casefold() for p in phrases}:
            phrases.append(phrase)
    if len(phrases) > MAX_RISK_PHRASES:
        raise AccountError(_("Keep at most %(count)d risk phrases.", count=MAX_RISK_PHRASES), "risk_phrases")
    if any(len(phrase) > MAX_RISK_PHRASE_LENGTH for phrase in phrases):
        raise AccountError(_("Keep each risk phrase to %(count)d characters or fewer.", count=MAX_RISK_PHRASE_LENGTH),
                           "risk_phrases")
    return "\n".join(phrases) or None


def update_crisis_resources(by: User, organisation: Organisation, **fields: str) -> None:
    for name in ("crisis_name", "crisis_phone", "crisis_text", "crisis_url", "crisis_note"):
        setattr(organisation, name, (fields.get(name) or "").strip())
    db.session.flush()
    audit.record("crisis_resources_update", actor=by, target=f"organisation:{organisation.id}")


# Invitations ---------------------------------------------------------------------------------------------------------


def create_invitation(by: User, organisation: Organisation, role: RoleName, email: str = "",
                      context: dict | None = None) -> tuple[Invitation, str]:
    raw = new_token()
    invitation = Invitation(
        organisation_id=organisation.id,
        role=role,
        email=normalise_email(email) if email else "",
        code_hash=hash_token(raw),
        created_by_id=by.id,
        expires_at=utcnow() + timedelta(days=current_app.config["INVITATION_DAYS"]),
        context=context or {},
    )
    db.session.add(invitation)
    db.session.flush()
    if invitation.email:
        link = external_url("accounts.accept_invitation", code=raw)
        # In the invitee's language when they have an account already, else in the organisation's; not the inviter's.
        invitee = db.session.scalar(select(User).where(User.email == invitation.email))
        with force_locale(invitee.locale if invitee is not None else organisation.locale):
            subject = _("You are invited to Momentum")
            body = _(
                "%(name)s invited you to join %(organisation)s on Momentum.\n\n"
                "Open this link within %(days)d days to accept:\n%(link)s\n",
                name=by.display_name, organisation=organisation.name, days=current_app.config["INVITATION_DAYS"],
                link=link,
            )
        queue_email(invitation.email, subject, body)
    audit.record("invitation_create", actor=by, target=f"invitation:{invitation.id}",
                 details={"role": role.value, "context": invitation.context})
    return invitation, raw


JOIN_TOKEN_SALT = "momentum-join-by-email"


def join_token(invitation: Invitation, email: str) -> str:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=JOIN_TOKEN_SALT).dumps(
        {"invitation": invitation.id, "email": normalise_email(email)})


def read_join_token(invitation: Invitation, token: str) -> str | None:
    """The address a joining link was sent to, if the link is genuine and for this invitation (which keeps its own
    expiry and single use)."""
    try:
        data = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=JOIN_TOKEN_SALT).loads(
            token, max_age=current_app.config["INVITATION_DAYS"] * 86400)
    except BadData:
        return None
    if not isinstance(data, dict) or data.get("invitation") != invitation.id or not isinstance(data.get("email"), str):
        return None
    return data["email"]


def send_joining_email(invitation: Invitation, code: str, email: str) -> None:
    """Someone not signed in takes up a code bound to no address: the address gets a link to finish joining, or, if it
    already has an account, a link to sign in and accept. The caller answers the same either way (SECURITY.md 11)."""
    email = normalise_email(email)
    holder = db.session.scalar(select(User).where(User.email == email))
    organisation = invitation.organisation
    if holder is not None:
        link = external_url("accounts.accept_invitation", code=code)
        with force_locale(holder.locale):
            subject = _("Your invitation to %(organisation)s", organisation=organisation.name)
            body = _(
                "Someone, probably you, asked to join %(organisation)s on Momentum with this address, which already "
                "has an account.\n\nSign in and accept the invitation here:\n%(link)s\n\n"
                "If it was not you, you can ignore this email; nothing changes without it.",
                organisation=organisation.name, link=link,
            )
    else:
        link = external_url("accounts.finish_joining", code=code, token=join_token(invitation, email))
        subject = _("Finish joining %(organisation)s", organisation=organisation.name)
        body = _(
            "Someone, probably you, asked to join %(organisation)s on Momentum with this address.\n\n"
            "To choose your name and password and finish joining, open this link:\n%(link)s\n\n"
            "If it was not you, you can ignore this email; nothing happens without it.",
            organisation=organisation.name, link=link,
        )
    queue_email(email, subject, body)
    audit.record("invitation_email", subject=holder, organisation_id=invitation.organisation_id,
                 target=f"invitation:{invitation.id}")


def find_invitation(raw: str) -> Invitation | None:
    """The invitation behind a code, in any state, or None."""
    if not raw or len(raw) > 200:
        return None
    return db.session.scalar(select(Invitation).where(Invitation.code_hash == hash_token(raw)))


def revoke_invitation(by: User, invitation: Invitation, reason: str | None = None) -> None:
    if invitation.state(utcnow()) != "pending":
        raise AccountError(_("Only a pending invitation can be revoked."))
    invitation.revoked_at = utcnow()
    db.session.flush()
    audit.record("invitation_revoke", actor=by, target=f"invitation:{invitation.id}",
                 details={"reason": reason} if reason else None)


def check_invitation_usable(invitation: Invitation | None) -> Invitation:
    state = invitation.state(utcnow()) if invitation is not None else "unknown"
    if state == "pending":
        return invitation
    messages = {
        "accepted": _("This invitation has already been used."),
        "expired": _("This invitation has expired. Ask for a new one."),
        "revoked": _("This invitation was withdrawn."),
        "unknown": _("This invitation link is not valid."),
    }
    raise AccountError(messages[state])


def accept_invitation(invitation: Invitation, *, user: User | None = None, email: str = "", password: str = "",
                      display_name: str = "", timezone: str = "UTC", locale: str = "en",
                      email_confirmed: bool = False) -> User:
    """Accept as a signed-in account (adding the role) or by creating an account. Single use: a second try fails.

    A new account takes the address the invitation was sent to, or, for a code bound to no address, one confirmed
    by the link of send_joining_email (`email_confirmed`): the code alone never tells whether an address has an
    account."""
    invitation = check_invitation_usable(invitation)
    if user is None and not invitation.email and not email_confirmed:
        raise AccountError(_("Ask for a link by email to finish joining."), "email")
    # Claim the invitation with a conditional update, so that two simultaneous accepts cannot both succeed.
    claimed = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .values(accepted_at=utcnow())
    ).rowcount
    if claimed != 1:
        raise AccountError(_("This invitation has already been used."))
    organisation = invitation.organisation
    if user is None:
        if invitation.email and normalise_email(email) != invitation.email:
            raise AccountError(_("Use the email address the invitation was sent to."), "email")
        user = create_account(email, password, display_name, organisation, invitation.role,
                              timezone=timezone, locale=locale)
    else:
        if invitation.email and user.email != invitation.email:
            raise AccountError(_("This invitation was sent to another email address."))
        if user.organisation_id is not None and user.organisation_id != organisation.id:
            raise AccountError(_("This invitation is for another organisation."))
        existing = user.role_in(organisation.id)
        if existing is not None and existing != invitation.role:
            raise AccountError(_("Your account already has another role in this organisation."))
        if existing is None:
            user.roles.append(Role(organisation_id=organisation.id, name=invitation.role))
    db.session.refresh(invitation)
    invitation.accepted_by_id = user.id
    db.session.flush()
    audit.record("invitation_accept", actor=user, subject=user, organisation_id=organisation.id,
                 target=f"invitation:{invitation.id}", details={"role": invitation.role.value})
    signals.invitation_accepted.send(invitation, user=user)
    return user

