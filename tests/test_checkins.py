"""Check-ins and safety alerts outside the socket: the JSON API (session check-ins, check-ins between sessions, alerts),
the home-page check-in (one tap in low-energy mode), the facilitator's dashboard, the session page and the member's own
history; and concurrent writers on SQLite and PostgreSQL (SECURITY.md 16)."""

from __future__ import annotations

import os
import re
import threading
import uuid
from datetime import timedelta

import pytest
import requests
from room_fixtures import *  # noqa: F403
from room_fixtures import CRISIS, IN_LOBBY, START, ack, add_member, key, received
from sqlalchemy import func, select

from app import create_app
from app.accounts.models import RoleName
from app.audit import AuditEvent
from app.extensions import db, limiter
from app.groups.models import Membership, MembershipStatus
from app.rooms import queries as room_queries
from app.rooms.models import CheckIn, SafetyAlert

SUPPORT = {k.removeprefix("crisis_"): v for k, v in CRISIS.items()}


def rows(model, **where) -> list:
    query = select(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    return list(db.session.scalars(query.order_by(model.id)))


def audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


@pytest.fixture
def bearer(api_token):
    """bearer(user) -> headers for the API, one token per person."""
    tokens = {}

    def headers(user) -> dict:
        if user.id not in tokens:
            tokens[user.id] = api_token(user)
        return tokens[user.id]

    return headers


def post_checkin(client, headers, url: str, **fields):
    return client.post(url, json={"client_id": fields.pop("client_id", None) or key(), **fields}, headers=headers)


# /api/v1/sessions/{id}/checkins ---------------------------------------------------------------------------------------


def test_a_member_checks_in_to_a_live_session_over_the_api(client, room, facilitator_in_room, enter, bearer, patient,
                                                           other_patient):
    olly = enter(other_patient)
    received(olly)
    url = f"/api/v1/sessions/{room.sid}/checkins"
    client_id = key()

    response = post_checkin(client, bearer(patient), url, mood=6, energy="high", note="A walk helped",
                            client_id=client_id)

    assert response.status_code == 201, response.json
    body = response.json
    assert (body["mood"], body["energy"], body["note"], body["passed"], body["client_id"], body["duplicate"]) == (
        6, "high", "A walk helped", False, client_id, False)
    assert body["session_id"] == room.sid and "support" not in body
    assert response.headers["Cache-Control"] == "no-store"
    [stored] = rows(CheckIn)
    assert (stored.user_id, stored.occurrence_id, stored.mood) == (patient.id, room.sid, 6)
    # Sockets in the room hear it as if it came over a socket.
    assert [c["note"] for c in received(facilitator_in_room, "checkin")] == ["A walk helped"]
    assert [c["name"] for c in received(olly, "checkin")] == ["Pat"]

    retry = post_checkin(client, bearer(patient), url, mood=6, energy="high", note="A walk helped",
                         client_id=client_id)
    assert retry.status_code == 201 and retry.json["duplicate"] is True and retry.json["id"] == body["id"]
    assert len(rows(CheckIn)) == 1
    assert received(facilitator_in_room, "checkin") == []


def test_a_low_mood_over_the_api_alerts_the_facilitators_and_answers_with_crisis_resources(
        client, room, facilitator_in_room, enter, bearer, patient, other_patient):
    olly = enter(other_patient)
    received(olly)
    response = post_checkin(client, bearer(patient), f"/api/v1/sessions/{room.sid}/checkins", mood=2)
    assert response.status_code == 201
    assert response.json["support"] == SUPPORT
    [alert] = rows(SafetyAlert)
    assert (alert.kind.value, alert.patient_id, alert.occurrence_id) == ("low_mood", patient.id, room.sid)
    assert [a["id"] for a in received(facilitator_in_room, "alert")] == [alert.id]
    assert received(olly, "alert") == []


def test_a_pass_over_the_api(client, room, facilitator_in_room, bearer, patient):
    response = post_checkin(client, bearer(patient), f"/api/v1/sessions/{room.sid}/checkins", passed=True)
    assert response.status_code == 201 and response.json["passed"] is True and response.json["mood"] is None
    assert rows(SafetyAlert) == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"mood": 11}, "mood"), ({"mood": -1}, "mood"), ({"mood": "low"}, "mood"), ({"mood": 2**70}, "mood"),
    ({"mood": 5, "energy": "extreme"}, "energy"), ({"mood": 5, "note": "x" * 281}, "note"),
    ({"mood": 5, "client_id": "short"}, "client_id"), ({"mood": 5, "client_id": "sp ace sp ace"}, "client_id"),
])
def test_a_malformed_api_checkin_is_refused_with_the_field_named(client, room, facilitator_in_room, bearer, patient,
                                                                 fields, field):
    response = client.post(f"/api/v1/sessions/{room.sid}/checkins", json={"client_id": key(), **fields},
                           headers=bearer(patient))
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert rows(CheckIn) == []


