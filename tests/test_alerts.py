"""What follows a call for support (issue 11): the facilitator acknowledges it with a short note of what was done (for
the group's facilitators only, audited), the member learns in calm words that it was seen (live, and again on a
reload), nobody else hears of it, and the facilitator keeps a list of past alerts. And what a facilitator who opens the
room early is told of the members' time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from room_fixtures import *  # noqa: F403
from room_fixtures import IN_LOBBY, START, ack, key, received
from sqlalchemy import select

from app.accounts.models import RoleName
from app.audit import AuditEvent
from app.extensions import db
from app.groups import services as group_services
from app.rooms.models import ALERT_NOTE_MAX, SafetyAlert

NOTE = "Called Pat; safe at home with family tonight."
SEEN = "Dr. Fran Facilitator has seen your message and will be in touch."


def audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def alerts() -> list[SafetyAlert]:
    return list(db.session.scalars(select(SafetyAlert).order_by(SafetyAlert.id)))


@pytest.fixture
def support_call(room, facilitator_in_room, enter, patient):
    """Pat, in the open room, has pressed "I need support now": Pat's socket and the alert."""
    pat = enter(patient)
    assert ack(pat, "need_support", {"session_id": room.sid, "client_id": key()})["ok"] is True
    [alert] = alerts()
    received(pat)
    received(facilitator_in_room)
    return pat, alert


def home(app, login, user) -> str:
    client = app.test_client()
    login(client, user)
    return client.get("/").get_data(as_text=True)


# The member learns it was seen ----------------------------------------------------------------------------------------


def test_the_member_is_told_live_and_on_reload_who_has_seen_their_call(room, facilitator_in_room, support_call,
                                                                      enter, connect_as, app, login, patient):
    pat, alert = support_call
    pat_elsewhere = connect_as(patient)  # the home page in another tab
    before = home(app, login, patient)  # Pat is in Berlin, where the call went at 18:50
    assert "You asked for support at 18:50. Your facilitator has been told privately." in before
    assert SEEN not in before
    assert ack(pat, "sync", {"session_id": room.sid})["state"]["support"]["seen_by"] is None

    answer = ack(facilitator_in_room, "acknowledge_alert", {"alert_id": alert.id, "note": NOTE})

    assert answer["ok"] is True
    for sio in (pat, pat_elsewhere):
        [seen] = received(sio, "support_seen")
        assert seen["alert_id"] == alert.id and seen["session_id"] == room.sid
        assert seen["seen_by"] == "Dr. Fran Facilitator"
        assert NOTE not in str(seen)
    state = ack(pat, "sync", {"session_id": room.sid})["state"]
    assert state["support"]["seen_by"] == "Dr. Fran Facilitator"  # a reload of the room reads it again
    page = home(app, login, patient)
    assert SEEN in page and NOTE not in page


def test_nobody_else_hears_that_a_call_was_seen(room, facilitator_in_room, support_call, enter, connect_as,
                                                make_user, other_patient, supporter, app, login):
    pat, alert = support_call
    olly = enter(other_patient)
    co = make_user(RoleName.FACILITATOR, display_name="Cody Co")
    group_services.set_co_facilitators(room.facilitator, room.group, [co])
    db.session.commit()
    others = [olly, connect_as(supporter), connect_as(co)]
    for sio in others:
        received(sio)

    assert ack(facilitator_in_room, "acknowledge_alert", {"alert_id": alert.id, "note": NOTE})["ok"] is True

    for sio in others:
        assert received(sio, "support_seen") == []
    olly_state = ack(olly, "sync", {"session_id": room.sid})["state"]
    assert olly_state["support"] is None and NOTE not in str(olly_state)
    for person in (other_patient, supporter):
        page = home(app, login, person)
        assert SEEN not in page and NOTE not in page


def test_an_alert_raised_by_a_low_mood_is_acknowledged_without_a_message_to_the_member(
        room, facilitator_in_room, enter, patient, app, login):
    pat = enter(patient)
    assert ack(pat, "checkin", {"session_id": room.sid, "client_id": key(), "mood": 0})["ok"] is True
    [alert] = alerts()
    received(pat)

    assert ack(facilitator_in_room, "acknowledge_alert", {"alert_id": alert.id})["ok"] is True

    assert received(pat, "support_seen") == []  # the member asked for nothing: no "seen your message"
    assert SEEN not in home(app, login, patient)


