"""Organisations, accounts, their roles, and the credentials that let them in."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models_base import UTCDateTime, string_enum, utcnow
from app.zones import TIMEZONES, usable_zone


class RoleName(enum.StrEnum):
    ADMIN = "admin"
    FACILITATOR = "facilitator"
    PATIENT = "patient"
    SUPPORTER = "supporter"


ROLE_ENUM = string_enum(RoleName, "role_name", length=20)


class Organisation(db.Model):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    #: Crisis resources shown in every page's footer; empty fields fall back to the default text.
    crisis_name: Mapped[str] = mapped_column(String(200), default="")
    crisis_phone: Mapped[str] = mapped_column(String(50), default="")
    crisis_text: Mapped[str] = mapped_column(String(100), default="")
    crisis_url: Mapped[str] = mapped_column(String(300), default="")
    crisis_note: Mapped[str] = mapped_column(Text, default="")
    #: The language of what Momentum writes to someone it does not know yet (an invitation to a new address).
    locale: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    #: The zone times are shown in to someone whose own zone no longer loads.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    #: Whether admins and facilitators must sign in with a second factor; None follows the deployment's
    #: SECOND_FACTOR_FOR_STAFF (on in production).
    staff_second_factor: Mapped[bool | None] = mapped_column(Boolean)
    #: How long peer pairs' messages are kept before the purge removes them.
    peer_message_retention_days: Mapped[int] = mapped_column(Integer, default=90, server_default="90")
    #: Risk phrases, one a line, that alert the facilitators when a peer writes them; None uses the default list.
    risk_phrases: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def has_crisis_resources(self) -> bool:
        return any((self.crisis_name, self.crisis_phone, self.crisis_text, self.crisis_url, self.crisis_note))


DEFAULT_NOTIFICATION_PREFS = {"email_reminders": True, "email_messages": True, "in_app": True}


class User(db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100))
    pronouns: Mapped[str] = mapped_column(String(40), default="")
    #: IANA time zone name, e.g. "Europe/Berlin".
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    #: Fewer elements, larger targets, the shortest path to a check-in.
    low_energy: Mapped[bool] = mapped_column(Boolean, default=False)
    notification_prefs: Mapped[dict] = mapped_column(JSON, default=lambda: dict(DEFAULT_NOTIFICATION_PREFS))
    #: When the person is usually free, as slots of app/accounts/availability.py ("tue-evening") in their own zone.
    availability: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    #: False once deactivated by an admin; a deactivated account cannot sign in.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list[Role]] = relationship(back_populates="user", cascade="all, delete-orphan")

    # Flask-Login: set per request by the session loader; the id Flask-Login stores is the login session's token.
    login_session = None  # LoginSession of this request, if signed in through the browser
    session_token = None  # the raw token of that login session
    api_token = None  # ApiToken of this request, if signed in with a bearer token

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def organisation_id(self) -> int | None:
        """The organisation this login acts in."""
        if self.login_session is not None:
            return self.login_session.organisation_id
        if self.api_token is not None:
            return self.api_token.organisation_id
        return self.roles[0].organisation_id if self.roles else None

    @property
    def organisation(self) -> Organisation | None:
        org_id = self.organisation_id
        return db.session.get(Organisation, org_id) if org_id else None

    @property
    def zone(self) -> str:
        """The zone this person's times are shown in: their own, or, if it no longer loads, their organisation's."""
        if self.timezone in TIMEZONES:
            return self.timezone
        organisation = self.organisation
        return usable_zone(organisation.timezone if organisation is not None else None)

    @property
    def zone_is_lost(self) -> bool:
        """Whether the zone this person chose no longer loads (their pages say so, and show `zone` instead)."""
        return self.timezone not in TIMEZONES

    def role_in(self, organisation_id: int | None) -> RoleName | None:
        for role in self.roles:
            if role.organisation_id == organisation_id:
                return role.name
        return None

    @property
    def role(self) -> RoleName | None:
        """The role this login acts in, in its organisation."""
        return self.role_in(self.organisation_id)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class Role(db.Model):
    """An account's role in one organisation."""

    __tablename__ = "role"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    name: Mapped[RoleName] = mapped_column(ROLE_ENUM)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="roles")
    organisation: Mapped[Organisation] = relationship()


class LoginSession(db.Model):
    """One sign-in. Its token is the id Flask-Login keeps in the cookie, so ending it ends every copy of the cookie."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    #: sha256 of the token; the token itself lives only in the signed cookie.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Why it ended: logout, password_change, deactivated, idle, expired, second_factor_reset.
    end_reason: Mapped[str | None] = mapped_column(String(30))
    #: The second factor this sign-in passed (a SecondFactorMethod), or None for a password alone.
    second_factor: Mapped[str | None] = mapped_column(String(20))
    user_agent: Mapped[str] = mapped_column(String(200), default="")

    user: Mapped[User] = relationship()


class ApiToken(db.Model):
    """A bearer token for non-browser clients, stored hashed, expiring and revocable."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The first characters of the token, so the owner can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Invitation(db.Model):
    """A single-use, expiring, revocable invitation to an organisation in a role; only its hash is stored."""

    __tablename__ = "invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    role: Mapped[RoleName] = mapped_column(ROLE_ENUM)
    #: The address it was sent to; empty for a shareable code.
    email: Mapped[str] = mapped_column(String(254), default="")
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the invitation leads to besides the role, e.g. {"group_id": 3} or {"patient_id": 7}.
    context: Mapped[dict] = mapped_column(JSON, default=dict)

    organisation: Mapped[Organisation] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    accepted_by: Mapped[User | None] = relationship(foreign_keys=[accepted_by_id])

    def state(self, now: datetime) -> str:
        if self.revoked_at:
            return "revoked"
        if self.accepted_at:
            return "accepted"
        if self.expires_at <= now:
            return "expired"
        return "pending"


class PasswordReset(db.Model):
    """A single-use password reset link; only its hash is stored."""

    __tablename__ = "password_reset"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()



class SecondFactorMethod(enum.StrEnum):
    TOTP = "totp"
    PASSKEY = "passkey"
    RECOVERY_CODE = "recovery_code"


class TotpAuthenticator(db.Model):
    """An authenticator app's shared secret: one per account."""

    __tablename__ = "totp_authenticator"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), unique=True)
    #: The base32 secret the app holds too; it never leaves the server after setup.
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the first code from the app was accepted; until then it is being set up and lets nobody in.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The 30-second time step of the last accepted code: a code of that step or an earlier one is refused (replay).
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Passkey(db.Model):
    """A WebAuthn credential registered by the account."""

    __tablename__ = "passkey"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: The name the owner gave it, to tell their passkeys apart.
    name: Mapped[str] = mapped_column(String(100))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    #: COSE-encoded public key, as the authenticator gave it at registration.
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    #: The authenticator's signature counter; one that goes backwards suggests a cloned authenticator.
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    #: How the browser may reach it ("internal", "usb", "hybrid", ...), offered back at sign-in.
    transports: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class RecoveryCode(db.Model):
    """A single-use code for when no other second factor is at hand; only its hash is stored."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
