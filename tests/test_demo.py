"""The demo explains itself: `flask demo` leaves a session of the demo group on now (so that a newcomer can try the
live room as facilitator and as member at once), the demo clinic's crisis resources are filled in with an example that
says it is one, and Sam shows on the facilitator's home page as someone who may need a word."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select

from app.accounts import services
from app.accounts.models import Organisation, User
from app.demo import DEMO_CRISIS_RESOURCES, DEMO_SLUG
from app.extensions import db
from app.groups.demo import DEMO_GROUP
from app.groups.models import OccurrenceStatus, SessionOccurrence, TherapyGroup
from app.measures import queries as measure_queries
from app.peers.circles import circles_to_come

#: A Thursday afternoon: the demo's weekly session is on Tuesday evenings, so only the extra session is on.
LOADED = datetime(2026, 12, 3, 14, 2, 30, tzinfo=timezone.utc)


@pytest.fixture
def demo(app, monkeypatch):
    """demo() runs `flask demo` and returns its result; every demo account has the same password, hashed once."""
    monkeypatch.setattr(services, "hash_password", functools.cache(services.hash_password))

    def run():
        result = app.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        db.session.expire_all()
        return result

    return run


def sessions_on_now() -> list[SessionOccurrence]:
    now = datetime.now(timezone.utc)
    group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP))
    return [o for o in db.session.scalars(select(SessionOccurrence).where(SessionOccurrence.group_id == group.id))
            if o.starts_at <= now < o.ends_at]


def session_count() -> int:
    """Sessions, not check-in circles (the demo keeps one circle to come, so it may add one on a later day)."""
    return db.session.scalar(select(func.count()).select_from(SessionOccurrence)
                             .where(SessionOccurrence.is_circle.is_(False)))


def text_of(response) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_the_demo_has_a_session_on_now_and_loading_it_again_while_it_is_on_adds_none(demo):
    with time_machine.travel(LOADED, tick=False):
        demo()
        [on_now] = sessions_on_now()
        count = session_count()
        assert on_now.is_extra
        assert (on_now.starts_at, on_now.duration_minutes) == (datetime(2026, 12, 3, 13, 57, tzinfo=timezone.utc), 60)

    with time_machine.travel(LOADED + timedelta(minutes=30), tick=False):
        demo()
        assert [o.id for o in sessions_on_now()] == [on_now.id]
        assert session_count() == count


def test_loading_the_demo_on_another_day_puts_a_session_on_now_again(demo):
    with time_machine.travel(LOADED, tick=False):
        demo()
        count = session_count()
    with time_machine.travel(LOADED + timedelta(days=1), tick=False):
        assert sessions_on_now() == []
        demo()
        assert len(sessions_on_now()) == 1
        assert session_count() == count + 1


def test_the_demo_adds_no_session_when_its_weekly_one_is_on(demo):
    with time_machine.travel(LOADED, tick=False):
        demo()
    tuesday_evening = datetime(2026, 12, 8, 17, 30, tzinfo=timezone.utc)  # 18:30 in Berlin
    with time_machine.travel(tuesday_evening, tick=False):
        count = session_count()
        demo()
        [on_now] = sessions_on_now()
        assert not on_now.is_extra and session_count() == count


def test_the_demo_clinic_has_example_crisis_resources_that_say_they_are_an_example(demo, client, login):
    demo()
    organisation = db.session.scalar(select(Organisation).where(Organisation.slug == DEMO_SLUG))
    assert {name: getattr(organisation, name) for name in DEMO_CRISIS_RESOURCES} == DEMO_CRISIS_RESOURCES
    login(client, db.session.scalar(select(User).where(User.email == "alex@example.org")))

    footer = text_of(client.get("/")).split("Momentum is not a crisis service", 1)[1]

    assert "Example Crisis Line (demo only, not a real service)" in footer
    assert "Emergency services: 112 (Europe) / 911 (North America)" in footer
    assert "The line above is an example" in footer


def test_an_admin_who_changed_the_crisis_resources_keeps_them_when_the_demo_loads_again(demo):
    demo()
    organisation = db.session.scalar(select(Organisation).where(Organisation.slug == DEMO_SLUG))
    organisation.crisis_name, organisation.crisis_note = "Our own line", ""
    db.session.commit()

    demo()

    assert (organisation.crisis_name, organisation.crisis_note) == ("Our own line", "")


def test_in_the_demo_the_facilitator_can_open_the_live_room_and_alex_can_wait_in_it(demo, client, login):
    with time_machine.travel(LOADED, tick=False):
        demo()
        [on_now] = sessions_on_now()
        room = f'href="/sessions/{on_now.id}/room"'

        login(client, db.session.scalar(select(User).where(User.email == "facilitator@example.org")))
        facilitator_home = client.get("/")
        assert f"{room}>Open the live room</a>" in facilitator_home.get_data(as_text=True)
        needing_a_word = text_of(facilitator_home).split("Members who may need a word", 1)[1]
        assert needing_a_word.startswith(" Sam · Tuesday evening group Missed the last two sessions")
        assert "2 check-ins at mood 3 or lower in the last 14 days" in needing_a_word

        login(client, db.session.scalar(select(User).where(User.email == "alex@example.org")))
        alex_home = client.get("/")
        assert f"{room}>Go to the live room</a>" in alex_home.get_data(as_text=True)
        assert client.get(f"/sessions/{on_now.id}/room").status_code == 200


def test_the_demo_has_twelve_weeks_of_questionnaires_and_this_fortnights_open_once(demo):
    with time_machine.travel(LOADED, tick=False):
        demo()
        demo()  # loading again adds nothing
        alex = db.session.scalar(select(User).where(User.email == "alex@example.org"))
        due = measure_queries.due_for(alex.id)
        assert sorted(m.instrument.value for m in due) == ["gad7", "phq9"]
        change = measure_queries.change_for(alex.id, "phq9")
        assert (change.count, change.baseline, change.latest) == (6, 16, 9)
        assert change.reliable_improvement and change.recovery and change.reliable_recovery
        assert all(m.answers[8] == 0 for m in measure_queries.scores(alex.id, "phq9"))


def test_the_demo_group_has_a_member_led_circle_to_come_and_loading_again_adds_none(demo, client, login):
    with time_machine.travel(LOADED, tick=False):
        demo()
        group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP))
        [circle] = circles_to_come(group)
        now = datetime.now(timezone.utc)
        assert circle.is_circle and now < circle.starts_at <= now + timedelta(days=3)
        assert circle.status == OccurrenceStatus.SCHEDULED and circle not in sessions_on_now()
        demo()
        assert [c.id for c in circles_to_come(group)] == [circle.id]
        alex = db.session.scalar(select(User).where(User.email == "alex@example.org"))
        login(client, alex)
        page = client.get(f"/groups/{group.id}/circles")
        assert page.status_code == 200 and f'datetime="{circle.starts_at.isoformat()}"' in page.text
