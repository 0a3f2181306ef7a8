"""Reads for group pages, dashboards and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from app.accounts.models import User
from app.extensions import db
from app.groups.models import (
    JOINED,
    MISSED,
    Attendance,
    GroupFacilitator,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    SessionOccurrence,
    TherapyGroup,
)
from app.models_base import utcnow

MEMBER_STATUSES = (MembershipStatus.ACTIVE, MembershipStatus.PAUSED)
WAITING_STATUSES = (MembershipStatus.INVITED, MembershipStatus.WAITLISTED)


def group_relation(user_id: int, group_id: int) -> str | None:
    """How an account relates to a group: 'facilitator', 'member', 'waiting' or None."""
    if db.session.scalar(select(GroupFacilitator.id).where(GroupFacilitator.group_id == group_id,
                                                           GroupFacilitator.user_id == user_id)):
        return "facilitator"
    status = db.session.scalar(select(Membership.status).where(Membership.group_id == group_id,
                                                               Membership.user_id == user_id))
    if status in MEMBER_STATUSES:
        return "member"
    if status in WAITING_STATUSES:
        return "waiting"
    return None


def group_in_organisation(group_id: int, organisation_id: int | None) -> TherapyGroup | None:
    return db.session.scalar(select(TherapyGroup).where(TherapyGroup.id == group_id,
                                                        TherapyGroup.organisation_id == organisation_id))


def occurrence_in_organisation(occurrence_id: int, organisation_id: int | None) -> SessionOccurrence | None:
    return db.session.scalar(
        select(SessionOccurrence).join(TherapyGroup)
        .where(SessionOccurrence.id == occurrence_id, TherapyGroup.organisation_id == organisation_id)
    )


def membership_in_group(membership_id: int, group: TherapyGroup) -> Membership | None:
    return db.session.scalar(select(Membership).where(Membership.id == membership_id,
                                                      Membership.group_id == group.id))


def membership_of(user: User, group: TherapyGroup) -> Membership | None:
    return db.session.scalar(select(Membership).where(Membership.group_id == group.id,
                                                      Membership.user_id == user.id))


def groups_for_facilitator(user: User) -> list[TherapyGroup]:
    return list(db.session.scalars(
        select(TherapyGroup).join(GroupFacilitator)
        .where(GroupFacilitator.user_id == user.id, TherapyGroup.organisation_id == user.organisation_id)
        .order_by(TherapyGroup.name)
    ))


def memberships_for_patient(user: User) -> list[Membership]:
    return list(db.session.scalars(
        select(Membership).join(TherapyGroup)
        .where(Membership.user_id == user.id, TherapyGroup.organisation_id == user.organisation_id,
               Membership.status.in_([*MEMBER_STATUSES, *WAITING_STATUSES]))
        .order_by(TherapyGroup.name)
    ))


def facilitators_of_organisation(organisation_id: int) -> list[User]:
    from app.accounts.models import Role, RoleName

    return list(db.session.scalars(
        select(User).join(Role).where(Role.organisation_id == organisation_id, Role.name == RoleName.FACILITATOR,
                                      User.active.is_(True)).order_by(User.display_name)
    ))


def occurrences(group: TherapyGroup, start: datetime | None = None, end: datetime | None = None,
                include_cancelled: bool = True) -> list[SessionOccurrence]:
    query = select(SessionOccurrence).where(SessionOccurrence.group_id == group.id)
    if start is not None:
        query = query.where(SessionOccurrence.starts_at >= start)
    if end is not None:
        query = query.where(SessionOccurrence.starts_at < end)
    if not include_cancelled:
        query = query.where(SessionOccurrence.status == OccurrenceStatus.SCHEDULED)
    return list(db.session.scalars(query.order_by(SessionOccurrence.starts_at)))


def upcoming_for_groups(group_ids: list[int], limit: int = 10) -> list[SessionOccurrence]:
    """Next sessions, the one under way included, soonest first."""
    if not group_ids:
        return []
    now = utcnow()
    candidates = db.session.scalars(
        select(SessionOccurrence)
        .where(SessionOccurrence.group_id.in_(group_ids), SessionOccurrence.starts_at >= now - timedelta(hours=8))
        .order_by(SessionOccurrence.starts_at).limit(limit * 2)
    )
    return [o for o in candidates if o.ends_at > now][:limit]


def next_occurrence(group: TherapyGroup) -> SessionOccurrence | None:
    now = utcnow()
    for occurrence in db.session.scalars(
        select(SessionOccurrence)
        .where(SessionOccurrence.group_id == group.id, SessionOccurrence.status == OccurrenceStatus.SCHEDULED,
               SessionOccurrence.starts_at >= now - timedelta(hours=8))
        .order_by(SessionOccurrence.starts_at).limit(3)
    ):
        if occurrence.ends_at > now:
            return occurrence
    return None


def active_members(group: TherapyGroup) -> list[Membership]:
    """Active members sorted by the name the group knows them by."""
    members = db.session.scalars(select(Membership).where(Membership.group_id == group.id,
                                                          Membership.status == MembershipStatus.ACTIVE))
    return sorted(members, key=lambda m: m.shown_name.casefold())


def waitlist(group: TherapyGroup) -> list[Membership]:
    return list(db.session.scalars(
        select(Membership).where(Membership.group_id == group.id, Membership.status == MembershipStatus.WAITLISTED)
        .order_by(Membership.waitlisted_at, Membership.id)
    ))


def attendance_for(occurrence: SessionOccurrence) -> dict[int, Attendance]:
    return {a.user_id: a for a in db.session.scalars(
        select(Attendance).where(Attendance.occurrence_id == occurrence.id))}


def attendance_sheet(occurrence: SessionOccurrence) -> list[tuple[Membership, Attendance | None]]:
    records = attendance_for(occurrence)
    return [(m, records.get(m.user_id)) for m in active_members(occurrence.group)]


def past_sessions(group: TherapyGroup, last: int = 8) -> list[SessionOccurrence]:
    """The last `last` sessions that took place (not cancelled), oldest first."""
    rows = list(db.session.scalars(
        select(SessionOccurrence)
        .where(SessionOccurrence.group_id == group.id, SessionOccurrence.status == OccurrenceStatus.SCHEDULED,
               SessionOccurrence.starts_at <= utcnow())
        .order_by(SessionOccurrence.starts_at.desc()).limit(last)
    ))
    return list(reversed(rows))


@dataclass
class MemberEngagement:
    membership: Membership
    joined: int
    counted: int
    missed_in_a_row: int

    @property
    def rate(self) -> float | None:
        return self.joined / self.counted if self.counted else None


@dataclass
class GroupEngagement:
    sessions: list[SessionOccurrence]
    members: list[MemberEngagement]

    @property
    def rate(self) -> float | None:
        joined = sum(m.joined for m in self.members)
        counted = sum(m.counted for m in self.members)
        return joined / counted if counted else None

    @property
    def at_risk(self) -> list[MemberEngagement]:
        return [m for m in self.members if m.missed_in_a_row >= 2]


def engagement(group: TherapyGroup, last: int = 8) -> GroupEngagement:
    """Attendance over the last sessions: a rate per member and per group, and the current run of missed sessions.

    Only sessions since a member joined count for them; excused absences are neither joined nor missed.
    """
    sessions = past_sessions(group, last)
    ids = [s.id for s in sessions]
    records: dict[tuple[int, int], Attendance] = {}
    if ids:
        for record in db.session.scalars(select(Attendance).where(Attendance.occurrence_id.in_(ids))):
            records[(record.occurrence_id, record.user_id)] = record
    result = []
    for membership in active_members(group):
        joined = counted = streak = 0
        for session in sessions:
            if membership.joined_at and session.ends_at < membership.joined_at:
                continue
            record = records.get((session.id, membership.user_id))
            if record is None:
                continue
            if record.status in JOINED:
                joined += 1
                counted += 1
                streak = 0
            elif record.status in MISSED:
                counted += 1
                streak += 1
        result.append(MemberEngagement(membership, joined, counted, streak))
    return GroupEngagement(sessions, result)


def member_attendance_summary(user: User, group: TherapyGroup, last: int = 6) -> tuple[int, int]:
    """(joined, recorded) over the last sessions since this member joined, in neutral terms for the member."""
    sessions = past_sessions(group, last)
    membership = membership_of(user, group)
    joined_at = membership.joined_at if membership else None
    # As in engagement(): a session that was over before this member joined does not count, whatever was recorded.
    ids = [s.id for s in sessions if joined_at is None or s.ends_at >= joined_at]
    if not ids:
        return 0, 0
    records = list(db.session.scalars(select(Attendance).where(Attendance.occurrence_id.in_(ids),
                                                               Attendance.user_id == user.id)))
    return sum(1 for r in records if r.status in JOINED), len(records)


def calendar_occurrences(user: User) -> list[SessionOccurrence]:
    """Every session of the groups this account runs or attends, for its calendar feed."""
    facilitated = select(GroupFacilitator.group_id).where(GroupFacilitator.user_id == user.id)
    attended = select(Membership.group_id).where(Membership.user_id == user.id,
                                                 Membership.status.in_(MEMBER_STATUSES))
    return list(db.session.scalars(
        select(SessionOccurrence)
        .where(or_(SessionOccurrence.group_id.in_(facilitated), SessionOccurrence.group_id.in_(attended)))
        .where(SessionOccurrence.starts_at >= utcnow() - timedelta(days=90))
        .order_by(SessionOccurrence.starts_at)
    ))


def facilitator_dashboard(user: User) -> dict:
    """My groups, next sessions (today first), attendance and engagement risk per group, and the waitlists."""
    groups = groups_for_facilitator(user)
    open_groups = [g for g in groups if not g.is_closed_for_changes]
    return {
        "groups": groups,
        "upcoming": upcoming_for_groups([g.id for g in open_groups], limit=8),
        "engagement": [(g, engagement(g)) for g in open_groups],
        "waitlists": [(g, waitlist(g)) for g in open_groups],
    }


def patient_dashboard(user: User) -> dict:
    memberships = memberships_for_patient(user)
    entries = []
    for membership in memberships:
        group = membership.group
        entries.append({
            "membership": membership,
            "group": group,
            "next_session": next_occurrence(group) if membership.status in MEMBER_STATUSES else None,
            "summary": member_attendance_summary(user, group) if membership.status in MEMBER_STATUSES else (0, 0),
        })
    return {"entries": entries}


def membership_in_organisation(membership_id: int, organisation_id: int | None) -> Membership | None:
    return db.session.scalar(select(Membership).join(TherapyGroup).where(
        Membership.id == membership_id, TherapyGroup.organisation_id == organisation_id))


def group_invitations(group: TherapyGroup) -> list:
    from app.accounts.models import Invitation

    return list(db.session.scalars(
        select(Invitation).where(Invitation.organisation_id == group.organisation_id,
                                 Invitation.context["group_id"].as_integer() == group.id)
        .order_by(Invitation.created_at.desc())
    ))


def history(user: User, limit: int = 60) -> list:
    """The member's own check-ins, newest first, live and between sessions."""
    from app.groups.models import CheckIn

    return list(db.session.scalars(select(CheckIn).where(CheckIn.user_id == user.id)
                                   .order_by(CheckIn.created_at.desc()).limit(limit)))


