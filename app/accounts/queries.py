"""Reads for account pages and the API."""

from __future__ import annotations

from sqlalchemy import select

from app.accounts.models import ApiToken, Invitation, Role, RoleName, User
from app.extensions import db


def account_with_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def staff_of(organisation_id: int) -> list[User]:
    return list(db.session.scalars(
        select(User).join(Role).where(Role.organisation_id == organisation_id,
                                      Role.name.in_([RoleName.ADMIN, RoleName.FACILITATOR]))
        .order_by(User.display_name)
    ))


def staff_invitations(organisation_id: int) -> list[Invitation]:
    return list(db.session.scalars(
        select(Invitation).where(Invitation.organisation_id == organisation_id,
                                 Invitation.role.in_([RoleName.ADMIN, RoleName.FACILITATOR]))
        .order_by(Invitation.created_at.desc()).limit(50)
    ))


def tokens_of(user: User) -> list[ApiToken]:
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc()).limit(50)
    ))


def account_in_organisation(user_id: int, organisation_id: int) -> User | None:
    return db.session.scalar(
        select(User).join(Role).where(User.id == user_id, Role.organisation_id == organisation_id)
    )


def token_of(user: User, token_id: int) -> ApiToken | None:
    return db.session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))


def invitation_in_organisation(invitation_id: int, organisation_id: int) -> Invitation | None:
    return db.session.scalar(
        select(Invitation).where(Invitation.id == invitation_id, Invitation.organisation_id == organisation_id)
    )
