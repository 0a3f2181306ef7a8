"""Demo data for groups: one weekly group run by the demo facilitator, with Alex and Sam as members, and a session on
now whenever the demo is loaded, so that a newcomer can try the live room at once."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app import recurrence
from app.extensions import db
from app.groups import services
from app.groups.models import (
    Attendance,
    AttendanceStatus,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    Schedule,
    SessionOccurrence,
    SpeakingComfort,
    TherapyGroup,
)
from app.models_base import utcnow

DEMO_GROUP = "Tuesday evening group"
#: The session put on now when the demo is loaded: it started a few minutes ago and lasts an hour.
ON_NOW_STARTED = timedelta(minutes=5)
ON_NOW_MINUTES = 60


def demo_group(organisation, accounts) -> None:
    group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.organisation_id == organisation.id,
                                                         TherapyGroup.name == DEMO_GROUP))
    if group is None:
        group = _create_demo_group(accounts)
    session_on_now(group)


def session_on_now(group: TherapyGroup) -> SessionOccurrence:
    """The group's session under way, or else a one-off extra session that started a few minutes ago: loading the
    demo again while one is on changes nothing. Written directly, as add_extra_session takes only future starts."""
    now = utcnow()
    for occurrence in db.session.scalars(select(SessionOccurrence).where(
            SessionOccurrence.group_id == group.id, SessionOccurrence.status == OccurrenceStatus.SCHEDULED,
            SessionOccurrence.starts_at <= now, SessionOccurrence.starts_at >= now - timedelta(hours=8))):
        if occurrence.ends_at > now:
            return occurrence
    occurrence = SessionOccurrence(group_id=group.id, recurrence_id=None,
                                   starts_at=(now - ON_NOW_STARTED).replace(second=0, microsecond=0),
                                   duration_minutes=ON_NOW_MINUTES, is_exception=True)
    db.session.add(occurrence)
    db.session.flush()
    return occurrence


def _create_demo_group(accounts) -> TherapyGroup:
    facilitator = accounts["facilitator@example.org"]
    group = services.create_group(facilitator, {
        "name": DEMO_GROUP, "description": "A weekly group for people living with low mood: small steps, together.",
        "focus": "Behavioural activation", "format": "online", "video_link": "https://meet.example.org/momentum-demo",
        "capacity": 8, "enrolment": "rolling", "status": "active", "timezone": "Europe/Berlin",
        "checkin_visibility": "all", "distress_threshold": 2,
    })
    # Started four weeks ago, so the dashboards have history; Tuesdays at 18:00 Berlin time.
    today = utcnow().astimezone(ZoneInfo("Europe/Berlin")).date()
    first = today - timedelta(days=(today.weekday() - 1) % 7) - timedelta(weeks=4)
    start = datetime.combine(first, time(18, 0))
    rule = recurrence.build_rrule(count=16)
    # Written directly rather than through save_schedule, which only creates future sessions.
    group.schedule = Schedule(group_id=group.id, dtstart_local=start.isoformat(timespec="minutes"),
                              timezone=group.timezone, rrule=rule, duration_minutes=90)
    sessions = [SessionOccurrence(group_id=group.id, recurrence_id=moment, starts_at=moment, duration_minutes=90)
                for moment in recurrence.expand(rule, start, group.timezone)]
    db.session.add_all(sessions)
    agreement = group.current_agreement
    for email, name in (("alex@example.org", "Alex"), ("sam@example.org", "Sam")):
        user = accounts[email]
        db.session.add(Membership(
            group_id=group.id, user_id=user.id, status=MembershipStatus.ACTIVE, preferred_name=name,
            joined_at=utcnow() - timedelta(weeks=5), agreement_id=agreement.id,
            agreement_accepted_at=utcnow() - timedelta(weeks=5), intake_hopes="Feel less alone with this.",
            intake_doable="Coming once a week.", speaking_comfort=SpeakingComfort.SOME_NERVES,
            accommodations=["camera_off"] if name == "Sam" else []))
    db.session.flush()
    # Alex came to every past session; Sam missed the last two, which the dashboard shows as engagement risk.
    past = [s for s in sessions if s.ends_at < utcnow()]
    for index, occurrence in enumerate(past):
        db.session.add(Attendance(occurrence_id=occurrence.id, user_id=accounts["alex@example.org"].id,
                                  status=AttendanceStatus.PRESENT_ONLINE, recorded_by_id=facilitator.id))
        missed = index >= len(past) - 2
        db.session.add(Attendance(occurrence_id=occurrence.id, user_id=accounts["sam@example.org"].id,
                                  status=AttendanceStatus.ABSENT if missed else AttendanceStatus.PRESENT_ONLINE,
                                  recorded_by_id=facilitator.id))
    db.session.flush()
    return group
