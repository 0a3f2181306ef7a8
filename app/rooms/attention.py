"""Members who may need a word from their facilitator, for the facilitator's home page: who missed their last two
sessions, whose moods have been low lately, and whose last two questionnaires closed unanswered. Three statements
however many groups and members there are."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, false, func, or_, select

from app.accounts.models import User
from app.extensions import db
from app.groups import queries as group_queries
from app.groups.models import (
    JOINED,
    MISSED,
    Attendance,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    SessionOccurrence,
    TherapyGroup,
)
from app.measures.instruments import definition
from app.measures.models import Measure, MeasureStatus
from app.models_base import utcnow
from app.rooms.models import CheckIn

#: A mood at or below this (of 10) is low; the quick choices on the home page call 3 "Low" and 1 "Very low".
LOW_MOOD_AT_MOST = 3
#: How far back low moods are counted, and how many make a pattern rather than one hard day.
LOW_MOOD_DAYS = 14
LOW_MOOD_TIMES = 2


@dataclass
class Concern:
    """One member who may need a word: in which of the facilitator's groups, and why."""

    user_id: int
    name: str
    group: TherapyGroup
    #: The two missed sessions, latest first, when the member missed their last two.
    missed: list[SessionOccurrence] = field(default_factory=list)
    #: Low check-ins in the last LOW_MOOD_DAYS days: how many, the lowest mood, and when the latest was.
    low_moods: int = 0
    lowest_mood: int | None = None
    latest_low: datetime | None = None
    #: The questionnaires (their codes) whose last two windows closed unanswered.
    missed_measures: list[str] = field(default_factory=list)


def members_to_contact(groups: list[TherapyGroup]) -> list[Concern]:
    """Active members of these groups whose last two sessions with attendance recorded were both missed (an excused
    absence is neither joined nor missed, as in the engagement figures), sessions over before they joined not
    counting; and active or paused members who checked in LOW_MOOD_TIMES times or more with a mood of
    LOW_MOOD_AT_MOST or less in the last LOW_MOOD_DAYS days (between sessions, or in a session of these groups).
    Sorted by name; a member of two of these groups is named once, under the first group that gave a reason."""
    by_id = {g.id: g for g in groups}
    if not by_id:
        return []
    concerns: dict[int, Concern] = {}
    for group_id, user_id, name, missed in _missed_last_two(list(by_id)):
        concerns.setdefault(user_id, Concern(user_id, name, by_id[group_id])).missed = missed
    for group_id, user_id, name, count, lowest, latest in _low_moods(list(by_id)):
        concern = concerns.setdefault(user_id, Concern(user_id, name, by_id[group_id]))
        concern.low_moods, concern.lowest_mood, concern.latest_low = count, lowest, latest
    for group_id, user_id, name, instrument in _missed_measures(list(by_id)):
        concerns.setdefault(user_id, Concern(user_id, name, by_id[group_id])).missed_measures.append(instrument)
    return sorted(concerns.values(), key=lambda c: (c.name.casefold(), c.user_id))


def _missed_last_two(group_ids: list[int]):
    """(group id, user id, name, [latest, previous]) for each active member whose last two counted sessions were
    missed: one statement, ranking each member's joined-or-missed records newest first."""
    now = utcnow()
    ranked = (
        select(Attendance.user_id, Attendance.status, SessionOccurrence.id.label("occurrence_id"),
               SessionOccurrence.group_id,
               func.row_number().over(partition_by=(SessionOccurrence.group_id, Attendance.user_id),
                                      order_by=(SessionOccurrence.starts_at.desc(),
                                                SessionOccurrence.id.desc())).label("rank"))
        .join(SessionOccurrence, SessionOccurrence.id == Attendance.occurrence_id)
        .where(SessionOccurrence.group_id.in_(group_ids), SessionOccurrence.status == OccurrenceStatus.SCHEDULED,
               SessionOccurrence.starts_at <= now, Attendance.status.in_([*JOINED, *MISSED]))
        .subquery()
    )
    rows = db.session.execute(
        select(ranked.c.group_id, ranked.c.user_id, ranked.c.status, ranked.c.rank, SessionOccurrence,
               Membership.joined_at, Membership.preferred_name, User.display_name)
        .join(SessionOccurrence, SessionOccurrence.id == ranked.c.occurrence_id)
        .join(Membership, and_(Membership.group_id == ranked.c.group_id, Membership.user_id == ranked.c.user_id))
        .join(User, User.id == ranked.c.user_id)
        .where(ranked.c.rank <= 2, Membership.status == MembershipStatus.ACTIVE)
        .order_by(ranked.c.group_id, ranked.c.user_id, ranked.c.rank))
    last_two: dict[tuple[int, int], list] = {}
    for group_id, user_id, status, _rank, occurrence, joined_at, preferred, display in rows:
        last_two.setdefault((group_id, user_id), []).append((status, occurrence, joined_at, preferred or display))
    for (group_id, user_id), records in last_two.items():
        counted = [r for r in records if r[2] is None or r[1].ends_at >= r[2]]
        if len(counted) == 2 and all(status in MISSED for status, *_rest in counted):
            yield group_id, user_id, counted[0][3], [occurrence for _status, occurrence, *_rest in counted]