# The note of what was done --------------------------------------------------------------------------------------------


def test_acknowledging_on_the_page_keeps_the_note_for_the_facilitators_and_audits_it(
        client, login, post, room, support_call, patient):
    _pat, alert = support_call
    login(client, room.facilitator)

    response = post(client, f"/alerts/{alert.id}/acknowledge?next=/alerts", {"note": f"  {NOTE}  "})

    assert response.status_code == 302 and response.headers["Location"] == "/alerts"
    db.session.refresh(alert)
    assert (alert.acknowledged_by_id, alert.note) == (room.facilitator.id, NOTE)
    [event] = audit("safety_alert_acknowledge")
    assert (event.actor_id, event.subject_id, event.target) == (room.facilitator.id, patient.id, f"alert:{alert.id}")
    assert '"with_note": true' in event.details and NOTE not in event.details  # the act, not the words
    page = client.get("/alerts").get_data(as_text=True)
    assert NOTE in page and "Dr. Fran Facilitator" in page


def test_a_note_too_long_is_refused_and_changes_nothing(client, login, post, room, facilitator_in_room,
                                                        support_call):
    _pat, alert = support_call
    login(client, room.facilitator)

    response = post(client, f"/alerts/{alert.id}/acknowledge?next=/alerts", {"note": "x" * (ALERT_NOTE_MAX + 1)})

    assert response.status_code == 302
    db.session.refresh(alert)
    assert alert.acknowledged_at is None and alert.note == ""
    assert f"Keep the note to {ALERT_NOTE_MAX} characters." in client.get("/alerts").get_data(as_text=True)
    answer = ack(facilitator_in_room, "acknowledge_alert", {"alert_id": alert.id, "note": "x" * (ALERT_NOTE_MAX + 1)})
    assert answer["ok"] is False and answer["error"] == "invalid_note"
    db.session.refresh(alert)
    assert alert.acknowledged_at is None and audit("safety_alert_acknowledge") == []

    post(client, f"/alerts/{alert.id}/acknowledge?next=/alerts", {"note": "x" * ALERT_NOTE_MAX})
    db.session.refresh(alert)
    assert alert.note == "x" * ALERT_NOTE_MAX  # the full length is kept


def test_the_api_acknowledges_with_a_note_of_limited_length(client, room, support_call, api_token):
    _pat, alert = support_call
    headers = api_token(room.facilitator)
    url = f"/api/v1/alerts/{alert.id}/acknowledge"

    too_long = client.post(url, json={"note": "x" * (ALERT_NOTE_MAX + 1)}, headers=headers)

    assert too_long.status_code == 422
    db.session.refresh(alert)
    assert alert.acknowledged_at is None and audit("safety_alert_acknowledge") == []
    done = client.post(url, json={"note": NOTE}, headers=headers)
    assert done.status_code == 200 and done.json["acknowledged"] is True
    db.session.refresh(alert)
    assert alert.note == NOTE


def test_a_note_can_be_added_afterwards_once(client, login, post, room, facilitator_in_room, support_call, patient):
    _pat, alert = support_call
    login(client, room.facilitator)
    assert post(client, f"/alerts/{alert.id}/note", {"note": NOTE}).status_code == 302
    db.session.refresh(alert)
    assert alert.note == ""  # an open alert is acknowledged first

    assert ack(facilitator_in_room, "acknowledge_alert", {"alert_id": alert.id})["ok"] is True
    response = post(client, f"/alerts/{alert.id}/note", {"note": NOTE})

    assert response.status_code == 302 and response.headers["Location"] == f"/alerts#alert-{alert.id}"
    db.session.refresh(alert)
    assert alert.note == NOTE
    [event] = audit("safety_alert_note")
    assert (event.actor_id, event.subject_id, event.target) == (room.facilitator.id, patient.id, f"alert:{alert.id}")
    assert NOTE not in event.details

    post(client, f"/alerts/{alert.id}/note", {"note": "Something else"})
    db.session.refresh(alert)
    assert alert.note == NOTE and len(audit("safety_alert_note")) == 1  # once given, it stands
    for bad in ("", "x" * (ALERT_NOTE_MAX + 1)):
        post(client, f"/alerts/{alert.id}/note", {"note": bad})
    assert len(audit("safety_alert_note")) == 1


