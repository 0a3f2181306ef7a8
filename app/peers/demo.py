"""Demo data for peer support: Alex and Sam are an active pair in the demo group, checking in on Wednesday evenings
(Berlin time, which Sam reads in New York time), with a few peer check-ins, a reaction, Alex's goal shared and a short
exchange of messages; and an upcoming member-led check-in circle in the demo group."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.extensions import db
from app.groups.demo import DEMO_GROUP
from app.groups.models import SessionOccurrence, TherapyGroup
from app.models_base import utcnow
from app.peers.circles import circles_to_come
from app.peers.models import (
    MemberResponse,
    PairStatus,
    PeerCheckIn,
    PeerMessage,
    PeerPair,
    PeerPairMember,
    PeerReaction,
    PeerSharedGoal,
    ReactionKind,
)
from app.progress.models import Goal

#: The demo circle: this many days ahead, at this time in the group's zone (a lunchtime circle, away from the weekly
#: evening session), for this many minutes.
CIRCLE_DAYS_AHEAD, CIRCLE_TIME, CIRCLE_MINUTES = 2, time(12, 30), 20

#: Days ago, who ("alex" or "sam"), what I tried, how it went, what is next.
CHECKINS = [
    (6, "alex", "A walk to the corner after lunch", "Cold, but I went", "Try it twice this week"),
    (5, "sam", "Opened the curtains first thing", "Small, but the room felt lighter", "Keep it going"),
    (1, "alex", "Walked twice", "Easier the second time", "Ask Sam about a walk-and-call"),
]
MESSAGES = [(3, "sam", "How did the second walk go?"), (3, "alex", "Better than I expected, thanks for asking."),
            (2, "sam", "Glad to hear it. Same time next week?")]


def demo_pair(organisation, accounts) -> None:
    alex, sam = accounts["alex@example.org"], accounts["sam@example.org"]
    group = _demo_group(organisation)
    if group is None or db.session.scalar(select(PeerPair.id).where(PeerPair.group_id == group.id).limit(1)):
        return
    now = utcnow()
    facilitator = group.facilitators[0].user
    started = now - timedelta(days=8)
    pair = PeerPair(organisation_id=organisation.id, group_id=group.id, proposed_by_id=facilitator.id,
                    proposed_at=started, suitability={"two_people": True, "both_active": True, "no_block": True,
                                                      "no_open_alert": True, "not_paired": True},
                    status=PairStatus.ACTIVE, activated_at=started + timedelta(hours=5), rhythm_weekday=2,
                    rhythm_time="19:00", rhythm_zone=facilitator.zone,
                    members=[PeerPairMember(user_id=user.id, response=MemberResponse.ACCEPTED,
                                            responded_at=started + timedelta(hours=5)) for user in (alex, sam)])
    db.session.add(pair)
    db.session.flush()
    people = {"alex": alex, "sam": sam}
    made = []
    for days, who, tried, how, what_next in CHECKINS:
        checkin = PeerCheckIn(pair_id=pair.id, author_id=people[who].id, tried=tried, how_it_went=how,
                              whats_next=what_next, created_at=now - timedelta(days=days))
        db.session.add(checkin)
        made.append(checkin)
    for n, (days, who, body) in enumerate(MESSAGES):
        db.session.add(PeerMessage(pair_id=pair.id, author_id=people[who].id, body=body, client_id=f"demo-{n}",
                                   created_at=now - timedelta(days=days, hours=-n)))
    db.session.flush()
    db.session.add(PeerReaction(checkin_id=made[0].id, user_id=sam.id, kind=ReactionKind.CELEBRATE))
    db.session.add(PeerReaction(checkin_id=made[1].id, user_id=alex.id, kind=ReactionKind.THINKING_OF_YOU))
    goal = db.session.scalar(select(Goal).where(Goal.patient_id == alex.id).order_by(Goal.id).limit(1))
    if goal is not None:
        db.session.add(PeerSharedGoal(pair_id=pair.id, goal_id=goal.id, shared_by_id=alex.id))
    db.session.flush()


def _demo_group(organisation) -> TherapyGroup | None:
    return db.session.scalar(select(TherapyGroup).where(TherapyGroup.organisation_id == organisation.id,
                                                        TherapyGroup.name == DEMO_GROUP))


def demo_circle(organisation) -> None:
    """A check-in circle to come in the demo group, unless one is to come already (loading again adds none)."""
    group = _demo_group(organisation)
    if group is None or circles_to_come(group, limit=1):
        return
    zone = ZoneInfo(group.timezone)
    day = utcnow().astimezone(zone).date() + timedelta(days=CIRCLE_DAYS_AHEAD)
    starts_at = datetime.combine(day, CIRCLE_TIME, tzinfo=zone).astimezone(ZoneInfo("UTC"))
    db.session.add(SessionOccurrence(group_id=group.id, recurrence_id=None, starts_at=starts_at,
                                     duration_minutes=CIRCLE_MINUTES, is_circle=True))
    db.session.flush()