def test_a_checkin_without_mood_or_pass_is_refused(client, room, facilitator_in_room, bearer, patient):
    response = post_checkin(client, bearer(patient), f"/api/v1/sessions/{room.sid}/checkins", note="just a note")
    assert response.status_code == 422
    assert rows(CheckIn) == []


def test_session_checkins_wait_for_the_room(client, room, connect_as, clock, bearer, patient):
    url = f"/api/v1/sessions/{room.sid}/checkins"
    clock.move_to(IN_LOBBY)
    assert post_checkin(client, bearer(patient), url, mood=5).status_code == 409  # not opened yet
    fac = connect_as(room.facilitator)
    clock.move_to(START - timedelta(hours=2))
    assert ack(fac, "open_room", {"session_id": room.sid})["ok"] is True
    assert post_checkin(client, bearer(patient), url, mood=5).status_code == 409  # before the lobby time
    clock.move_to(IN_LOBBY)
    assert post_checkin(client, bearer(patient), url, mood=5).status_code == 201
    assert ack(fac, "close_room", {"session_id": room.sid})["ok"] is True
    assert post_checkin(client, bearer(patient), url, mood=5).status_code == 409
    assert len(rows(CheckIn)) == 1


def test_who_may_check_in_to_a_session(client, room, facilitator_in_room, bearer, make_user, make_room, supporter):
    url = f"/api/v1/sessions/{room.sid}/checkins"
    outsider = make_user(RoleName.PATIENT)
    other_facilitator = make_user(RoleName.FACILITATOR)
    make_room(other_facilitator, [outsider])
    assert post_checkin(client, bearer(outsider), url, mood=5).status_code == 404
    assert post_checkin(client, bearer(supporter), url, mood=5).status_code == 404
    assert post_checkin(client, bearer(other_facilitator), url, mood=5).status_code == 404
    refused = post_checkin(client, bearer(room.facilitator), url, mood=5)
    assert refused.status_code == 403
    assert refused.json["error"]["message"] == "Facilitators do not check in."
    assert rows(AuditEvent, action="request_denied", actor_id=room.facilitator.id)  # a refusal of the person
    assert post_checkin(client, {}, url, mood=5).status_code == 401
    assert post_checkin(client, {"Authorization": "Bearer not-a-token"}, url, mood=5).status_code == 401
    assert rows(CheckIn) == []


def test_a_browser_session_needs_the_csrf_token_to_check_in(client, room, facilitator_in_room, login, csrf, patient):
    login(client, patient)
    url = f"/api/v1/sessions/{room.sid}/checkins"
    assert client.post(url, json={"client_id": key(), "mood": 5}).status_code in (400, 403)
    assert rows(CheckIn) == []
    response = client.post(url, json={"client_id": key(), "mood": 5}, headers={"X-CSRFToken": csrf(client)})
    assert response.status_code == 201


def test_listing_a_sessions_checkins_follows_the_visibility_setting(client, make_room, connect_as, clock, bearer,
                                                                   facilitator, patient, other_patient, make_user,
                                                                   supporter):
    room = make_room(facilitator, [patient, other_patient], checkin_visibility="presence")
    clock.move_to(IN_LOBBY)
    assert ack(connect_as(facilitator), "open_room", {"session_id": room.sid})["ok"] is True
    url = f"/api/v1/sessions/{room.sid}/checkins"
    assert post_checkin(client, bearer(patient), url, mood=3, note="Rough week").status_code == 201
    assert post_checkin(client, bearer(other_patient), url, mood=8, note="Good news").status_code == 201

    as_facilitator = client.get(url, headers=bearer(facilitator))
    assert as_facilitator.status_code == 200
    assert sorted((c["name"], c["mood"], c["note"]) for c in as_facilitator.json) == [
        ("Olly", 8, "Good news"), ("Pat", 3, "Rough week")]

    as_olly = {c["name"]: c for c in client.get(url, headers=bearer(other_patient)).json}
    assert as_olly["Olly"]["note"] == "Good news"
    assert as_olly["Pat"]["checked_in"] is True and "mood" not in as_olly["Pat"] and "note" not in as_olly["Pat"]

    outsider = make_user(RoleName.PATIENT)
    assert client.get(url, headers=bearer(outsider)).status_code == 404
    assert client.get(url, headers=bearer(supporter)).status_code == 404
    assert client.get(url).status_code == 401
    assert client.get("/api/v1/sessions/999999/checkins", headers=bearer(facilitator)).status_code == 404


