"""Reads for group pages, dashboards and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import has_request_context, request
from sqlalchemy import and_, event, func, or_, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from app.accounts.models import Invitation, User
from app.extensions import db
from app.groups.models import (
    JOINED,
    MISSED,
    Attendance,
    GroupFacilitator,
    GroupStatus,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    SessionOccurrence,
    TherapyGroup,
)
from app.models_base import utcnow

MEMBER_STATUSES = (MembershipStatus.ACTIVE, MembershipStatus.PAUSED)
WAITING_STATUSES = (MembershipStatus.INVITED, MembershipStatus.WAITLISTED)


@dataclass(frozen=True)
class Relation:
    """How one account relates to one group: whether it facilitates it, and its membership (any status) if any."""

    facilitates: bool
    membership: Membership | None

    @property
    def kind(self) -> str | None:
        """'facilitator', 'member' (active or paused), 'waiting' (invited or waitlisted), or None."""
        if self.facilitates:
            return "facilitator"
        status = self.membership.status if self.membership is not None else None
        if status in MEMBER_STATUSES:
            return "member"
        if status in WAITING_STATUSES:
            return "waiting"
        return None


def relation(user_id: int, group_id: int) -> Relation:
    """The account's relation to the group, read in one statement and kept for the rest of the request or socket
    event (every rule asked about this group then judges the same row). A write to a membership or to the group's
    facilitators, a commit or a rollback forgets what was kept."""
    known = _relations()
    key = (user_id, group_id)
    if key not in known:
        row = db.session.execute(
            select(GroupFacilitator.id, Membership).select_from(TherapyGroup)
            .outerjoin(GroupFacilitator, and_(GroupFacilitator.group_id == TherapyGroup.id,
                                              GroupFacilitator.user_id == user_id))
            .outerjoin(Membership, and_(Membership.group_id == TherapyGroup.id, Membership.user_id == user_id))
            .where(TherapyGroup.id == group_id)
        ).first()
        known[key] = Relation(row is not None and row[0] is not None, row[1] if row is not None else None)
    return known[key]


def _relations() -> dict:
    """What this request (or socket event: each has a request of its own) has read of relations; outside a request,
    nothing is kept."""
    if not has_request_context():
        return {}
    if not hasattr(request, "momentum_relations"):
        request.momentum_relations = {}
    return request.momentum_relations


def _forget_relations() -> None:
    if has_request_context() and hasattr(request, "momentum_relations"):
        request.momentum_relations.clear()


@event.listens_for(Session, "after_flush")
def _forget_relations_on_change(session, _flush_context) -> None:
    if any(isinstance(obj, (Membership, GroupFacilitator))
           for obj in (*session.new, *session.dirty, *session.deleted)):
        _forget_relations()


@event.listens_for(Session, "after_transaction_end")
def _forget_relations_at_the_end(_session, transaction) -> None:
    if transaction.parent is None:  # the whole transaction, committed or rolled back (not a savepoint within it)
        _forget_relations()


def group_in_organisation(group_id: int, organisation_id: int | None) -> TherapyGroup | None:
    return db.session.scalar(select(TherapyGroup).where(TherapyGroup.id == group_id,
                                                        TherapyGroup.organisation_id == organisation_id))


def occurrence_in_organisation(occurrence_id: int, organisation_id: int | None) -> SessionOccurrence | None:
    return db.session.scalar(
        select(SessionOccurrence).join(TherapyGroup)
        .where(SessionOccurrence.id == occurrence_id, TherapyGroup.organisation_id == organisation_id)
        .options(contains_eager(SessionOccurrence.group))
    )


def membership_in_group(membership_id: int, group: TherapyGroup) -> Membership | None:
    return db.session.scalar(select(Membership).where(Membership.id == membership_id,
                                                      Membership.group_id == group.id))


def membership_of(user: User, group: TherapyGroup) -> Membership | None:
    return relation(user.id, group.id).membership


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
        .options(contains_eager(Membership.group).selectinload(TherapyGroup.agreements),
                 selectinload(Membership.agreement))
        .order_by(TherapyGroup.name)
    ))


#: Groups whose sessions no longer take place.
ENDED = (GroupStatus.FINISHED, GroupStatus.CANCELLED)


def occurrences(group: TherapyGroup, start: datetime | None = None, end: datetime | None = None,
                include_cancelled: bool = True) -> list[SessionOccurrence]:
    query = select(SessionOccurrence).where(SessionOccurrence.group_id == group.id,
                                            SessionOccurrence.is_circle.is_(False))
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
        select(SessionOccurrence).join(TherapyGroup)
        .where(SessionOccurrence.group_id.in_(group_ids), SessionOccurrence.starts_at >= now - timedelta(hours=8),
               TherapyGroup.status.not_in(ENDED), SessionOccurrence.is_circle.is_(False))
        .options(contains_eager(SessionOccurrence.group))
        .order_by(SessionOccurrence.starts_at).limit(limit * 2)
    )
    return [o for o in candidates if o.ends_at > now][:limit]


def next_occurrences(groups: list[TherapyGroup], with_agenda: bool = False) -> dict[int, SessionOccurrence]:
    """Each group's next session that takes place (the one under way included), in one query for every group.

    A group that has finished or was cancelled has none, whatever its sessions say.
    """
    ids = [g.id for g in groups if g.status not in ENDED]
    if not ids:
        return {}
    now = utcnow()
    # A session under way started at most 8 hours ago (the longest a session lasts); the first three of each group
    # are enough to find the first one that has not ended.
    ranked = (
        select(SessionOccurrence.id,
               func.row_number().over(partition_by=SessionOccurrence.group_id,
                                      order_by=(SessionOccurrence.starts_at, SessionOccurrence.id)).label("rank"))
        .where(SessionOccurrence.group_id.in_(ids), SessionOccurrence.status == OccurrenceStatus.SCHEDULED,
               SessionOccurrence.starts_at >= now - timedelta(hours=8), SessionOccurrence.is_circle.is_(False))
        .subquery()
    )
    query = (select(SessionOccurrence).join(ranked, ranked.c.id == SessionOccurrence.id).where(ranked.c.rank <= 3)
             .order_by(SessionOccurrence.starts_at, SessionOccurrence.id))
    if with_agenda:
        query = query.options(selectinload(SessionOccurrence.agenda_items))
    result: dict[int, SessionOccurrence] = {}
    for occurrence in db.session.scalars(query):
        if occurrence.ends_at > now:
            result.setdefault(occurrence.group_id, occurrence)
    return result


def next_occurrence(group: TherapyGroup) -> SessionOccurrence | None:
    return next_occurrences([group]).get(group.id)


def active_members(group: TherapyGroup) -> list[Membership]:
    """Active members sorted by the name the group knows them by."""
    return active_members_of([group]).get(group.id, [])


def active_members_of(groups: list[TherapyGroup]) -> dict[int, list[Membership]]:
    """Active members of each group, with their accounts, sorted by the name the group knows them by."""
    result: dict[int, list[Membership]] = {g.id: [] for g in groups}
    if not groups:
        return result
    for membership in db.session.scalars(
            select(Membership)
            .where(Membership.group_id.in_(list(result)), Membership.status == MembershipStatus.ACTIVE)
            .options(selectinload(Membership.user))):
        result[membership.group_id].append(membership)
    for members in result.values():
        members.sort(key=lambda m: m.shown_name.casefold())
    return result


def memberships_with_intake(group: TherapyGroup) -> list[Membership]:
    """Every membership of the group with its account and accepted agreement, for the facilitator's page."""
    return list(db.session.scalars(select(Membership).where(Membership.group_id == group.id)
                                   .options(selectinload(Membership.user), selectinload(Membership.agreement))))


