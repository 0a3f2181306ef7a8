"""Changing a password, and resetting a forgotten one by a link sent by email."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update

from app import audit
from app.accounts.models import ApiToken, PasswordReset, User
from app.accounts.services import (
    AccountError,
    check_password_rules,
    end_all_sessions,
    hash_password,
    hash_token,
    new_token,
    normalise_email,
    verify_password,
)
from app.extensions import db
from app.links import external_url
from app.models_base import utcnow
from app.notifications.email import queue_email


def _set_password(user: User, new: str) -> None:
    """The new password, and nothing opened with the old one goes on: every login ends (this one too: a stolen copy
    of this very cookie must stop working; the route opens a fresh one for the person who made the change), every
    token is revoked, and every reset link still open closes."""
    check_password_rules(new)
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    end_all_sessions(user, "password_change")
    db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    close_password_resets(user)


def change_password(user: User, current: str, new: str) -> None:
    if not verify_password(user.password_hash, current):
        raise AccountError(_("That is not your current password."), "current_password")
    _set_password(user, new)
    audit.record("password_change", actor=user, subject=user)


def request_password_reset(email: str) -> None:
    """Email a reset link if the account exists; the caller answers the same either way."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None or not user.active:
        audit.record("password_reset_request", outcome="failure", details={"known": False})
        return
    raw = new_token()
    reset = PasswordReset(
        user_id=user.id,
        token_hash=hash_token(raw),
        expires_at=utcnow() + timedelta(minutes=current_app.config["PASSWORD_RESET_MINUTES"]),
    )
    db.session.add(reset)
    db.session.flush()
    link = external_url("accounts.reset_password", token=raw)
    with force_locale(user.locale):
        subject = _("Reset your Momentum password")
        body = _(
            "Someone asked to reset the password of your Momentum account.\n\n"
            "To choose a new password, open this link within %(minutes)d minutes:\n%(link)s\n\n"
            "If it was not you, you can ignore this email; your password stays the same.",
            minutes=current_app.config["PASSWORD_RESET_MINUTES"],
            link=link,
        )
    queue_email(user.email, subject, body)
    audit.record("password_reset_request", subject=user, target=f"password_reset:{reset.id}")


def find_password_reset(raw: str) -> PasswordReset | None:
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.token_hash == hash_token(raw)))
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow() or not reset.user.active:
        return None
    return reset


def close_password_resets(user: User) -> None:
    """Every reset link of the account that is still open stops working: once the password has changed, by a link or
    on the profile, an older link in a mailbox must not change it again."""
    db.session.execute(update(PasswordReset).where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
                       .values(used_at=utcnow()))


def reset_password(reset: PasswordReset, new: str) -> User:
    user = reset.user
    _set_password(user, new)
    audit.record("password_reset", actor=user, subject=user, target=f"password_reset:{reset.id}")
    return user