def test_a_session_list_shows_each_members_latest_checkin(client, room, facilitator_in_room, clock, bearer, patient):
    url = f"/api/v1/sessions/{room.sid}/checkins"
    assert post_checkin(client, bearer(patient), url, mood=3).status_code == 201
    clock.shift(timedelta(minutes=20))
    assert post_checkin(client, bearer(patient), url, mood=5, note="Better now").status_code == 201
    listed = client.get(url, headers=bearer(room.facilitator)).json
    assert [(c["mood"], c["note"]) for c in listed] == [(5, "Better now")]
    assert len(rows(CheckIn)) == 2


# /api/v1/checkins (between sessions) ----------------------------------------------------------------------------------


@pytest.fixture
def two_groups(make_room, make_user, facilitator, patient, other_patient):
    """Pat is an active member of two groups run by two facilitators, and waitlisted in a third."""
    first = make_room(facilitator, [patient, other_patient])
    second_facilitator = make_user(RoleName.FACILITATOR, display_name="Sasha Second")
    second = make_room(second_facilitator, [patient], name="Monday group")
    third_facilitator = make_user(RoleName.FACILITATOR, display_name="Theo Third")
    third = make_room(third_facilitator, [], name="Waiting group")
    membership = add_member(third.group, patient, "Pat")
    membership.status = MembershipStatus.WAITLISTED
    db.session.commit()
    return first, second, third


def test_a_checkin_between_sessions_reaches_the_facilitators_dashboards(client, two_groups, connect_as, bearer,
                                                                       patient, other_patient, supporter):
    first, second, third = two_groups
    watching = {name: connect_as(person) for name, person in (
        ("first", first.facilitator), ("second", second.facilitator), ("third", third.facilitator),
        ("olly", other_patient), ("supporter", supporter))}

    response = post_checkin(client, bearer(patient), "/api/v1/checkins", mood=6, energy="medium", note="Went out")

    assert response.status_code == 201
    assert response.json["session_id"] is None and "support" not in response.json
    [stored] = rows(CheckIn)
    assert stored.occurrence_id is None and stored.note == "Went out"
    for name, room in (("first", first), ("second", second)):
        [pushed] = received(watching[name], "checkin")
        assert (pushed["group_id"], pushed["note"], pushed["mood"]) == (room.group.id, "Went out", 6)
    for name in ("third", "olly", "supporter"):
        assert received(watching[name]) == []
    assert rows(SafetyAlert) == []


def test_a_low_mood_between_sessions_alerts_each_active_groups_facilitators(client, two_groups, connect_as, bearer,
                                                                            patient, other_patient):
    first, second, third = two_groups
    sockets = {room.facilitator.id: connect_as(room.facilitator) for room in (first, second, third)}
    olly = connect_as(other_patient)

    response = post_checkin(client, bearer(patient), "/api/v1/checkins", mood=1)

    assert response.status_code == 201 and response.json["support"] == SUPPORT
    alerts = rows(SafetyAlert)
    assert sorted(a.group_id for a in alerts) == sorted([first.group.id, second.group.id])
    assert all(a.kind.value == "low_mood" and a.occurrence_id is None for a in alerts)
    assert [a["group_id"] for a in received(sockets[first.facilitator.id], "alert")] == [first.group.id]
    assert [a["group_id"] for a in received(sockets[second.facilitator.id], "alert")] == [second.group.id]
    assert received(sockets[third.facilitator.id]) == [] and received(olly) == []
    assert len(audit("safety_alert")) == 2