def waitlist(group: TherapyGroup) -> list[Membership]:
    return waitlists([group])[group.id]


def waitlists(groups: list[TherapyGroup]) -> dict[int, list[Membership]]:
    """Who is waiting for each group, longest first."""
    result: dict[int, list[Membership]] = {g.id: [] for g in groups}
    if not groups:
        return result
    for membership in db.session.scalars(
        select(Membership)
        .where(Membership.group_id.in_(list(result)), Membership.status == MembershipStatus.WAITLISTED)
        .options(selectinload(Membership.user)).order_by(Membership.waitlisted_at, Membership.id)
    ):
        result[membership.group_id].append(membership)
    return result


def attendance_for(occurrence: SessionOccurrence) -> dict[int, Attendance]:
    return {a.user_id: a for a in db.session.scalars(
        select(Attendance).where(Attendance.occurrence_id == occurrence.id))}


def attendance_sheet(occurrence: SessionOccurrence) -> list[tuple[Membership, Attendance | None]]:
    records = attendance_for(occurrence)
    return [(m, records.get(m.user_id)) for m in active_members(occurrence.group)]


def past_sessions(group: TherapyGroup, last: int = 8) -> list[SessionOccurrence]:
    """The last `last` sessions that took place and have ended (not cancelled), oldest first."""
    return past_sessions_of([group.id], last)[group.id]


