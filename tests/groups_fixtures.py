"""Fixtures for the groups tests: a group factory, enrolment, schedules and a clock frozen in March 2026.

Import what a test module needs: `from groups_fixtures import *  # noqa: F403` brings the fixtures into scope.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from app.accounts.models import RoleName
from app.audit import AuditEvent
from app.extensions import db
from app.groups import schedules, services
from app.groups.models import Membership, MembershipStatus, SessionOccurrence, TherapyGroup

#: The tests' "now": a Friday. Berlin changes to summer time on Sunday 29 March 2026, New York did on 8 March.
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=timezone.utc)

__all__ = ["NOW", "SETUP", "audit_actions", "clock", "enrol", "group_with_members", "hours",
           "make_group", "make_member", "occurrences_of", "run_overlapping", "set_weekly_schedule",
           "shared_database_app", "utc"]


@pytest.fixture
def clock(app):
    """Time frozen at NOW; `clock.shift(timedelta)` and `clock.move_to(datetime)` move it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def make_group(app, clock):
    """make_group(facilitator, **overrides) -> TherapyGroup, committed: an active online group in the facilitator's
    time zone, without a schedule."""

    def make(facilitator, **overrides) -> TherapyGroup:
        data = {"name": "Tuesday evening group", "description": "Behavioural activation in small steps.",
                "focus": "behavioural activation", "format": "online", "video_link": "https://video.example.org/room",
                "location": "", "capacity": 8, "enrolment": "rolling", "status": "active",
                "timezone": facilitator.timezone}
        data.update(overrides)
        group = services.create_group(facilitator, data)
        db.session.commit()
        return group

    return make


def enrol(group: TherapyGroup, user, *, preferred_name: str | None = None, hopes: str = "To get out more.",
          doable: str = "Listening, mostly.", speaking_comfort: str = "some_nerves",
          accommodations: tuple[str, ...] = (), accommodations_note: str = "") -> Membership:
    """Through the real services: the invitation's hook makes an invited membership, then the person joins."""
    membership = db.session.scalar(select(Membership).where(Membership.group_id == group.id,
                                                            Membership.user_id == user.id))
    if membership is None:
        membership = Membership(group_id=group.id, user_id=user.id, status=MembershipStatus.INVITED)
        db.session.add(membership)
        db.session.flush()
    services.join_group(user, membership, agreement_id=group.current_agreement.id,
                        preferred_name=preferred_name if preferred_name is not None else user.display_name,
                        hopes=hopes, doable=doable, speaking_comfort=speaking_comfort,
                        accommodations=list(accommodations), accommodations_note=accommodations_note)
    db.session.commit()
    return membership


@pytest.fixture
def make_member(make_user):
    """make_member(group, **user_fields) -> Membership: a new patient of the group's organisation who joined."""

    def make(group: TherapyGroup, *, intake: dict | None = None, **fields) -> Membership:
        user = make_user(RoleName.PATIENT, organisation_=group.organisation, **fields)
        return enrol(group, user, **(intake or {}))

    return make


def set_weekly_schedule(facilitator, group: TherapyGroup, start_local: datetime, *, count: int = 8,
                        interval_weeks: int = 1, duration_minutes: int = 90) -> list[SessionOccurrence]:
    rule = f"FREQ=WEEKLY;INTERVAL={interval_weeks};COUNT={count}"
    schedules.save_schedule(facilitator, group, dtstart_local=start_local, rule=rule,
                           duration_minutes=duration_minutes)
    db.session.commit()
    return occurrences_of(group)


def occurrences_of(group: TherapyGroup) -> list[SessionOccurrence]:
    return list(db.session.scalars(select(SessionOccurrence).where(SessionOccurrence.group_id == group.id)
                                   .order_by(SessionOccurrence.starts_at)))


#: When group_with_members was set up: before its first session, so that sessions before NOW exist.
SETUP = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def group_with_members(clock, make_group, make_member, facilitator, patient):
    """A Berlin group set up on 1 March: `patient` ("Pat") and two more members, and eight weekly Thursday sessions
    at 18:00 Berlin from 5 March (three before NOW, five after, across the change to summer time on 29 March)."""
    clock.move_to(SETUP)
    group = make_group(facilitator)
    enrol(group, patient, preferred_name="Pat")
    make_member(group, display_name="Zoe Zimmer")
    make_member(group, display_name="Ben Berg")
    set_weekly_schedule(facilitator, group, datetime(2026, 3, 5, 18, 0), count=8)
    clock.move_to(NOW)
    return group


def audit_actions(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# Two writers at once --------------------------------------------------------------------------------------------------


@pytest.fixture
def shared_database_app(tmp_path):
    """An app whose database two threads can write at once: a SQLite file (the test config's in-memory database is
    one connection shared by every thread), or TEST_DATABASE_URL. Do not combine with the `app` fixture."""
    from conftest import app_of_its_own

    with app_of_its_own(tmp_path / "writers.db") as app, app.app_context():
        yield app


def run_overlapping(app, first, second) -> dict:
    """Run `first` and `second` in two threads, each in a transaction of its own, the second while the first is open.

    `first` does its work and holds its transaction open until `second` is waiting for the database (a row lock on
    PostgreSQL, BEGIN IMMEDIATE on SQLite) or has done all its work (nothing made it wait: what a missing lock looks
    like); then both commit. No sleeping on a guess: the waiting is read from the database. Returns, for each, what
    the function returned or the exception it raised.
    """
    import threading

    from sqlalchemy import event, text

    results: dict = {}
    first_open, release, second_done = threading.Event(), threading.Event(), threading.Event()
    second_beginning = threading.Event()

    def on_statement(_conn, _cursor, statement, *_args):
        if threading.current_thread().name == "second" and statement.startswith("BEGIN IMMEDIATE"):
            second_beginning.set()  # SQLite: waits here until the first commits

    def work(name, function, before_commit):
        with app.app_context():
            try:
                results[name] = function()
                before_commit()
                db.session.commit()
            except Exception as error:  # reported to the test, which says what it expected
                db.session.rollback()
                results[name] = error
            finally:
                if name == "first":
                    first_open.set()
                else:
                    second_done.set()
                db.session.remove()

    def hold_open():
        first_open.set()
        release.wait(timeout=60)

    def second_waits() -> bool:
        if db.engine.dialect.name == "sqlite":
            return second_beginning.is_set()
        with db.engine.connect() as connection:
            return bool(connection.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).scalar())

    event.listen(db.engine, "before_cursor_execute", on_statement)
    try:
        one = threading.Thread(target=work, args=("first", first, hold_open), name="first")
        one.start()
        first_open.wait(timeout=60)
        two = threading.Thread(target=work, args=("second", second, second_done.set), name="second")
        two.start()
        while not (second_done.is_set() or second_waits()):
            second_done.wait(0.005)  # until the database shows the second waiting, or the second is done
        release.set()
        one.join(timeout=60)
        two.join(timeout=60)
    finally:
        event.remove(db.engine, "before_cursor_execute", on_statement)
    return results