def test_a_paused_members_low_mood_between_sessions_still_alerts_that_groups_facilitators(
        client, make_room, make_user, connect_as, bearer, patient, other_patient):
    """A pause from the group is not a pause from its facilitators' care; someone who has left is no longer theirs."""
    paused = make_room(make_user(RoleName.FACILITATOR, display_name="Paula Paused"), [patient], name="Paused group")
    left = make_room(make_user(RoleName.FACILITATOR, display_name="Lee Left"), [patient], name="Left group")
    for room, status in ((paused, MembershipStatus.PAUSED), (left, MembershipStatus.LEFT)):
        db.session.scalar(select(Membership).where(Membership.group_id == room.group.id,
                                                   Membership.user_id == patient.id)).status = status
    db.session.commit()
    sockets = {room.group.id: connect_as(room.facilitator) for room in (paused, left)}

    response = post_checkin(client, bearer(patient), "/api/v1/checkins", mood=0, note="Hard week")

    assert response.status_code == 201 and response.json["support"] == SUPPORT
    assert [a.group_id for a in rows(SafetyAlert)] == [paused.group.id]
    assert [a["group_id"] for a in received(sockets[paused.group.id], "alert")] == [paused.group.id]
    assert received(sockets[left.group.id]) == []
    assert [c.note for c in room_queries.recent_between_session_checkins([paused.group.id])] == ["Hard week"]
    assert room_queries.recent_between_session_checkins([left.group.id]) == []


def test_the_threshold_between_sessions_is_each_groups_own(client, make_room, make_user, bearer, facilitator,
                                                           patient):
    strict = make_room(facilitator, [patient], distress_threshold=4)
    make_room(make_user(RoleName.FACILITATOR), [patient], name="Default group")
    assert post_checkin(client, bearer(patient), "/api/v1/checkins", mood=3).status_code == 201
    assert [a.group_id for a in rows(SafetyAlert)] == [strict.group.id]


def test_listing_ones_own_checkins(client, room, facilitator_in_room, clock, bearer, patient, other_patient):
    assert post_checkin(client, bearer(patient), f"/api/v1/sessions/{room.sid}/checkins", mood=4).status_code == 201
    clock.shift(timedelta(days=1))
    assert post_checkin(client, bearer(patient), "/api/v1/checkins", passed=True).status_code == 201
    assert post_checkin(client, bearer(other_patient), "/api/v1/checkins", mood=9).status_code == 201

    listed = client.get("/api/v1/checkins", headers=bearer(patient))
    assert listed.status_code == 200
    assert [(c["session_id"], c["passed"], c["mood"]) for c in listed.json] == [(None, True, None),
                                                                                  (room.sid, False, 4)]
    assert all(c["user_id"] == patient.id and c["client_id"] for c in listed.json)


def test_only_patients_check_in_between_sessions(client, bearer, facilitator, supporter, admin):
    for person in (facilitator, supporter, admin):
        assert post_checkin(client, bearer(person), "/api/v1/checkins", mood=5).status_code == 403
        assert client.get("/api/v1/checkins", headers=bearer(person)).status_code == 403
    assert client.get("/api/v1/checkins").status_code == 401
    assert rows(CheckIn) == []


def test_between_sessions_the_same_key_is_stored_once(client, bearer, patient, room):
    client_id = key()
    first = post_checkin(client, bearer(patient), "/api/v1/checkins", mood=1, client_id=client_id)
    retry = post_checkin(client, bearer(patient), "/api/v1/checkins", mood=1, client_id=client_id)
    assert first.json["duplicate"] is False and retry.json["duplicate"] is True
    assert retry.json["support"] == SUPPORT  # the first answer may be the one that was lost
    assert len(rows(CheckIn)) == 1 and len(rows(SafetyAlert)) == 1


@pytest.mark.parametrize("status", [None, MembershipStatus.WAITLISTED, MembershipStatus.LEFT])
def test_a_very_low_mood_shows_the_crisis_resources_even_with_no_facilitator_to_alert(client, make_room, make_user,
                                                                                      bearer, patient, status):
    """CLINICAL.md safety rule 2: distress is the mood itself, not whether an alert could be raised."""
    if status is not None:
        membership = add_member(make_room(make_user(RoleName.FACILITATOR), []).group, patient, "Pat")
        membership.status = status
        db.session.commit()

    low = post_checkin(client, bearer(patient), "/api/v1/checkins", mood=0, note="Nobody to tell")
    ordinary = post_checkin(client, bearer(patient), "/api/v1/checkins", mood=3)

    assert low.status_code == 201 and low.json["support"] == SUPPORT
    assert rows(SafetyAlert) == []  # no group of theirs: nobody to alert, and the member is shown where help is
    assert "support" not in ordinary.json  # above the default threshold of 2
    retry = post_checkin(client, bearer(patient), "/api/v1/checkins", mood=0, client_id=low.json["client_id"])
    assert retry.json["duplicate"] is True and retry.json["support"] == SUPPORT


