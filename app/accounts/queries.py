"""Reads for account pages and the API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select

from app.accounts.models import ApiToken, Invitation, Role, RoleName, User
from app.audit import AuditEvent
from app.extensions import db


def account_with_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


#: Whose email an admin reads: staff addresses are no secret inside the organisation; a member's or a supporter's is
#: theirs, so the people page finds them by their whole address but never shows or completes it.
STAFF_ROLES = (RoleName.ADMIN, RoleName.FACILITATOR)


def people_page(organisation_id: int, *, search: str = "", role: RoleName | None = None, page: int = 1,
                per_page: int = 25) -> tuple[list[tuple[User, RoleName]], int]:
    """One page of everyone with a role in the organisation, by name, and how many match in all.

    `search` finds a part of a name, a part of a staff member's email, or anyone's whole email address."""
    query = select(User, Role.name).join(Role).where(Role.organisation_id == organisation_id)
    if role is not None:
        query = query.where(Role.name == role)
    words = search.strip().lower()
    if words:
        query = query.where(or_(
            func.lower(User.display_name).contains(words, autoescape=True),
            and_(Role.name.in_(STAFF_ROLES), User.email.contains(words, autoescape=True)),
            User.email == words,
        ))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.execute(query.order_by(func.lower(User.display_name), User.id)
                              .offset((page - 1) * per_page).limit(per_page))
    return [(user, role_name) for user, role_name in rows], total


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


def people_of(organisation_id: int) -> list[tuple[User, RoleName]]:
    """Everyone with a role in the organisation, with that role, by name."""
    return [(user, role) for user, role in db.session.execute(
        select(User, Role.name).join(Role).where(Role.organisation_id == organisation_id)
        .order_by(User.display_name, User.id)
    )]


# The audit trail, an organisation's rows of it ------------------------------------------------------------------------


@dataclass(frozen=True)
class TrailFilters:
    """What the admin narrowed the trail to; times are UTC, `until` excluded."""

    actor_id: int | None = None
    subject_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: The last row to include (an export takes the trail as it was when it started).
    through_seq: int | None = None


def _trail(organisation_id: int, filters: TrailFilters) -> Select:
    query = select(AuditEvent).where(AuditEvent.organisation_id == organisation_id)
    if filters.actor_id is not None:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.subject_id is not None:
        query = query.where(AuditEvent.subject_id == filters.subject_id)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since is not None:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.occurred_at < filters.until)
    if filters.through_seq is not None:
        query = query.where(AuditEvent.seq <= filters.through_seq)
    return query


def trail_page(organisation_id: int, filters: TrailFilters, page: int, per_page: int) -> tuple[list[AuditEvent], int]:
    """One page of the organisation's rows, newest first, and how many rows the filters match in all."""
    query = _trail(organisation_id, filters)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(AuditEvent.seq.desc()).offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


def trail_rows(organisation_id: int, filters: TrailFilters) -> Iterator[AuditEvent]:
    """Every row the filters match, newest first, read in batches (for an export)."""
    query = _trail(organisation_id, filters).order_by(AuditEvent.seq.desc()).execution_options(yield_per=500)
    yield from db.session.scalars(query)


def trail_actions(organisation_id: int) -> list[str]:
    """The actions recorded in the organisation's rows."""
    return list(db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.organisation_id == organisation_id).distinct()
    ))


def trail_end() -> int:
    """The position of the last row of the whole trail (0 when it is empty)."""
    return db.session.scalar(select(func.max(AuditEvent.seq))) or 0


def facilitators_of_organisation(organisation_id: int) -> list[User]:
    return list(db.session.scalars(
        select(User).join(Role).where(Role.organisation_id == organisation_id, Role.name == RoleName.FACILITATOR,
                                      User.active.is_(True)).order_by(User.display_name)
    ))