#: How many sessions of one group may be under way at once, at most, as far as the lists of past sessions care: a
#: session on now is not past (it has its own place on the group's page, and no attendance to count yet).
AT_ONCE = 4


def past_sessions_of(group_ids: list[int], last: int) -> dict[int, list[SessionOccurrence]]:
    """The last `last` sessions of each group that have ended (not cancelled), oldest first, in one query."""
    result: dict[int, list[SessionOccurrence]] = {group_id: [] for group_id in group_ids}
    if not group_ids:
        return result
    now = utcnow()
    ranked = (
        select(SessionOccurrence.id,
               func.row_number().over(partition_by=SessionOccurrence.group_id,
                                      order_by=(SessionOccurrence.starts_at.desc(),
                                                SessionOccurrence.id.desc())).label("rank"))
        .where(SessionOccurrence.group_id.in_(group_ids), SessionOccurrence.status == OccurrenceStatus.SCHEDULED,
               SessionOccurrence.starts_at <= now, SessionOccurrence.is_circle.is_(False))
        .subquery()
    )
    # Ranked by start, the sessions still under way come first: a few more than `last` leaves room to drop them.
    for occurrence in db.session.scalars(
            select(SessionOccurrence).join(ranked, ranked.c.id == SessionOccurrence.id)
            .where(ranked.c.rank <= last + AT_ONCE).order_by(SessionOccurrence.starts_at, SessionOccurrence.id)):
        if occurrence.ends_at <= now:
            result[occurrence.group_id].append(occurrence)
    return {group_id: sessions[-last:] if last else [] for group_id, sessions in result.items()}


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
    return engagement_of([group], last)[group.id]


def engagement_of(groups: list[TherapyGroup], last: int = 8) -> dict[int, GroupEngagement]:
    """engagement() for several groups, in a fixed number of queries however many groups there are."""
    sessions_by_group = past_sessions_of([g.id for g in groups], last)
    members_by_group = active_members_of(groups)
    ids = [s.id for sessions in sessions_by_group.values() for s in sessions]
    records: dict[tuple[int, int], Attendance] = {}
    if ids:
        for record in db.session.scalars(select(Attendance).where(Attendance.occurrence_id.in_(ids))):
            records[(record.occurrence_id, record.user_id)] = record
    result = {}
    for group in groups:
        sessions = sessions_by_group[group.id]
        rows = []
        for membership in members_by_group[group.id]:
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
            rows.append(MemberEngagement(membership, joined, counted, streak))
        result[group.id] = GroupEngagement(sessions, rows)
    return result


def member_attendance_summary(user: User, group: TherapyGroup, last: int = 6) -> tuple[int, int]:
    """(joined, recorded) over the last sessions since this member joined, in neutral terms for the member."""
    membership = membership_of(user, group)
    if membership is None:
        return 0, 0
    return attendance_summaries(user, [membership], last)[group.id]


def attendance_summaries(user: User, memberships: list[Membership], last: int = 6) -> dict[int, tuple[int, int]]:
    """member_attendance_summary() for each of this member's groups, in two queries."""
    sessions_by_group = past_sessions_of([m.group_id for m in memberships], last)
    joined_at = {m.group_id: m.joined_at for m in memberships}
    # As in engagement(): a session that was over before this member joined does not count, whatever was recorded.
    counted = {s.id: group_id for group_id, sessions in sessions_by_group.items() for s in sessions
               if joined_at[group_id] is None or s.ends_at >= joined_at[group_id]}
    result = {m.group_id: (0, 0) for m in memberships}
    if not counted:
        return result
    for record in db.session.scalars(select(Attendance).where(Attendance.occurrence_id.in_(list(counted)),
                                                              Attendance.user_id == user.id)):
        group_id = counted[record.occurrence_id]
        joined, recorded = result[group_id]
        result[group_id] = (joined + (record.status in JOINED), recorded + 1)
    return result