def test_a_very_low_mood_from_the_home_page_without_a_group_shows_the_resources_calmly(client, login, post, make_room,
                                                                                     patient):
    login(client, patient)
    page = client.get("/").get_data(as_text=True)
    client_id = re.search(r'name="client_id" value="([^"]+)"', page).group(1)

    assert post(client, "/checkins", {"client_id": client_id, "mood": "1"}).status_code == 302

    page = client.get("/").get_data(as_text=True)
    assert "Thank you for telling us." in page and CRISIS["crisis_phone"] in page
    assert "Your facilitator has been told" not in page  # there is none to tell: the page does not pretend
    assert rows(SafetyAlert) == []


# /api/v1/alerts -------------------------------------------------------------------------------------------------------


def test_facilitators_list_and_acknowledge_their_groups_alerts(client, two_groups, connect_as, bearer, patient,
                                                              make_organisation, make_user):
    first, second, _third = two_groups
    assert post_checkin(client, bearer(patient), "/api/v1/checkins", mood=0).status_code == 201
    mine = rows(SafetyAlert, group_id=first.group.id)[0]
    theirs = rows(SafetyAlert, group_id=second.group.id)[0]
    co_socket = connect_as(first.facilitator)

    listed = client.get("/api/v1/alerts", headers=bearer(first.facilitator))
    assert listed.status_code == 200
    assert [(a["id"], a["kind"], a["name"], a["acknowledged"]) for a in listed.json] == [
        (mine.id, "low_mood", "Pat", False)]

    assert client.post(f"/api/v1/alerts/{theirs.id}/acknowledge", headers=bearer(first.facilitator)).status_code == 404
    assert client.post(f"/api/v1/alerts/{mine.id}/acknowledge", headers=bearer(patient)).status_code == 404
    foreign = make_user(RoleName.FACILITATOR, organisation_=make_organisation())
    assert client.post(f"/api/v1/alerts/{mine.id}/acknowledge", headers=bearer(foreign)).status_code == 404
    assert client.post("/api/v1/alerts/999999/acknowledge", headers=bearer(first.facilitator)).status_code == 404
    assert audit("safety_alert_acknowledge") == []

    done = client.post(f"/api/v1/alerts/{mine.id}/acknowledge", headers=bearer(first.facilitator))

    assert done.status_code == 200
    assert done.json["acknowledged"] is True and done.json["acknowledged_by"] == first.facilitator.display_name
    [event] = audit("safety_alert_acknowledge")
    assert (event.actor_id, event.subject_id, event.target) == (first.facilitator.id, patient.id, f"alert:{mine.id}")
    assert received(co_socket, "alert")[-1]["acknowledged"] is True
    assert client.get("/api/v1/alerts", headers=bearer(first.facilitator)).json == []
    assert [a["id"] for a in client.get("/api/v1/alerts", headers=bearer(second.facilitator)).json] == [theirs.id]


def test_only_facilitators_list_alerts(client, bearer, patient, supporter, admin):
    for person in (patient, supporter, admin):
        assert client.get("/api/v1/alerts", headers=bearer(person)).status_code == 403
    assert client.get("/api/v1/alerts").status_code == 401


# Pages ----------------------------------------------------------------------------------------------------------------


def home_forms(html: str) -> list[dict]:
    """The check-in forms on a home page, each as the fields it would post."""
    forms = []
    for match in re.finditer(r'<form method="post" action="/checkins"[^>]*>(.*?)</form>', html, re.S):
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', match.group(1)))
        label = re.search(r"<button[^>]*>([^<]+)</button>", match.group(1))
        forms.append({"fields": fields, "label": label.group(1) if label else ""})
    return forms