def _low_moods(group_ids: list[int]):
    """(group id, user id, name, count, lowest, latest) for each member with a pattern of low moods: one statement,
    the check-ins counted per member and then named by their first of these groups."""
    in_these_groups = select(SessionOccurrence.id).where(SessionOccurrence.group_id.in_(group_ids))
    members = select(Membership.user_id).where(Membership.group_id.in_(group_ids),
                                               Membership.status.in_(group_queries.MEMBER_STATUSES))
    low = (
        select(CheckIn.user_id, func.count().label("count"), func.min(CheckIn.mood).label("lowest"),
               func.max(CheckIn.created_at).label("latest"))
        .where(CheckIn.user_id.in_(members), CheckIn.passed == false(), CheckIn.mood <= LOW_MOOD_AT_MOST,
               CheckIn.created_at >= utcnow() - timedelta(days=LOW_MOOD_DAYS),
               or_(CheckIn.occurrence_id.is_(None), CheckIn.occurrence_id.in_(in_these_groups)))
        .group_by(CheckIn.user_id).having(func.count() >= LOW_MOOD_TIMES)
        .subquery()
    )
    rows = db.session.execute(
        select(Membership.group_id, low.c.user_id, Membership.preferred_name, User.display_name, low.c.count,
               low.c.lowest, low.c.latest)
        .join(Membership, and_(Membership.user_id == low.c.user_id, Membership.group_id.in_(group_ids),
                               Membership.status.in_(group_queries.MEMBER_STATUSES)))
        .join(User, User.id == low.c.user_id)
        .order_by(low.c.user_id, Membership.group_id))
    seen: set[int] = set()
    for group_id, user_id, preferred, display, count, lowest, latest in rows:
        if user_id not in seen:
            seen.add(user_id)
            yield group_id, user_id, preferred or display, count, lowest, latest


def _missed_measures(group_ids: list[int]):
    """(group id, user id, name, instrument) for each active member whose last two ended questionnaires of one kind
    in one of these groups both closed unanswered (a due one past its window reads as missed before the sweep
    writes it down; withdrawn ones do not count): one statement."""
    now = utcnow()
    ended = or_(Measure.status.in_([MeasureStatus.DONE, MeasureStatus.MISSED]),
                and_(Measure.status == MeasureStatus.DUE, Measure.closes_at <= now))
    ranked = (
        select(Measure.group_id, Measure.patient_id, Measure.instrument, Measure.status,
               func.row_number().over(partition_by=(Measure.group_id, Measure.patient_id, Measure.instrument),
                                      order_by=(Measure.closes_at.desc(), Measure.id.desc())).label("rank"))
        .where(Measure.group_id.in_(group_ids), ended)
        .subquery()
    )
    rows = db.session.execute(
        select(ranked.c.group_id, ranked.c.patient_id, ranked.c.instrument, Membership.preferred_name,
               User.display_name)
        .join(Membership, and_(Membership.group_id == ranked.c.group_id, Membership.user_id == ranked.c.patient_id))
        .join(User, User.id == ranked.c.patient_id)
        .where(ranked.c.rank <= 2, ranked.c.status != MeasureStatus.DONE, Membership.status == MembershipStatus.ACTIVE)
        .group_by(ranked.c.group_id, ranked.c.patient_id, ranked.c.instrument, Membership.preferred_name,
                  User.display_name)
        .having(func.count() == 2)
        .order_by(ranked.c.group_id, ranked.c.patient_id, ranked.c.instrument))
    for group_id, user_id, instrument, preferred, display in rows:
        yield group_id, user_id, preferred or display, definition(instrument).code