def alert_in_organisation(alert_id: int, organisation_id: int | None):
    from app.groups.models import SafetyAlert

    return db.session.scalar(select(SafetyAlert).where(SafetyAlert.id == alert_id,
                                                       SafetyAlert.organisation_id == organisation_id))


def recent_between_session_checkins(group_ids: list[int], limit: int = 20) -> list:
    """Check-ins members of these groups made between sessions, newest first (for their facilitators)."""
    from app.groups.models import CheckIn

    if not group_ids:
        return []
    members = select(Membership.user_id).where(Membership.group_id.in_(group_ids),
                                               Membership.status == MembershipStatus.ACTIVE)
    return list(db.session.scalars(select(CheckIn).where(CheckIn.occurrence_id.is_(None), CheckIn.user_id.in_(members))
                                   .order_by(CheckIn.created_at.desc()).limit(limit)))


def facilitates_member(facilitator_id: int, patient_id: int, organisation_id: int | None) -> bool:
    """Whether this facilitator runs a group the patient is a member of (active or paused)."""
    return db.session.scalar(
        select(Membership.id).join(TherapyGroup).join(GroupFacilitator, GroupFacilitator.group_id == TherapyGroup.id)
        .where(Membership.user_id == patient_id, Membership.status.in_(MEMBER_STATUSES),
               GroupFacilitator.user_id == facilitator_id, TherapyGroup.organisation_id == organisation_id)
        .limit(1)) is not None