def test_a_checkin_from_the_patients_home_page(client, login, post, room, patient):
    login(client, patient)
    page = client.get("/").get_data(as_text=True)
    assert 'action="/checkins"' in page
    client_id = re.search(r'name="client_id" value="([^"]+)"', page).group(1)

    response = post(client, "/checkins", {"client_id": client_id, "mood": "6", "energy": "medium",
                                          "note": "Cooked dinner"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    again = post(client, "/checkins", {"client_id": client_id, "mood": "6", "energy": "medium",
                                       "note": "Cooked dinner"})  # a double submit
    assert again.status_code == 302

    [stored] = rows(CheckIn)
    assert (stored.mood, stored.energy.value, stored.note, stored.occurrence_id) == (6, "medium", "Cooked dinner",
                                                                                   None)
    page = client.get("/").get_data(as_text=True)
    assert "Thank you for checking in." in page
    assert "Thank you for telling us" not in page  # no crisis callout for an ordinary day


def test_in_low_energy_mode_a_home_checkin_is_one_tap(client, login, post, room, patient):
    patient.low_energy = True
    db.session.commit()
    login(client, patient)
    forms = home_forms(client.get("/").get_data(as_text=True))
    labels = [f["label"] for f in forms]
    assert labels == ["Very low", "Low", "Okay", "Good", "Very good", "Pass"]
    assert len({f["fields"]["client_id"] for f in forms}) == len(forms)  # each button its own key

    good = forms[labels.index("Good")]["fields"]
    assert post(client, "/checkins", {k: v for k, v in good.items() if k != "csrf_token"}).status_code == 302
    passed = forms[labels.index("Pass")]["fields"]
    assert post(client, "/checkins", {k: v for k, v in passed.items() if k != "csrf_token"}).status_code == 302

    stored = rows(CheckIn)
    assert [(c.mood, c.passed) for c in stored] == [(7, False), (None, True)]


def test_a_low_mood_from_the_home_page_shows_support_and_alerts_the_facilitator(client, login, post, room,
                                                                                connect_as, patient):
    fac = connect_as(room.facilitator)
    patient.low_energy = True
    db.session.commit()
    login(client, patient)
    very_low = home_forms(client.get("/").get_data(as_text=True))[0]["fields"]

    assert post(client, "/checkins", {k: v for k, v in very_low.items() if k != "csrf_token"}).status_code == 302

    page = client.get("/").get_data(as_text=True)
    assert "Thank you for telling us. Your facilitator has been told privately." in page
    assert CRISIS["crisis_phone"] in page and CRISIS["crisis_name"] in page
    assert [a["kind"] for a in received(fac, "alert")] == ["low_mood"]
    assert "Thank you for telling us" not in client.get("/").get_data(as_text=True)  # shown once


@pytest.mark.parametrize("fields", [{"mood": "11"}, {"mood": ""}, {"mood": "x"}, {"mood": "5", "energy": "extreme"},
                                    {"mood": "5", "note": "x" * 281}, {"mood": "5", "client_id": "short"}])
def test_a_bad_home_checkin_changes_nothing(client, login, post, room, patient, fields):
    login(client, patient)
    response = post(client, "/checkins", {"client_id": key(), **fields})
    assert response.status_code == 302
    assert rows(CheckIn) == []


def test_a_home_checkin_needs_the_csrf_token(client, login, room, patient):
    login(client, patient)
    assert client.post("/checkins", data={"client_id": key(), "mood": "5"}).status_code == 400
    assert rows(CheckIn) == []


def test_only_patients_post_home_checkins(client, login, post, facilitator, supporter):
    for person in (facilitator, supporter):
        login(client, person)
        assert post(client, "/checkins", {"client_id": key(), "mood": "5"}).status_code == 403
        assert client.get("/checkins").status_code == 403
    assert rows(CheckIn) == []


def test_the_facilitator_dashboard_shows_open_alerts_and_checkins_between_sessions(
        client, login, post, room, bearer, patient, other_patient, make_user, make_room):
    stranger = make_user(RoleName.PATIENT, display_name="Stella Stranger")
    make_room(make_user(RoleName.FACILITATOR), [stranger], name="Other group")
    assert post_checkin(client, bearer(patient), "/api/v1/checkins", mood=1, note="Hard day").status_code == 201
    assert post_checkin(client, bearer(other_patient), "/api/v1/checkins", mood=7, note="Saw a friend").status_code \
        == 201
    assert post_checkin(client, bearer(stranger), "/api/v1/checkins", mood=1, note="Not yours").status_code == 201
    [alert] = rows(SafetyAlert, group_id=room.group.id)

    login(client, room.facilitator)
    page = client.get("/").get_data(as_text=True)
    assert f'data-alert-id="{alert.id}"' in page and "checked in with a very low mood" in page
    between = page[page.index('id="between-heading"'):]
    between = between[:between.index("</section>")]
    assert "Hard day" in between and "Saw a friend" in between and "Mood 7 of 10" in between
    assert "Not yours" not in page and "Stella" not in page
    # Members by the name they chose in the group, as everywhere else in it.
    assert "Pat ·" in between and "Olly ·" in between
    assert patient.display_name not in between and other_patient.display_name not in between

    response = post(client, f"/alerts/{alert.id}/acknowledge?next=/")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert f'data-alert-id="{alert.id}"' not in page and "No open alerts." in page
    assert "Hard day" in page  # the check-in itself stays
    [event] = audit("safety_alert_acknowledge")
    assert event.actor_id == room.facilitator.id


def test_acknowledging_on_the_page_needs_the_groups_facilitator_and_a_token(client, login, post, room, bearer,
                                                                            patient, make_user):
    assert post_checkin(client, bearer(patient), "/api/v1/checkins", mood=0).status_code == 201
    [alert] = rows(SafetyAlert)
    other = make_user(RoleName.FACILITATOR)
    login(client, other)
    assert post(client, f"/alerts/{alert.id}/acknowledge").status_code == 404
    login(client, room.facilitator)
    assert client.post(f"/alerts/{alert.id}/acknowledge").status_code == 400
    login(client, patient)
    assert post(client, f"/alerts/{alert.id}/acknowledge").status_code == 404
    assert rows(SafetyAlert)[0].acknowledged_at is None


def test_after_the_session_its_checkins_stay_on_its_page_for_facilitators(client, login, room, facilitator_in_room,
                                                                         enter, clock, patient, other_patient):
    pat, olly = enter(patient), enter(other_patient)
    assert ack(pat, "checkin", {"session_id": room.sid, "client_id": key(), "mood": 4, "energy": "low",
                                "note": "Tired but here"})["ok"] is True
    assert ack(olly, "checkin", {"session_id": room.sid, "client_id": key(), "passed": True})["ok"] is True
    assert ack(facilitator_in_room, "close_room", {"session_id": room.sid})["ok"] is True
    clock.move_to(START + timedelta(hours=3))

    login(client, room.facilitator)
    page = client.get(f"/sessions/{room.sid}").get_data(as_text=True)
    section = page[page.index('id="session-checkins-heading"'):]
    assert "Pat: Mood 4 of 10" in section and "Tired but here" in section and "Olly: Passed" in section

    login(client, other_patient)
    member_page = client.get(f"/sessions/{room.sid}").get_data(as_text=True)
    assert "Tired but here" not in member_page and 'id="session-checkins-heading"' not in member_page


def test_a_members_history_holds_their_own_checkins_live_and_between(client, login, room, facilitator_in_room, enter,
                                                                    clock, bearer, patient, other_patient):
    assert ack(enter(patient), "checkin", {"session_id": room.sid, "client_id": key(), "mood": 4,
                                           "note": "In the group"})["ok"] is True
    assert ack(enter(other_patient), "checkin", {"session_id": room.sid, "client_id": key(), "mood": 8,
                                                 "note": "Olly's own"})["ok"] is True
    clock.shift(timedelta(days=2))
    assert post_checkin(client, bearer(patient), "/api/v1/checkins", mood=6, note="At home").status_code == 201

    login(client, patient)
    page = client.get("/checkins").get_data(as_text=True)
    assert page.index("At home") < page.index("In the group")  # newest first
    assert "(in a session)" in page
    assert "Olly&#39;s own" not in page and "Olly's own" not in page


# Concurrent writers (SECURITY.md 16) ----------------------------------------------------------------------------------

WRITERS = 8
PER_WRITER = 50


def _backends() -> list:
    backends = ["sqlite"]
    if os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"):
        backends.append("postgresql")
    return backends


@pytest.fixture(params=_backends())
def concurrent_server(request, tmp_path):
    """The app served by werkzeug with a thread per request, on a SQLite file (WAL, BEGIN IMMEDIATE) or on PostgreSQL;
    a facilitator's open room with eight members, and a bearer token for each."""
    from conftest import password_hash
    from werkzeug.serving import make_server

    from app.accounts import services as account_services
    from app.accounts.models import Organisation, Role, User
    from app.groups import services
    from app.groups.models import Membership, SessionOccurrence
    from app.models_base import utcnow
    from app.rooms.models import LiveRoom

    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'concurrent.db'}"
    else:
        uri = os.environ["TEST_DATABASE_URL"]
    app = create_app("test", SQLALCHEMY_DATABASE_URI=uri)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.drop_all()
        db.create_all()
        limiter.reset()
        with app.test_request_context():
            organisation = Organisation(name="Concurrent Clinic", slug=f"concurrent-{uuid.uuid4().hex[:8]}")
            db.session.add(organisation)
            db.session.flush()

            def person(role, name):
                user = User(email=f"{uuid.uuid4().hex[:10]}@example.org", password_hash=password_hash(),
                            display_name=name)
                user.roles.append(Role(organisation_id=organisation.id, name=role))
                db.session.add(user)
                db.session.flush()
                return user

            facilitator = person(RoleName.FACILITATOR, "Fran")
            group = services.create_group(facilitator, {"name": "Whole room", "status": "active",
                                                        "timezone": "UTC", "format": "online",
                                                        "video_link": "https://video.example.org/whole-room"})
            occurrence = SessionOccurrence(group_id=group.id, starts_at=utcnow(), duration_minutes=90)
            db.session.add(occurrence)
            db.session.flush()
            db.session.add(LiveRoom(occurrence_id=occurrence.id, opened_at=utcnow(), opened_by_id=facilitator.id))
            tokens = []
            for n in range(WRITERS):
                member = person(RoleName.PATIENT, f"Member {n}")
                db.session.add(Membership(group_id=group.id, user_id=member.id, status=MembershipStatus.ACTIVE,
                                          preferred_name=f"Member {n}"))
                tokens.append(account_services.create_api_token(member, "pytest")[1])
            db.session.commit()
            session_id = occurrence.id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="concurrent-server", daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.port}", session_id, tokens
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            if db.engine.dialect.name == "sqlite":
                db.drop_all()
            db.engine.dispose()


