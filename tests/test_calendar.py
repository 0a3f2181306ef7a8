"""Calendars: the .ics of a group and each person's secret, revocable feed, read back by the icalendar package."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from groups_fixtures import *  # noqa: F403
from groups_fixtures import NOW, SETUP, enrol, occurrences_of, set_weekly_schedule, utc
from icalendar import Calendar
from sqlalchemy import select

from app.accounts.models import RoleName
from app.extensions import db
from app.groups import schedules, services
from app.groups.models import CalendarFeed, MembershipStatus, OccurrenceStatus


def parse(body: bytes) -> Calendar:
    return Calendar.from_ical(body)


def events(calendar: Calendar) -> dict[str, object]:
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def uid(occurrence) -> str:
    return f"session-{occurrence.id}@momentum.local"


def feed_path(client, login, post, user) -> str:
    """Create a feed link as the person would (POST, then the page shows it once) and return its path."""
    login(client, user)
    response = post(client, "/calendar")
    assert response.status_code == 302
    page = client.get("/calendar").get_data(as_text=True)
    url = re.search(r'<code class="token">([^<]+)</code>', page).group(1)
    return urlsplit(url).path


# The .ics of one group ------------------------------------------------------------------------------------------------


def test_the_group_calendar_reads_back_with_the_same_times_and_a_vtimezone(client, login, group_with_members,
                                                                           facilitator):
    login(client, facilitator)

    response = client.get(f"/groups/{group_with_members.id}/calendar.ics")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    calendar = parse(response.data)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    found = events(calendar)
    sessions = occurrences_of(group_with_members)
    assert len(found) == len(sessions) == 8
    for occurrence in sessions:
        event = found[uid(occurrence)]
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        start, end = event["DTSTART"].dt, event["DTEND"].dt
        assert start.astimezone(timezone.utc) == occurrence.starts_at
        assert end.astimezone(timezone.utc) == occurrence.ends_at
        assert (start.hour, start.minute) == (18, 0)  # 18:00 in Berlin before and after 29 March
        assert str(event["STATUS"]) == "CONFIRMED"
        assert str(event["SUMMARY"]) == group_with_members.name
        assert str(event["URL"]) == "https://video.example.org/room"
    # Across the change the UTC time moves by an hour.
    assert {o.starts_at.hour for o in sessions} == {17, 16}


def test_the_vtimezone_holds_the_clock_changes_a_parser_needs(client, login, group_with_members, facilitator):
    login(client, facilitator)
    calendar = parse(client.get(f"/groups/{group_with_members.id}/calendar.ics").data)

    zone = calendar.walk("VTIMEZONE")[0]
    offsets = {(component.name, component["TZOFFSETTO"].to_ical()) for component in zone.subcomponents}
    assert ("DAYLIGHT", "+0200") in offsets
    assert ("STANDARD", "+0100") in offsets
    # The zone rebuilt from the VTIMEZONE alone (as a calendar app without a tz database would) gives the same times.
    rebuilt = zone.to_tz()
    for event in calendar.walk("VEVENT"):
        naive = event["DTSTART"].dt.replace(tzinfo=None)
        assert naive.replace(tzinfo=rebuilt).astimezone(timezone.utc) == event["DTSTART"].dt.astimezone(timezone.utc)


def test_a_new_york_group_calendar_reads_back_with_new_york_times(client, login, make_group, make_user, clock):
    clock.move_to(SETUP)
    new_yorker = make_user(RoleName.FACILITATOR, timezone="America/New_York")
    group = make_group(new_yorker)
    sessions = set_weekly_schedule(new_yorker, group, datetime(2026, 3, 5, 18, 0), count=3)
    login(client, new_yorker)

    calendar = parse(client.get(f"/groups/{group.id}/calendar.ics").data)

    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["America/New_York"]
    found = events(calendar)
    assert [found[uid(o)]["DTSTART"].dt.astimezone(timezone.utc) for o in sessions] == \
        [utc(2026, 3, 5, 23), utc(2026, 3, 12, 22), utc(2026, 3, 19, 22)]
    assert {(found[uid(o)]["DTSTART"].dt.hour) for o in sessions} == {18}


def test_cancelled_sessions_are_marked_cancelled_with_their_reason(client, login, group_with_members, facilitator):
    group = group_with_members
    cancelled = [o for o in occurrences_of(group) if o.starts_at > NOW][1]
    schedules.cancel_occurrence(facilitator, cancelled, "Easter holiday")
    db.session.commit()
    login(client, facilitator)

    found = events(parse(client.get(f"/groups/{group.id}/calendar.ics").data))

    assert str(found[uid(cancelled)]["STATUS"]) == "CANCELLED"
    assert str(found[uid(cancelled)]["DESCRIPTION"]) == "Easter holiday"
    assert {str(e["STATUS"]) for key, e in found.items() if key != uid(cancelled)} == {"CONFIRMED"}


def test_moved_relinked_and_extra_sessions_appear_as_they_are(client, login, group_with_members, facilitator):
    group = group_with_members
    moved, relinked = [o for o in occurrences_of(group) if o.starts_at > NOW][:2]
    schedules.update_occurrence(facilitator, moved, start_local=datetime(2026, 3, 27, 9, 30), duration_minutes=60)
    schedules.update_occurrence(facilitator, relinked, video_link="https://backup.example.org/room")
    extra = schedules.add_extra_session(facilitator, group, start_local=datetime(2026, 4, 20, 10, 0),
                                       duration_minutes=45, location="Room 2")
    db.session.commit()
    login(client, facilitator)

    found = events(parse(client.get(f"/groups/{group.id}/calendar.ics").data))

    assert found[uid(moved)]["DTSTART"].dt.astimezone(timezone.utc) == utc(2026, 3, 27, 8, 30)
    assert found[uid(moved)]["DTEND"].dt.astimezone(timezone.utc) == utc(2026, 3, 27, 9, 30)
    assert str(found[uid(relinked)]["URL"]) == "https://backup.example.org/room"
    assert found[uid(extra)]["DTSTART"].dt.astimezone(timezone.utc) == utc(2026, 4, 20, 8)
    assert str(found[uid(extra)]["LOCATION"]) == "Room 2"
    assert len(found) == 9


def test_a_member_downloads_their_groups_calendar(client, login, group_with_members, patient):
    login(client, patient)

    response = client.get(f"/groups/{group_with_members.id}/calendar.ics")

    assert response.status_code == 200
    assert len(events(parse(response.data))) == 8


@pytest.mark.parametrize("who", ["other_patient", "supporter", "other_facilitator", "foreign_facilitator",
                                 "waitlisted", "left"])
def test_a_group_calendar_is_not_found_for_anyone_outside_the_group(client, login, group_with_members, make_user,
                                                                    make_member, make_organisation, facilitator, who,
                                                                    other_patient, supporter):
    group = group_with_members
    if who == "other_patient":
        user = other_patient
    elif who == "supporter":
        user = supporter
    elif who == "other_facilitator":
        user = make_user(RoleName.FACILITATOR)
    elif who == "foreign_facilitator":
        user = make_user(RoleName.FACILITATOR, organisation_=make_organisation())
    else:
        services.update_group(facilitator, group, {"capacity": 3})
        row = make_member(group)
        if who == "left":
            services.update_group(facilitator, group, {"capacity": 4})
            services.change_membership_status(row.user, row, MembershipStatus.LEFT)
        db.session.commit()
        user = row.user
    login(client, user)

    response = client.get(f"/groups/{group.id}/calendar.ics")

    assert response.status_code == 404
    assert b"BEGIN:VCALENDAR" not in response.data


def test_the_group_calendar_needs_a_sign_in(client, group_with_members):
    response = client.get(f"/groups/{group_with_members.id}/calendar.ics")

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# Each person's feed ---------------------------------------------------------------------------------------------------


def test_a_feed_serves_the_sessions_of_the_persons_groups_without_a_sign_in(app, login, post, group_with_members,
                                                                            patient, make_group, facilitator):
    other_group = make_group(facilitator, name="Another group")  # patient is not in it
    set_weekly_schedule(facilitator, other_group, datetime(2026, 4, 1, 10, 0), count=2)
    signed_in = app.test_client()
    path = feed_path(signed_in, login, post, patient)

    response = app.test_client().get(path)  # a calendar app has no session

    assert response.status_code == 200
    calendar = parse(response.data)
    assert set(events(calendar)) == {uid(o) for o in occurrences_of(group_with_members)}
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    for occurrence in occurrences_of(group_with_members):
        assert events(calendar)[uid(occurrence)]["DTSTART"].dt.astimezone(timezone.utc) == occurrence.starts_at


def test_a_feed_covers_groups_in_two_time_zones(app, login, post, group_with_members, patient, make_user, make_group,
                                                clock):
    clock.move_to(SETUP)
    new_yorker = make_user(RoleName.FACILITATOR, timezone="America/New_York")
    new_york_group = make_group(new_yorker, name="New York group")
    enrol(new_york_group, patient)
    set_weekly_schedule(new_yorker, new_york_group, datetime(2026, 3, 5, 12, 0), count=4)
    clock.move_to(NOW)
    client = app.test_client()
    path = feed_path(client, login, post, patient)

    calendar = parse(app.test_client().get(path).data)

    assert sorted(str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")) == ["America/New_York", "Europe/Berlin"]
    found = events(calendar)
    for occurrence in occurrences_of(group_with_members) + occurrences_of(new_york_group):
        assert found[uid(occurrence)]["DTSTART"].dt.astimezone(timezone.utc) == occurrence.starts_at
    # The Berlin and the New York group both meet at their own local hour, and once at the same moment:
    # on 5 March 18:00 Berlin is 12:00 New York; on 12 March New York has changed its clocks and Berlin has not.
    assert occurrences_of(group_with_members)[0].starts_at == occurrences_of(new_york_group)[0].starts_at
    assert occurrences_of(group_with_members)[1].starts_at != occurrences_of(new_york_group)[1].starts_at


def test_a_revoked_feed_is_not_found(app, login, post, group_with_members, patient):
    client = app.test_client()
    path = feed_path(client, login, post, patient)
    assert app.test_client().get(path).status_code == 200

    assert post(client, "/calendar/revoke").status_code == 302

    response = app.test_client().get(path)
    assert response.status_code == 404
    assert b"BEGIN:VCALENDAR" not in response.data


def test_a_new_feed_replaces_the_old_one(app, login, post, group_with_members, patient):
    client = app.test_client()
    old = feed_path(client, login, post, patient)

    new = feed_path(client, login, post, patient)

    assert old != new
    assert app.test_client().get(old).status_code == 404
    assert app.test_client().get(new).status_code == 200


def test_the_feed_link_is_shown_once_and_only_its_hash_is_stored(app, login, post, group_with_members, patient):
    client = app.test_client()
    path = feed_path(client, login, post, patient)
    token = path.rsplit("/", 1)[1].removesuffix(".ics")

    assert token not in client.get("/calendar").get_data(as_text=True)
    stored = db.session.scalars(select(CalendarFeed.token_hash)).all()
    assert token not in stored and len(stored) == 1


@pytest.mark.parametrize("path", ["/calendar/not-a-token.ics", "/calendar/" + "a" * 300 + ".ics", "/calendar/%00.ics"])
def test_an_unknown_feed_is_not_found(client, path):
    assert client.get(path).status_code == 404


def test_a_feed_stops_when_the_account_is_deactivated(app, login, post, group_with_members, patient):
    client = app.test_client()
    path = feed_path(client, login, post, patient)

    patient.active = False
    db.session.commit()

    assert app.test_client().get(path).status_code == 404


def test_a_feed_drops_a_group_the_person_has_left(app, login, post, group_with_members, patient):
    client = app.test_client()
    path = feed_path(client, login, post, patient)
    row = next(m for m in group_with_members.memberships if m.user_id == patient.id)
    services.change_membership_status(patient, row, MembershipStatus.LEFT)
    db.session.commit()

    assert events(parse(app.test_client().get(path).data)) == {}


def test_a_facilitators_feed_includes_cancelled_sessions_marked_so(app, login, post, group_with_members, facilitator):
    cancelled = [o for o in occurrences_of(group_with_members) if o.starts_at > NOW][0]
    schedules.cancel_occurrence(facilitator, cancelled, "Ill")
    db.session.commit()
    client = app.test_client()
    path = feed_path(client, login, post, facilitator)

    found = events(parse(app.test_client().get(path).data))

    assert str(found[uid(cancelled)]["STATUS"]) == "CANCELLED"
    assert cancelled.status == OccurrenceStatus.CANCELLED


def test_creating_and_revoking_a_feed_needs_a_csrf_token(client, login, patient):
    login(client, patient)

    assert client.post("/calendar").status_code == 400
    assert client.post("/calendar/revoke").status_code == 400
    assert db.session.scalars(select(CalendarFeed)).all() == []


# Calendars that imported a session take its later changes -------------------------------------------------------------


def test_fetching_twice_gives_the_same_events_and_a_moved_session_a_higher_sequence(app, login, post, clock,
                                                                                   group_with_members, patient,
                                                                                   facilitator):
    path = feed_path(app.test_client(), login, post, patient)
    moved = occurrences_of(group_with_members)[4]  # Thursday 2 April
    first_fetch = app.test_client().get(path).data
    before = parse(first_fetch)
    clock.shift(timedelta(hours=2))
    assert app.test_client().get(path).data == first_fetch  # nothing changed: the same bytes, DTSTAMP included

    schedules.update_occurrence(facilitator, moved, start_local=datetime(2026, 4, 3, 18, 0))
    db.session.commit()
    after = parse(app.test_client().get(path).data)

    old, new = events(before)[uid(moved)], events(after)[uid(moved)]
    assert int(new["SEQUENCE"]) > int(old["SEQUENCE"]) == 0
    assert new["DTSTART"].dt.astimezone(timezone.utc) == utc(2026, 4, 3, 16)
    assert new["LAST-MODIFIED"].dt == new["DTSTAMP"].dt == NOW + timedelta(hours=2)
    assert old["LAST-MODIFIED"].dt < new["LAST-MODIFIED"].dt
    untouched = [o for o in occurrences_of(group_with_members) if o.id != moved.id]
    for occurrence in untouched:
        assert events(after)[uid(occurrence)].to_ical() == events(before)[uid(occurrence)].to_ical()


def test_a_cancelled_group_sends_its_sessions_to_come_as_cancelled(app, login, post, group_with_members, patient,
                                                                  facilitator):
    path = feed_path(app.test_client(), login, post, patient)
    before = events(parse(app.test_client().get(path).data))
    services.update_group(facilitator, group_with_members, {"status": "cancelled"})
    db.session.commit()

    after = events(parse(app.test_client().get(path).data))

    for occurrence in occurrences_of(group_with_members):
        event, earlier = after[uid(occurrence)], before[uid(occurrence)]
        if occurrence.starts_at > NOW:
            assert str(event["STATUS"]) == "CANCELLED"
            assert "This group has been cancelled" in str(event["DESCRIPTION"])
            assert int(event["SEQUENCE"]) > int(earlier["SEQUENCE"])
        else:
            assert str(event["STATUS"]) == "CONFIRMED"


def test_a_group_marked_ended_before_its_sessions_were_cancelled_still_sends_them_cancelled(
        client, login, group_with_members, facilitator):
    from app.groups.models import GroupStatus

    group_with_members.status = GroupStatus.FINISHED  # as groups ended before their sessions ended with them
    db.session.commit()
    login(client, facilitator)

    found = events(parse(client.get(f"/groups/{group_with_members.id}/calendar.ics").data))

    assert {str(found[uid(o)]["STATUS"]) for o in occurrences_of(group_with_members) if o.starts_at > NOW} == {
        "CANCELLED"}
