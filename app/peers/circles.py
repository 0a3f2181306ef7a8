"""Member-led check-in circles between sessions. A facilitator schedules one for a group (a SessionOccurrence marked
`is_circle`, which no session list shows); from its start to its end the group's active members enter it on the rooms
engine (presence, one-tap check-ins, pass, "I need support now" to the facilitators), with no facilitator controls
(app/policy.can_enter_room). Facilitators may look in; supporters never."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from app import audit, policy, recurrence
from app.accounts.models import User
from app.extensions import db
from app.groups.models import (
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    SessionOccurrence,
    TherapyGroup,
)
from app.groups.rules import GroupError, require_open
from app.groups.schedules import schedule_error_message
from app.models_base import utcnow

#: How long a circle lasts, in minutes: short, by design.
SHORTEST, LONGEST = 10, 60
#: How far ahead a circle may be scheduled.
AHEAD = timedelta(days=90)


def schedule_circle(by: User, group: TherapyGroup, *, start_local: datetime,
                    duration_minutes: int) -> SessionOccurrence:
    """A circle of the group at a local time in the group's zone; only the group's facilitators schedule one."""
    policy.require_manage_group(by, group)
    require_open(group)
    try:
        starts_at = recurrence.to_utc_strict(start_local, group.timezone)
    except recurrence.ScheduleError as error:
        raise GroupError(schedule_error_message(error), "date", code=error.code) from None
    now = utcnow()
    if starts_at <= now:
        raise GroupError(_("A check-in circle must start in the future."), "date")
    if starts_at > now + AHEAD:
        raise GroupError(_("A check-in circle can be at most 90 days ahead."), "date")
    if not isinstance(duration_minutes, int) or not SHORTEST <= duration_minutes <= LONGEST:
        raise GroupError(_("A check-in circle lasts between %(least)d and %(most)d minutes.",
                           least=SHORTEST, most=LONGEST), "duration_minutes")
    circle = SessionOccurrence(group_id=group.id, recurrence_id=None, starts_at=starts_at,
                               duration_minutes=duration_minutes, is_circle=True)
    db.session.add(circle)
    db.session.flush()
    audit.record("circle_scheduled", actor=by, target=f"session:{circle.id}")
    return circle


#: How long a circle a member starts lasts.
STARTED_MINUTES = 20


def may_start_circle(user: User, group: TherapyGroup) -> bool:
    """An active member of a group whose facilitators let members start circles (facilitators schedule them)."""
    return (group.members_start_circles and not group.is_closed_for_changes and policy.is_group_member(user, group)
            and policy.can_enter_live_room(user, group))


def set_members_start(by: User, group: TherapyGroup, allowed: bool) -> None:
    policy.require_manage_group(by, group)
    require_open(group)
    group.members_start_circles = bool(allowed)
    db.session.flush()
    audit.record("circles_allowed", actor=by, target=f"group:{group.id}", details={"members_start_circles": allowed})


def start_circle(by: User, group: TherapyGroup) -> SessionOccurrence:
    """A circle starting now, by a member the group allows; the one on now, if there is one already."""
    if not may_start_circle(by, group):
        raise GroupError(_("Members of this group cannot start a check-in circle."), code="forbidden")
    on_now = next((c for c in circles_on_now(by) if c.group_id == group.id), None)
    if on_now is not None:
        return on_now
    circle = SessionOccurrence(group_id=group.id, recurrence_id=None, starts_at=utcnow(),
                               duration_minutes=STARTED_MINUTES, is_circle=True)
    db.session.add(circle)
    db.session.flush()
    audit.record("circle_started", actor=by, target=f"session:{circle.id}")
    return circle


def cancel_circle(by: User, circle: SessionOccurrence) -> None:
    policy.require_manage_group(by, circle.group)
    circle.status = OccurrenceStatus.CANCELLED
    db.session.flush()
    audit.record("circle_cancelled", actor=by, target=f"session:{circle.id}")


def circle_in_organisation(circle_id: int, organisation_id: int | None) -> SessionOccurrence | None:
    return db.session.scalar(
        select(SessionOccurrence).join(TherapyGroup)
        .where(SessionOccurrence.id == circle_id, SessionOccurrence.is_circle.is_(True),
               TherapyGroup.organisation_id == organisation_id)
        .options(contains_eager(SessionOccurrence.group)))


def is_on(circle: SessionOccurrence, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return circle.status == OccurrenceStatus.SCHEDULED and circle.starts_at <= now < circle.ends_at


def circles_to_come(group: TherapyGroup, limit: int = 10) -> list[SessionOccurrence]:
    """The group's circles that have not ended (the one on now first), soonest first."""
    now = utcnow()
    found = db.session.scalars(
        select(SessionOccurrence)
        .where(SessionOccurrence.group_id == group.id, SessionOccurrence.is_circle.is_(True),
               SessionOccurrence.status == OccurrenceStatus.SCHEDULED,
               SessionOccurrence.starts_at >= now - timedelta(minutes=LONGEST))
        .order_by(SessionOccurrence.starts_at, SessionOccurrence.id).limit(limit * 2))
    return [c for c in found if c.ends_at > now][:limit]


def circles_on_now(user: User) -> list[SessionOccurrence]:
    """The circles on now in the groups the member is active in."""
    now = utcnow()
    groups = select(Membership.group_id).where(Membership.user_id == user.id,
                                               Membership.status == MembershipStatus.ACTIVE)
    found = db.session.scalars(
        select(SessionOccurrence).join(TherapyGroup)
        .where(SessionOccurrence.group_id.in_(groups), SessionOccurrence.is_circle.is_(True),
               SessionOccurrence.status == OccurrenceStatus.SCHEDULED,
               SessionOccurrence.starts_at <= now, SessionOccurrence.starts_at >= now - timedelta(minutes=LONGEST),
               TherapyGroup.organisation_id == user.organisation_id)
        .options(contains_eager(SessionOccurrence.group))
        .order_by(SessionOccurrence.starts_at))
    return [c for c in found if c.ends_at > now and policy.can_enter_live_room(user, c.group)]


def patient_panel(user: User) -> dict:
    """The member's home page: "A check-in circle is on now", with a way in."""
    return {"circles": circles_on_now(user)}