def test_a_whole_room_checking_in_at_once_loses_nothing(concurrent_server):
    app, url, session_id, tokens = concurrent_server
    barrier = threading.Barrier(WRITERS)
    outcomes: list[tuple[str, int, str]] = []
    lock = threading.Lock()

    def writer(token: str) -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        barrier.wait()
        try:
            for n in range(PER_WRITER):
                client_id = f"w-{token[-8:]}-{n:03d}-{uuid.uuid4().hex[:8]}"
                response = http.post(f"{url}/api/v1/sessions/{session_id}/checkins", timeout=60,
                                     json={"client_id": client_id, "mood": 3 + n % 7, "energy": "medium",
                                           "note": f"check-in {n}"})
                with lock:
                    outcomes.append((client_id, response.status_code, response.text))
        finally:
            http.close()

    threads = [threading.Thread(target=writer, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert len(outcomes) == WRITERS * PER_WRITER
    failures = [(status, text[:200]) for _cid, status, text in outcomes if status != 201]
    assert failures == []
    assert not any("locked" in text.lower() for _cid, _status, text in outcomes)
    acknowledged = {cid for cid, status, _text in outcomes if status == 201}
    with app.app_context():
        stored = list(db.session.scalars(select(CheckIn.client_id).where(CheckIn.occurrence_id == session_id)))
        assert len(stored) == len(set(stored)) == WRITERS * PER_WRITER  # 0 duplicates
        assert acknowledged <= set(stored)  # 0 acknowledged check-ins lost
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "checkin")) \
            == WRITERS * PER_WRITER


