"""Input the app accepts must never break a page, a feed or an email afterwards, and input it cannot take is refused
with the usual error: deeply nested JSON, line breaks in one-line fields, time zones that do not load, dates out of
range, and socket events sent arguments they do not take."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from babel.dates import get_timezone
from groups_fixtures import *  # noqa: F403
from groups_fixtures import occurrences_of
from icalendar import Calendar
from sqlalchemy import func, select

from app.accounts.models import Organisation, User
from app.api_base import MAX_JSON_DEPTH
from app.extensions import db, mail, socketio
from app.groups.models import SessionOccurrence, TherapyGroup
from app.notifications.email import queue_email
from app.rooms.services import CheckInError, record_checkin
from app.zones import TIMEZONES

NESTED = "[" * 3000 + "]" * 3000  # 6 KB

ANONYMOUS_WRITES = {"/api/v1/auth/tokens", "/api/v1/invitations/{code}/accept"}


def api_writes(client) -> list[tuple[str, str]]:
    """(method, path template) of every endpoint that reads a JSON body, as the OpenAPI document describes them."""
    paths = client.get("/api/v1/openapi.json").json["paths"]
    return sorted((method.upper(), path) for path, operations in paths.items()
                  for method, operation in operations.items() if "requestBody" in operation)


def concrete(path: str) -> str:
    return re.sub(r"\{\w+_id\}", "1", re.sub(r"\{code\}", "some-code", path))


def assert_api_bad_request(response) -> None:
    assert response.status_code == 400, (response.status_code, response.text[:200])
    assert response.json["error"]["code"] == "bad_request"
    assert set(response.json["error"]) == {"code", "message", "fields"}


def test_the_api_has_the_write_endpoints_this_file_tries(client):
    writes = api_writes(client)
    assert len(writes) >= 20
    assert ANONYMOUS_WRITES <= {rule for _method, rule in writes}


def test_deeply_nested_json_is_refused_with_the_api_error_shape_on_every_write_endpoint(app, client, api_token,
                                                                                        facilitator):
    headers = {**api_token(facilitator), "Content-Type": "application/json"}
    for method, rule in api_writes(client):
        response = client.open(concrete(rule), method=method, data=NESTED, headers=headers)
        assert_api_bad_request(response)


@pytest.mark.parametrize("rule", sorted(ANONYMOUS_WRITES))
def test_deeply_nested_json_from_anyone_is_refused_on_the_open_endpoints(client, rule):
    response = client.post(concrete(rule), data=NESTED, headers={"Content-Type": "application/json"})

    assert_api_bad_request(response)


def test_json_a_little_deeper_than_any_body_needs_is_refused_and_shallower_is_read(client):
    def nested(depth: int) -> str:
        return '{"email": ' + "[" * (depth - 1) + "]" * (depth - 1) + ', "password": "x"}'

    too_deep = client.post("/api/v1/auth/tokens", data=nested(MAX_JSON_DEPTH + 1),
                           headers={"Content-Type": "application/json"})
    deep_enough = client.post("/api/v1/auth/tokens", data=nested(MAX_JSON_DEPTH),
                              headers={"Content-Type": "application/json"})

    assert_api_bad_request(too_deep)
    assert deep_enough.status_code == 422  # read, then refused by the schema: an email is not a list
    assert "email" in deep_enough.json["error"]["fields"]


# Line breaks and control characters in one-line fields ----------------------------------------------------------------

BREAKS = ["Riverside\nCircle", "Riverside\r\nBcc: someone@evil.example", "Riverside\rCircle", "Riverside\u2028Circle",
          "Riverside\x0bCircle", "Riverside\x1b[31mCircle", "Riverside\x85Circle"]


@pytest.mark.parametrize("name", BREAKS)
def test_the_api_refuses_a_group_name_with_a_line_break_or_control_character(client, api_token, facilitator, name):
    response = client.post("/api/v1/groups", json={"name": name}, headers=api_token(facilitator))

    assert response.status_code == 422
    assert response.json["error"]["fields"]["name"] == ["Keep this on one line, without special characters."]
    assert db.session.scalar(select(func.count()).select_from(TherapyGroup)) == 0


def test_the_api_refuses_a_video_link_with_a_line_break_and_keeps_line_breaks_in_a_description(
        client, api_token, facilitator):
    group = {"name": "Riverside", "video_link": "https://video.example/room"}
    refused = client.post("/api/v1/groups", headers=api_token(facilitator),
                          json={**group, "video_link": "https://video.example/a\nb"})
    kept = client.post("/api/v1/groups", headers=api_token(facilitator),
                       json={**group, "description": "First line.\nSecond line.\tTabbed."})
    control = client.post("/api/v1/groups", headers=api_token(facilitator),
                          json={**group, "description": "A bell \x07 rings."})

    assert refused.status_code == 422 and "video_link" in refused.json["error"]["fields"]
    assert kept.status_code == 201 and kept.json["description"] == "First line.\nSecond line.\tTabbed."
    assert control.status_code == 422 and "description" in control.json["error"]["fields"]


def test_the_organisation_form_refuses_a_name_with_a_line_break(client, login, post, admin):
    login(client, admin)
    before = admin.organisation.name

    response = post(client, "/admin/organisation", {"name": "Harbour\r\nBcc: x@evil.example", "locale": "en"})

    assert response.status_code == 200
    assert "Keep this on one line, without special characters." in response.text
    db.session.expire_all()
    assert db.session.get(Organisation, admin.organisation_id).name == before


def test_the_session_form_refuses_a_video_link_with_a_line_break_and_says_so(client, login, post, group_with_members,
                                                                            facilitator):
    occurrence = occurrences_of(group_with_members)[-1]
    login(client, facilitator)
    local = occurrence.starts_at.astimezone(ZoneInfo(group_with_members.timezone))

    response = post(client, f"/sessions/{occurrence.id}/edit", {
        "date": local.date().isoformat(), "time": local.strftime("%H:%M"), "duration_minutes": "90",
        "video_link": "https://video.example/room\nBcc: x", "location": ""}, follow_redirects=True)

    assert "Keep this on one line, without special characters." in response.text
    db.session.expire_all()
    assert db.session.get(SessionOccurrence, occurrence.id).video_link != "https://video.example/room\nBcc: x"


def test_the_group_form_refuses_a_name_with_a_line_break(client, login, post, facilitator):
    login(client, facilitator)

    response = post(client, "/groups/new", {"name": "Riverside\nCircle", "format": "online", "capacity": "8",
                                             "enrolment": "rolling", "timezone": "Europe/Berlin"})

    assert response.status_code in (200, 422)
    assert "Keep this on one line, without special characters." in response.text
    assert db.session.scalar(select(func.count()).select_from(TherapyGroup)) == 0


def test_feeds_and_emails_still_work_for_names_and_links_with_line_breaks_stored_earlier(
        app, client, login, group_with_members, facilitator, patient):
    """What an older version let in: the feed and the email subject write it as one line instead of failing."""
    group_with_members.name = "Tuesday\r\nevening group"
    occurrence = occurrences_of(group_with_members)[-1]
    occurrence.video_link = "https://video.example/room\nsecond"
    occurrence.location = "Room 1\nupstairs"
    db.session.commit()
    login(client, facilitator)

    response = client.get(f"/groups/{group_with_members.id}/calendar.ics")
    assert response.status_code == 200
    calendar = Calendar.from_ical(response.data)
    summaries = {str(event["summary"]) for event in calendar.walk("VEVENT")}
    assert summaries == {"Tuesday  evening group"}
    urls = {str(event["url"]) for event in calendar.walk("VEVENT") if event.get("location") == "Room 1 upstairs"}
    assert urls == {"https://video.example/room%20second"}

    with app.test_request_context(), mail.record_messages() as outbox:
        queue_email(patient.email, f"A place is free for you in {group_with_members.name}", "Body\nkept.")
        db.session.commit()
    assert [(message.subject, message.body) for message in outbox] == [
        ("A place is free for you in Tuesday  evening group", "Body\nkept.")]


def test_a_check_in_note_with_a_line_break_is_refused(group_with_members, patient):
    with pytest.raises(CheckInError) as refused:
        record_checkin(patient, client_id="note-with-a-break-0001", mood=3, note="fine\nBcc: x")

    assert refused.value.code == "invalid_note"


# Time zones -----------------------------------------------------------------------------------------------------------


def test_every_zone_offered_loads_in_zoneinfo_and_babel_and_machine_aliases_are_not_offered(client, login, patient):
    login(client, patient)
    offered = set(re.findall(r'<option[^>]*value="([^"]+)"', client.get("/profile").text))

    assert {"Europe/Berlin", "America/Los_Angeles", "UTC"} <= offered
    assert {"Factory", "localtime"}.isdisjoint(offered)
    assert {"Factory", "localtime", "posixrules"}.isdisjoint(TIMEZONES)
    for name in TIMEZONES:
        ZoneInfo(name)
        get_timezone(name)


@pytest.mark.parametrize("zone", ["Factory", "localtime", "Mars/Olympus_Mons"])
def test_the_profile_refuses_a_zone_that_is_not_offered(client, login, post, patient, zone):
    login(client, patient)
    before = patient.timezone

    response = post(client, "/profile", {"display_name": "Pat", "pronouns": "", "timezone": zone, "locale": "en"})

    assert response.status_code in (200, 422)
    db.session.expire_all()
    assert db.session.get(User, patient.id).timezone == before
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("stored", ["Factory", "localtime", "US/Pacific-New"])
def test_a_stored_zone_that_no_longer_loads_falls_back_to_the_organisations_with_a_notice(
        client, login, post, patient, stored):
    patient.organisation.timezone = "Pacific/Auckland"
    patient.timezone = stored
    db.session.commit()
    login(client, patient)

    for path in ("/", "/profile", "/sharing", "/goals"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert f"Your time zone ({stored}) is no longer available" in response.text
        assert "Auckland" in response.text
    post(client, "/profile", {"display_name": "Pat", "pronouns": "", "timezone": "Europe/Madrid", "locale": "en"})
    assert "is no longer available" not in client.get("/").text


def test_the_organisation_page_sets_the_organisations_zone_and_refuses_one_not_offered(client, login, post, admin):
    login(client, admin)

    refused = post(client, "/admin/organisation", {"name": "Harbour", "locale": "en", "timezone": "Factory"})
    saved = post(client, "/admin/organisation", {"name": "Harbour", "locale": "en", "timezone": "America/Chicago"})

    assert refused.status_code == 200
    assert saved.status_code == 302
    db.session.expire_all()
    assert db.session.get(Organisation, admin.organisation_id).timezone == "America/Chicago"


# Dates out of range ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data_from", ["0001-01-01T00:00:00+00:00", "1899-12-31T23:59:59+00:00",
                                       "9999-12-31T23:59:59-12:00"])
def test_the_api_refuses_a_consent_whose_data_period_starts_out_of_range(client, api_token, patient, data_from):
    response = client.post("/api/v1/consents", headers=api_token(patient), json={
        "email": "sam@example.org", "relationship": "brother", "data_classes": ["checkins"], "data_from": data_from})

    assert response.status_code == 422
    assert response.json["error"]["fields"]["data_from"] == ["Choose a date between 1900 and 2200."]


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_the_sessions_range_refuses_dates_out_of_range(client, api_token, group_with_members, facilitator, start):
    response = client.get(f"/api/v1/groups/{group_with_members.id}/sessions", query_string={"start": start},
                          headers=api_token(facilitator))

    assert response.status_code == 422
    assert response.json["error"]["fields"]["start"] == ["Choose a date between 1900 and 2200."]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_the_sharing_form_refuses_a_data_period_out_of_range_east_and_west_of_utc(client, login, post, patient,
                                                                                    zone, day):
    patient.timezone = zone
    db.session.commit()
    login(client, patient)

    response = post(client, "/sharing/invite", {"email": "sam@example.org", "relationship": "brother", "days": "30",
                                                "data_classes": "checkins", "data_from": day})

    assert response.status_code in (200, 422)
    assert "Choose a date between 1900 and 2200." in response.text
    assert client.get("/sharing").status_code == 200


# Socket events and their arguments ------------------------------------------------------------------------------------


def test_socket_events_ignore_an_argument_they_do_not_take_and_refuse_extra_ones(app, client, login, patient):
    login(client, patient)
    sio = socketio.test_client(app, flask_test_client=client)
    try:
        assert sio.emit("whoami", callback=True)["ok"] is True
        assert sio.emit("whoami", {"surprise": 1}, callback=True)["ok"] is True
        assert sio.emit("whoami", "text", callback=True)["ok"] is True
        assert sio.emit("whoami", 1, 2, callback=True) == {"ok": False, "error": "invalid",
                                                          "message": "This event takes one object at most."}
        assert sio.emit("leave_session", {}, [], callback=True)["error"] == "invalid"
        assert sio.is_connected()
    finally:
        sio.disconnect()
