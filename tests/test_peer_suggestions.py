"""Pair suggestions by the times members are usually free: slots read in each member's own zone and compared in UTC,
the reason shown in the facilitator's zone, the ranking, and the profile form that sets the slots."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from groups_fixtures import *  # noqa: F403
from page_forms import submit

from app.accounts import services as account_services
from app.accounts.availability import PartOfDay, utc_hours, week_start
from app.accounts.models import User
from app.extensions import db
from app.peers import queries

#: A winter week: Madrid is UTC+1 and New York UTC-5.
JANUARY = datetime(2026, 1, 14, 12, 0, tzinfo=timezone.utc)
#: The week of 20 March 2026: New York is on summer time (UTC-4) since 8 March, Madrid not until 29 March (UTC+1).
MARCH = datetime(2026, 3, 20, 12, 0, tzinfo=timezone.utc)
TUESDAY = 24  # the first hour of Tuesday in a reference week's UTC hours


@pytest.fixture
def zones(facilitator, make_group, make_member):
    """A group whose members live in Madrid (Alex, Kim) and New York (Sam)."""
    group = make_group(facilitator)
    alex = make_member(group, display_name="Alex Rivera", timezone="Europe/Madrid").user
    sam = make_member(group, display_name="Sam Okafor", timezone="America/New_York").user
    kim = make_member(group, display_name="Kim Lee", timezone="Europe/Madrid").user
    return group, alex, sam, kim


def _free(user: User, *slots: str) -> None:
    user.availability = list(slots)
    db.session.commit()


def _pair_of(found, a: User, b: User):
    return next(s for s in found if {s.a.user_id, s.b.user_id} == {a.id, b.id})


def test_slots_become_utc_hours_of_the_reference_week():
    week = week_start(JANUARY.date())
    assert week == datetime(2026, 1, 12, tzinfo=timezone.utc)  # the Monday
    assert utc_hours(["tue-evening"], "Europe/Madrid", week) == set(range(TUESDAY + 16, TUESDAY + 21))
    assert utc_hours(["tue-afternoon"], "America/New_York", week) == set(range(TUESDAY + 17, TUESDAY + 22))
    # Monday 08:00 in Tokyo is Sunday 23:00 UTC: the hour wraps to the end of the reference week.
    assert utc_hours(["mon-morning"], "Asia/Tokyo", week) == {167, 0, 1, 2}
    assert utc_hours(["someday-morning"], "UTC", week) == frozenset()


def test_overlap_across_madrid_and_new_york_is_counted_in_utc(zones):
    group, alex, sam, _kim = zones
    _free(alex, "tue-evening")  # 17:00-22:00 in Madrid
    _free(sam, "tue-afternoon")  # 12:00-17:00 in New York
    winter = _pair_of(queries.suggestions(group, "Europe/Madrid", now=JANUARY), alex, sam)
    assert winter.free_hours == 4  # 17:00-21:00 UTC
    assert winter.free_periods == ((1, PartOfDay.EVENING),)  # Tuesday 18:00-22:00 for a facilitator in Madrid
    # New York's summer time begins three weeks before Madrid's: that week the two afternoons meet for five hours.
    march = _pair_of(queries.suggestions(group, "Europe/Madrid", now=MARCH), alex, sam)
    assert march.free_hours == 5
    # A facilitator in New York reads the same hours as Tuesday afternoons.
    in_new_york = _pair_of(queries.suggestions(group, "America/New_York", now=JANUARY), alex, sam)
    assert in_new_york.free_periods == ((1, PartOfDay.AFTERNOON),)


def test_the_same_local_slot_in_two_zones_does_not_overlap(zones):
    group, _alex, sam, kim = zones
    _free(kim, "tue-evening")  # 16:00-21:00 UTC
    _free(sam, "tue-evening")  # 22:00-03:00 UTC
    found = _pair_of(queries.suggestions(group, "UTC", now=JANUARY), sam, kim)
    assert found.free_hours == 0 and found.free_periods == ()


def test_the_facilitator_reads_the_reason_in_their_own_zone(app, login, facilitator, zones):
    group, alex, sam, _kim = zones
    _free(alex, "tue-evening")
    _free(sam, "tue-afternoon")
    facilitator.timezone = "Europe/Madrid"
    db.session.commit()
    client = app.test_client()
    login(client, facilitator)
    page = client.get(f"/groups/{group.id}/peers").text
    assert "Both usually free on Tuesday evenings" in page
    facilitator.timezone = "America/New_York"
    db.session.commit()
    assert "Both usually free on Tuesday afternoons" in client.get(f"/groups/{group.id}/peers").text


def test_no_availability_gives_no_free_time_reason(app, login, facilitator, zones):
    group, alex, _sam, _kim = zones
    _free(alex, "tue-evening")  # alone: no one else said when they are free
    found = queries.suggestions(group, "Europe/Madrid", now=JANUARY)
    assert found and all(s.free_hours == 0 and not s.free_periods for s in found)
    client = app.test_client()
    login(client, facilitator)
    assert "usually free on" not in client.get(f"/groups/{group.id}/peers").text


def test_overlap_ranks_a_pair_first(zones):
    group, alex, sam, kim = zones
    for user in (alex, sam, kim):
        user.locale = "en"
    _free(sam, "sat-morning", "sat-afternoon")  # 13:00-22:00 UTC in January
    _free(kim, "sat-afternoon", "sat-evening")  # 11:00-21:00 UTC
    found = queries.suggestions(group, "UTC", now=JANUARY)
    assert {found[0].a.user_id, found[0].b.user_id} == {sam.id, kim.id}
    assert found[0].free_hours == 8 and found[0].score > found[1].score
    assert [s.free_hours for s in found[1:]] == [0, 0]


def test_the_profile_form_saves_and_shows_the_free_times(client, login, patient):
    login(client, patient)
    profile = {"display_name": "Pat", "timezone": "Europe/Madrid", "locale": "en", "in_app": "y"}
    response = submit(client, "/profile", {**profile, "availability": ["sat-morning", "tue-evening"]})
    assert response.status_code == 302
    assert db.session.get(User, patient.id).availability == ["tue-evening", "sat-morning"]  # in the week's order
    page = client.get("/profile").text
    checked = set(re.findall(r'<input checked id="[^"]+" name="availability" type="checkbox" value="([^"]+)"', page))
    assert checked == {"tue-evening", "sat-morning"}
    assert "<legend>When you are usually free (optional)</legend>" in page and "<legend>Tuesday</legend>" in page
    assert client.get("/api/v1/me").get_json()["availability"] == ["tue-evening", "sat-morning"]
    # Unticking everything clears them.
    assert submit(client, "/profile", profile).status_code == 302
    assert db.session.get(User, patient.id).availability == []


def test_a_bad_slot_is_refused_with_a_clear_message_and_nothing_changes(client, login, patient):
    patient.availability = ["mon-morning"]
    db.session.commit()
    login(client, patient)
    response = submit(
        client,
        "/profile",
        {
            "display_name": "Someone else",
            "timezone": "UTC",
            "locale": "en",
            "availability": ["tue-evening", "tue-midnight"],
        },
    )
    assert response.status_code == 200
    assert "Choose your usual free times from the list: a day and a morning, afternoon or evening." in response.text
    db.session.rollback()
    user = db.session.get(User, patient.id)
    assert user.availability == ["mon-morning"] and user.display_name != "Someone else"


@pytest.mark.parametrize("value", [["tue-midnight"], "tue-evening", [None], [{"day": "tue"}]])
def test_the_profile_service_refuses_anything_but_known_slots(app, patient, value):
    with app.test_request_context(), pytest.raises(account_services.AccountError) as error:
        account_services.update_profile(
            patient,
            display_name="Pat",
            pronouns="",
            timezone="UTC",
            locale="en",
            low_energy=False,
            notification_prefs={},
            availability=value,
        )
    assert error.value.field == "availability"


def test_the_propose_form_starts_with_two_different_members(app, login, facilitator, zones):
    group, alex, sam, kim = zones
    client = app.test_client()
    login(client, facilitator)
    page = client.get(f"/groups/{group.id}/peers").text

    def selected(name):
        select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
        return re.findall(r'<option selected value="(\d+)"', select)

    first, second = selected("first_id"), selected("second_id")
    assert len(first) == len(second) == 1 and first != second
    assert {first[0], second[0]} <= {str(alex.id), str(sam.id), str(kim.id)}