def test_the_facilitators_home_page_catches_up_from_the_database(client, room, connect_as, bearer, patient,
                                                                 other_patient, make_user, make_room, supporter):
    """sync_dashboard: what a home page that reconnected (or lost a push) shows, as the page itself would."""
    stranger = make_user(RoleName.PATIENT, display_name="Stella Stranger")
    make_room(make_user(RoleName.FACILITATOR), [stranger], name="Other group")
    assert post_checkin(client, bearer(patient), "/api/v1/checkins", mood=1, note="Hard day").status_code == 201
    assert post_checkin(client, bearer(other_patient), "/api/v1/checkins", mood=7, note="A walk").status_code == 201
    assert post_checkin(client, bearer(stranger), "/api/v1/checkins", mood=1, note="Not yours").status_code == 201
    fac = connect_as(room.facilitator)

    answer = ack(fac, "sync_dashboard", {})

    assert answer["ok"] is True
    assert [(a["name"], a["kind"]) for a in answer["alerts"]] == [("Pat", "low_mood")]
    assert sorted((c["name"], c["note"]) for c in answer["checkins"]) == [("Olly", "A walk"), ("Pat", "Hard day")]
    assert "Stella" not in str(answer) and "Not yours" not in str(answer)
    for person in (patient, supporter):
        assert ack(connect_as(person), "sync_dashboard", {})["error"] == "forbidden"


def test_signing_out_clears_what_the_browser_kept_for_the_account(client, login, post, patient):
    """A check-in waiting in the browser's storage (with its note) must not outlive the login on a shared computer."""
    login(client, patient)
    response = post(client, "/logout")
    assert response.status_code == 302
    assert response.headers["Clear-Site-Data"] == '"storage"'