def test_only_the_groups_facilitators_acknowledge_note_and_list_an_alert(client, login, post, room, support_call,
                                                                         make_user, make_room, patient,
                                                                         other_patient, supporter):
    _pat, alert = support_call
    other_facilitator = make_user(RoleName.FACILITATOR, display_name="Ola Otherfac")
    make_room(other_facilitator, [])
    for person in (patient, other_patient, other_facilitator):
        login(client, person)
        assert post(client, f"/alerts/{alert.id}/acknowledge?next=/", {"note": NOTE}).status_code == 404
        assert post(client, f"/alerts/{alert.id}/note", {"note": NOTE}).status_code == 404
    db.session.refresh(alert)
    assert alert.acknowledged_at is None and alert.note == ""

    login(client, other_facilitator)
    page = client.get("/alerts").get_data(as_text=True)
    assert f'id="alert-{alert.id}"' not in page and "No safety alerts in your groups." in page
    for person in (patient, supporter):
        login(client, person)
        assert client.get("/alerts").status_code == 403


def test_past_alerts_are_listed_newest_first_with_who_acknowledged_and_what_was_done(
        client, login, post, room, facilitator_in_room, enter, clock, patient, other_patient):
    pat, olly = enter(patient), enter(other_patient)
    assert ack(pat, "need_support", {"session_id": room.sid, "client_id": key()})["ok"] is True
    clock.shift(timedelta(minutes=3))
    assert ack(olly, "checkin", {"session_id": room.sid, "client_id": key(), "mood": 1})["ok"] is True
    first, second = alerts()
    assert ack(facilitator_in_room, "acknowledge_alert", {"alert_id": first.id, "note": NOTE})["ok"] is True

    login(client, room.facilitator)
    page = client.get("/alerts").get_data(as_text=True)

    assert page.index(f'id="alert-{second.id}"') < page.index(f'id="alert-{first.id}"')
    newest = page[page.index(f'id="alert-{second.id}"'):page.index(f'id="alert-{first.id}"')]
    assert "Olly" in newest and "checked in with a very low mood" in newest and "Acknowledge" in newest
    oldest = page[page.index(f'id="alert-{first.id}"'):]
    assert "Pat" in oldest and "asked for support" in oldest and "Dr. Fran Facilitator" in oldest and NOTE in oldest
    assert f'datetime="{first.created_at.isoformat()}"' in oldest
    assert f'datetime="{(START - timedelta(minutes=10)).isoformat()}"' in oldest  # acknowledged in the lobby time


# Opening the room early -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("opened_at", "said"), [
    (START - timedelta(days=3), "Members can come in from Fri 20 Mar, 18:45, 15 minutes before the session."),
    (START - timedelta(minutes=40), "Members can come in from 18:45, 15 minutes before the session."),
])
def test_a_facilitator_who_opens_early_is_told_when_members_can_come_in(room, connect_as, clock, opened_at, said):
    clock.move_to(opened_at)
    fac = connect_as(room.facilitator)  # in Berlin: the session starts at 19:00 there

    state = ack(fac, "open_room", {"session_id": room.sid})["state"]

    assert state["open"] is True
    assert state["members_from"] == f"The room is open for you. {said}"
    clock.move_to(IN_LOBBY)
    later = connect_as(room.facilitator)  # days later, signed in again
    assert ack(later, "join_session", {"session_id": room.sid})["state"]["members_from"] is None


def test_a_room_opened_in_the_members_time_says_only_that_it_is_open(room, connect_as, clock, patient):
    clock.move_to(IN_LOBBY)
    fac = connect_as(room.facilitator)
    assert ack(fac, "open_room", {"session_id": room.sid})["state"]["members_from"] is None
    pat = connect_as(patient)
    state = ack(pat, "join_session", {"session_id": room.sid})["state"]
    assert "members_from" not in state and "members" not in state  # the facilitator's view only
