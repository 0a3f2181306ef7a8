"""Reads for the peers pages and API: a member's pairs, the pair space, suggestions and the suitability check for
facilitators, engagement (never content), and the items of a reported concern."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from app.accounts.availability import PartOfDay, local_periods, utc_hours, week_start
from app.accounts.models import User
from app.extensions import db
from app.groups.models import Membership, MembershipStatus, TherapyGroup
from app.models_base import utcnow
from app.peers.models import (
    EndReason,
    MemberResponse,
    PairStatus,
    PeerBlock,
    PeerCheckIn,
    PeerConcern,
    PeerMessage,
    PeerPair,
    PeerPairMember,
    PeerSharedGoal,
)
from app.progress.models import Goal, GoalStatus, SmallWin
from app.rooms.models import SafetyAlert
from app.zones import usable_zone

#: Planned check-ins this long past without a peer check-in bring a gentle nudge.
NUDGE_AFTER = timedelta(hours=12)
#: A peer check-in up to this long before the planned time counts for it.
EARLY_CHECKIN = timedelta(days=2)
SUGGESTIONS = 5
_WORD = re.compile(r"\w{4,}")


def pair_in_organisation(pair_id: int, organisation_id: int | None) -> PeerPair | None:
    return db.session.scalar(select(PeerPair).where(PeerPair.id == pair_id,
                                                    PeerPair.organisation_id == organisation_id))


def pairs_of(user: User) -> list[PeerPair]:
    """The member's pairs, open and proposed first, then the ones that ended (newest first)."""
    pairs = db.session.scalars(
        select(PeerPair).join(PeerPairMember).where(PeerPairMember.user_id == user.id)
        .order_by(PeerPair.proposed_at.desc())).all()
    return sorted(pairs, key=lambda p: p.status == PairStatus.ENDED)


def pending_proposals(user: User) -> list[PeerPair]:
    return [p for p in pairs_of(user) if p.status == PairStatus.PROPOSED
            and p.member(user.id).response == MemberResponse.PENDING]


def pairs_of_group(group: TherapyGroup) -> list[PeerPair]:
    return list(db.session.scalars(select(PeerPair).where(PeerPair.group_id == group.id)
                                   .order_by(PeerPair.proposed_at.desc())))


def shown_name(user_id: int, group_id: int) -> str:
    membership = db.session.scalar(select(Membership).where(Membership.user_id == user_id,
                                                            Membership.group_id == group_id))
    if membership is not None:
        return membership.shown_name
    user = db.session.get(User, user_id)
    return user.display_name if user else ""


def status_for(pair: PeerPair, viewer_id: int) -> str:
    """What a member is told of the pair's state. The other's answer, and why a pair ended, stay private: a decline
    reads "not matched this time" to the other, and a block or a leave reads as an ending."""
    me = pair.member(viewer_id)
    if pair.status == PairStatus.ENDED:
        if pair.ended_reason == EndReason.DECLINED:
            return "declined" if me and me.response == MemberResponse.DECLINED else "not_matched"
        return "ended"
    if pair.status == PairStatus.PROPOSED:
        return "answered" if me and me.response == MemberResponse.ACCEPTED else "proposed"
    if pair.status == PairStatus.PAUSED:
        return "paused_by_me" if me and me.paused_at else "paused"
    return "active"


# The suitability check and suggestions -------------------------------------------------------------------------------


def _active_member_ids(group: TherapyGroup) -> set[int]:
    return set(db.session.scalars(select(Membership.user_id).where(Membership.group_id == group.id,
                                                                   Membership.status == MembershipStatus.ACTIVE)))


def blocked_between(a_id: int, b_id: int) -> bool:
    return db.session.scalar(select(func.count(PeerBlock.id)).where(or_(
        (PeerBlock.blocker_id == a_id) & (PeerBlock.blocked_id == b_id),
        (PeerBlock.blocker_id == b_id) & (PeerBlock.blocked_id == a_id)))) > 0