def calendar_occurrences(user: User) -> list[SessionOccurrence]:
    """Every session of the groups this account runs or attends, for its calendar feed."""
    facilitated = select(GroupFacilitator.group_id).where(GroupFacilitator.user_id == user.id)
    attended = select(Membership.group_id).where(Membership.user_id == user.id,
                                                 Membership.status.in_(MEMBER_STATUSES))
    return list(db.session.scalars(
        select(SessionOccurrence)
        .where(or_(SessionOccurrence.group_id.in_(facilitated), SessionOccurrence.group_id.in_(attended)))
        .where(SessionOccurrence.starts_at >= utcnow() - timedelta(days=90), SessionOccurrence.is_circle.is_(False))
        .options(selectinload(SessionOccurrence.group))
        .order_by(SessionOccurrence.starts_at)
    ))


def facilitator_dashboard(user: User) -> dict:
    """My groups, each with its next session, attendance and engagement risk and its waitlist; ended groups last.

    A fixed number of queries however many groups: one per kind of row, for every group at once.
    """
    groups = groups_for_facilitator(user)
    open_groups = [g for g in groups if not g.is_closed_for_changes]
    engagement_by_group = engagement_of(open_groups)
    waiting = waitlists(open_groups)
    upcoming = next_occurrences(open_groups)
    return {
        "groups": groups,
        "cards": [{"group": g, "next_session": upcoming.get(g.id), "engagement": engagement_by_group[g.id],
                   "waiting": len(waiting[g.id])} for g in open_groups],
        "ended": [g for g in groups if g.is_closed_for_changes],
        "engagement": [(g, engagement_by_group[g.id]) for g in open_groups],
    }


def patient_dashboard(user: User) -> dict:
    """Each of my groups: the next session with its agenda (and why we do each part), how many of the last sessions
    I joined, and the agreement I accepted. A fixed number of queries however many groups."""
    memberships = memberships_for_patient(user)
    members = [m for m in memberships if m.status in MEMBER_STATUSES]
    upcoming = next_occurrences([m.group for m in members], with_agenda=True)
    summaries = attendance_summaries(user, members)
    entries = []
    for membership in memberships:
        group = membership.group
        member = membership.status in MEMBER_STATUSES
        entries.append({
            "membership": membership,
            "group": group,
            "ended": group.is_closed_for_changes,
            "next_session": upcoming.get(group.id) if member else None,
            "summary": summaries.get(group.id, (0, 0)) if member else (0, 0),
        })
    return {"entries": entries}


def agreements_to_read(user: User) -> dict:
    """The groups whose agreement changed since this member accepted it, for the top of their home page."""
    return {"agreement_changed": [
        membership for membership in memberships_for_patient(user)
        if membership.status in MEMBER_STATUSES and not membership.group.is_closed_for_changes
        and membership.group.current_agreement is not None
        and membership.agreement_id != membership.group.current_agreement.id]}


def membership_in_organisation(membership_id: int, organisation_id: int | None) -> Membership | None:
    return db.session.scalar(select(Membership).join(TherapyGroup).where(
        Membership.id == membership_id, TherapyGroup.organisation_id == organisation_id))


def group_invitations(group: TherapyGroup) -> list:
    return list(db.session.scalars(
        select(Invitation).where(Invitation.organisation_id == group.organisation_id,
                                 Invitation.context["group_id"].as_integer() == group.id)
        .order_by(Invitation.created_at.desc())
    ))


def facilitates_member(facilitator_id: int, patient_id: int, organisation_id: int | None) -> bool:
    """Whether this facilitator runs a group the patient is a member of (active or paused)."""
    return db.session.scalar(
        select(Membership.id).join(TherapyGroup).join(GroupFacilitator, GroupFacilitator.group_id == TherapyGroup.id)
        .where(Membership.user_id == patient_id, Membership.status.in_(MEMBER_STATUSES),
               GroupFacilitator.user_id == facilitator_id, TherapyGroup.organisation_id == organisation_id)
        .limit(1)) is not None