def _open_alert_ids(user_ids: list[int]) -> set[int]:
    return set(db.session.scalars(select(SafetyAlert.patient_id).where(SafetyAlert.patient_id.in_(user_ids),
                                                                       SafetyAlert.acknowledged_at.is_(None))))


def open_pair_between(a_id: int, b_id: int) -> PeerPair | None:
    """A proposed, active or paused pair the two share."""
    mine = select(PeerPairMember.pair_id).where(PeerPairMember.user_id == a_id)
    return db.session.scalar(
        select(PeerPair).join(PeerPairMember)
        .where(PeerPair.id.in_(mine), PeerPairMember.user_id == b_id,
               PeerPair.status.in_((PairStatus.PROPOSED, PairStatus.ACTIVE, PairStatus.PAUSED))))


def suitability(group: TherapyGroup, a_id: int, b_id: int) -> dict[str, bool]:
    """Each check of a proposal and whether it passed: both are active members of this group, neither blocked the
    other, neither is under an open safety alert, and they are not paired already."""
    active = _active_member_ids(group)
    alerts = _open_alert_ids([a_id, b_id])
    return {"two_people": a_id != b_id,
            "both_active": a_id in active and b_id in active,
            "no_block": not blocked_between(a_id, b_id),
            "no_open_alert": not alerts,
            "not_paired": open_pair_between(a_id, b_id) is None}


@dataclass(frozen=True)
class Suggestion:
    a: Membership
    b: Membership
    shared_words: tuple[str, ...]
    same_language: bool
    #: Hours of a week both are usually free, compared in UTC.
    free_hours: int = 0
    #: Those hours as (weekday, part of day) in the reader's zone, the longest first.
    free_periods: tuple[tuple[int, PartOfDay], ...] = ()

    @property
    def score(self) -> int:
        """One point for each goal word they share, for a shared language, and for each part of a day (4 or 5
        hours) both are usually free."""
        return len(self.shared_words) + (1 if self.same_language else 0) + self.free_hours // 4


def _goal_words(user_ids: list[int]) -> dict[int, set[str]]:
    words: dict[int, set[str]] = {user_id: set() for user_id in user_ids}
    rows = db.session.execute(select(Goal.patient_id, Goal.title).where(Goal.patient_id.in_(user_ids),
                                                                        Goal.status == GoalStatus.ACTIVE))
    for patient_id, title in rows:
        words[patient_id] |= {w.casefold() for w in _WORD.findall(title)}
    return words


def suggestions(group: TherapyGroup, zone: str = "UTC", now: datetime | None = None) -> list[Suggestion]:
    """Pairs worth considering among the group's active members who are free to pair: the words their active goals
    share, a shared language, and the hours both are usually free (each member's slots read in their own zone and
    compared in UTC over the week holding `now`; shown to the reader in `zone`). Only a help: the facilitator
    decides."""
    members = list(db.session.scalars(select(Membership).where(Membership.group_id == group.id,
                                                               Membership.status == MembershipStatus.ACTIVE)
                                      .order_by(Membership.id)))
    ids = [m.user_id for m in members]
    busy = set(db.session.scalars(
        select(PeerPairMember.user_id).join(PeerPair)
        .where(PeerPair.group_id == group.id,
               PeerPair.status.in_((PairStatus.PROPOSED, PairStatus.ACTIVE, PairStatus.PAUSED)))))
    alerts = _open_alert_ids(ids)
    free = [m for m in members if m.user_id not in busy and m.user_id not in alerts]
    words = _goal_words([m.user_id for m in free])
    week = week_start((now or utcnow()).date())
    hours = {m.user_id: utc_hours(m.user.availability or [], m.user.zone, week) for m in free}
    found = []
    for i, a in enumerate(free):
        for b in free[i + 1:]:
            if blocked_between(a.user_id, b.user_id):
                continue
            shared = tuple(sorted(words[a.user_id] & words[b.user_id]))
            both = hours[a.user_id] & hours[b.user_id]
            found.append(Suggestion(a, b, shared, a.user.locale == b.user.locale, len(both),
                                    tuple(local_periods(both, zone, week))))
    found.sort(key=lambda s: (-s.score, -s.free_hours))
    return found[:SUGGESTIONS]


# The pair space ------------------------------------------------------------------------------------------------------


def checkins(pair: PeerPair, limit: int = 20) -> list[PeerCheckIn]:
    return list(db.session.scalars(select(PeerCheckIn).where(PeerCheckIn.pair_id == pair.id)
                                   .order_by(PeerCheckIn.created_at.desc(), PeerCheckIn.id.desc()).limit(limit)))


def checkin_in_pair(pair: PeerPair, checkin_id: int) -> PeerCheckIn | None:
    return db.session.scalar(select(PeerCheckIn).where(PeerCheckIn.id == checkin_id,
                                                       PeerCheckIn.pair_id == pair.id))


def shared_goals(pair: PeerPair) -> list[PeerSharedGoal]:
    return list(db.session.scalars(select(PeerSharedGoal).where(PeerSharedGoal.pair_id == pair.id,
                                                                PeerSharedGoal.stopped_at.is_(None))
                                   .order_by(PeerSharedGoal.id)))


def shared_goal_in_pair(pair: PeerPair, share_id: int) -> PeerSharedGoal | None:
    return db.session.scalar(select(PeerSharedGoal).where(PeerSharedGoal.id == share_id,
                                                          PeerSharedGoal.pair_id == pair.id))


def recent_wins(goal_ids: list[int], limit: int = 5) -> dict[int, list[SmallWin]]:
    found: dict[int, list[SmallWin]] = {goal_id: [] for goal_id in goal_ids}
    for win in db.session.scalars(select(SmallWin).where(SmallWin.goal_id.in_(goal_ids))
                                  .order_by(SmallWin.created_at.desc())):
        if len(found[win.goal_id]) < limit:
            found[win.goal_id].append(win)
    return found


def shareable_goals(user: User, pair: PeerPair) -> list[Goal]:
    """The member's active goals not shared in this pair yet."""
    shared = {s.goal_id for s in shared_goals(pair)}
    return [g for g in db.session.scalars(select(Goal).where(Goal.patient_id == user.id,
                                                             Goal.status == GoalStatus.ACTIVE).order_by(Goal.id))
            if g.id not in shared]


def rhythm_times(pair: PeerPair, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """The last planned check-in before now and the next one after it, as UTC instants (each viewer reads them in
    their own zone); (None, None) until a rhythm is agreed."""
    if pair.rhythm_weekday is None or not pair.rhythm_time:
        return None, None
    now = now or utcnow()
    zone = ZoneInfo(usable_zone(pair.rhythm_zone))
    hours, minutes = (int(part) for part in pair.rhythm_time.split(":"))
    local_today = now.astimezone(zone).date()
    days_back = (local_today.weekday() - pair.rhythm_weekday) % 7
    day = local_today - timedelta(days=days_back)
    planned = datetime.combine(day, time(hours, minutes), tzinfo=zone)
    if planned > now:
        planned -= timedelta(days=7)
    last = planned.astimezone(ZoneInfo("UTC"))
    upcoming = (datetime.combine(planned.date() + timedelta(days=7), time(hours, minutes), tzinfo=zone)
                .astimezone(ZoneInfo("UTC")))
    return last, upcoming


def needs_nudge(pair: PeerPair, user: User, now: datetime | None = None) -> bool:
    """A gentle reminder when the last planned check-in passed without one from this member: no count, no streak."""
    if pair.status != PairStatus.ACTIVE or pair.activated_at is None:
        return False
    now = now or utcnow()
    last, _next = rhythm_times(pair, now)
    if last is None or last < pair.activated_at or now - last < NUDGE_AFTER:
        return False
    since = last - EARLY_CHECKIN
    return db.session.scalar(select(func.count(PeerCheckIn.id)).where(
        PeerCheckIn.pair_id == pair.id, PeerCheckIn.author_id == user.id, PeerCheckIn.created_at >= since)) == 0


# What facilitators see -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engagement:
    """How a pair is going, without a word of what they wrote."""

    checkins: int
    last_contact: datetime | None
    paused: bool


def engagement(pairs: list[PeerPair]) -> dict[int, Engagement]:
    ids = [p.id for p in pairs]
    counts = dict(db.session.execute(select(PeerCheckIn.pair_id, func.count(PeerCheckIn.id))
                                     .where(PeerCheckIn.pair_id.in_(ids)).group_by(PeerCheckIn.pair_id)).all())
    last_checkin = dict(db.session.execute(select(PeerCheckIn.pair_id, func.max(PeerCheckIn.created_at))
                                           .where(PeerCheckIn.pair_id.in_(ids)).group_by(PeerCheckIn.pair_id)).all())
    last_message = dict(db.session.execute(select(PeerMessage.pair_id, func.max(PeerMessage.created_at))
                                           .where(PeerMessage.pair_id.in_(ids)).group_by(PeerMessage.pair_id)).all())
    found = {}
    for pair in pairs:
        times = [t for t in (last_checkin.get(pair.id), last_message.get(pair.id)) if t is not None]
        times = [t if t.tzinfo else t.replace(tzinfo=ZoneInfo("UTC")) for t in times]
        found[pair.id] = Engagement(counts.get(pair.id, 0), max(times) if times else None,
                                    pair.status == PairStatus.PAUSED)
    return found


def concerns_of_group(group: TherapyGroup) -> list[PeerConcern]:
    return list(db.session.scalars(select(PeerConcern).join(PeerPair).where(PeerPair.group_id == group.id)
                                   .order_by(PeerConcern.created_at.desc())))


def concern_in_organisation(concern_id: int, organisation_id: int | None) -> PeerConcern | None:
    return db.session.scalar(select(PeerConcern).join(PeerPair).where(PeerConcern.id == concern_id,
                                                                      PeerPair.organisation_id == organisation_id))


def concern_of_alert(alert_id: int) -> PeerConcern | None:
    return db.session.scalar(select(PeerConcern).where(PeerConcern.alert_id == alert_id))


def reported_items(concern: PeerConcern) -> tuple[list[PeerCheckIn], list[dict]]:
    """Exactly the items the concern names, and only those of its pair. A message reads as it was reported (its
    words kept on the concern), with `deleted` when its author has deleted it since."""
    checkin_rows = list(db.session.scalars(select(PeerCheckIn).where(
        PeerCheckIn.pair_id == concern.pair_id, PeerCheckIn.id.in_(concern.checkin_ids or []))
        .order_by(PeerCheckIn.created_at)))
    live = {m.id: m for m in db.session.scalars(select(PeerMessage).where(
        PeerMessage.pair_id == concern.pair_id, PeerMessage.id.in_(concern.message_ids or [])))}
    kept = concern.reported_words or {}
    messages = []
    for message_id in concern.message_ids or []:
        row, words = live.get(message_id), kept.get(str(message_id))
        if words is not None:
            messages.append({"id": message_id, "author_id": words["author_id"], "body": words["body"],
                             "created_at": datetime.fromisoformat(words["created_at"]),
                             "deleted": row is not None and row.deleted_at is not None})
        elif row is not None:  # reported before the words were kept on the concern
            messages.append({"id": row.id, "author_id": row.author_id, "created_at": row.created_at,
                             "body": "" if row.deleted_at else row.body, "deleted": row.deleted_at is not None})
    return checkin_rows, sorted(messages, key=lambda m: m["created_at"])


def messages_in_pair(pair: PeerPair, message_ids: list[int]) -> list[PeerMessage]:
    if not message_ids:
        return []
    return list(db.session.scalars(select(PeerMessage).where(PeerMessage.pair_id == pair.id,
                                                             PeerMessage.id.in_(message_ids),
                                                             PeerMessage.deleted_at.is_(None))))
