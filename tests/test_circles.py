"""Check-in circles between sessions: scheduled by the group's facilitators, entered by its active members from start
to end on the live-room engine, with check-ins, passes, calls for support and leaving; nobody else gets in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from room_fixtures import *  # noqa: F403
from room_fixtures import BEFORE_LOBBY, ack, key, received
from sqlalchemy import select

from app.accounts.models import RoleName
from app.audit import AuditEvent
from app.extensions import db
from app.groups import queries as group_queries
from app.groups.models import SessionOccurrence
from app.groups.rules import GroupError
from app.peers import circles
from app.rooms.models import CheckIn, RoomPresence, SafetyAlert

NOW = BEFORE_LOBBY  # where the frozen clock of room_fixtures stands


def _circle(group, *, starts_in=timedelta(minutes=-5), minutes=30) -> SessionOccurrence:
    circle = SessionOccurrence(group_id=group.id, recurrence_id=None, starts_at=NOW + starts_in,
                               duration_minutes=minutes, is_circle=True)
    db.session.add(circle)
    db.session.commit()
    return circle


def _circles(group) -> list[SessionOccurrence]:
    return list(db.session.scalars(select(SessionOccurrence).where(SessionOccurrence.group_id == group.id,
                                                                   SessionOccurrence.is_circle.is_(True))))


def _signed_in(app, login, user):
    http = app.test_client()
    login(http, user)
    return http


def _form(date=None, time="18:00", minutes="20") -> dict:
    return {"date": date or (NOW + timedelta(days=1)).date().isoformat(), "time": time, "duration_minutes": minutes}


# Scheduling -----------------------------------------------------------------------------------------------------------


def test_a_facilitator_schedules_a_circle_that_no_session_list_shows(app, room, login, post):
    http = _signed_in(app, login, room.facilitator)

    answer = post(http, f"/groups/{room.group.id}/circles", _form())

    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/groups/{room.group.id}/circles")
    [circle] = _circles(room.group)
    assert (circle.starts_at, circle.duration_minutes) == ((NOW + timedelta(days=1)).replace(hour=18, minute=0), 20)
    assert circle not in group_queries.occurrences(room.group)
    assert circle.id not in {o.id for o in group_queries.upcoming_for_groups([room.group.id])}
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.target == f"session:{circle.id}"))
    assert (event.action, event.actor_id) == ("circle_scheduled", room.facilitator.id)
    assert f'datetime="{circle.starts_at.isoformat()}"' in http.get(f"/groups/{room.group.id}/circles").text


def test_only_the_groups_facilitators_schedule_circles(app, room, login, post, make_user, make_organisation, patient):
    other_facilitator = make_user(RoleName.FACILITATOR, display_name="Other Facilitator")
    elsewhere = make_user(RoleName.FACILITATOR, organisation_=make_organisation(name="Hilltop"))
    for person in (patient, other_facilitator, elsewhere):
        answer = post(_signed_in(app, login, person), f"/groups/{room.group.id}/circles", _form())
        assert answer.status_code == 404, person.display_name
    assert _circles(room.group) == []


@pytest.mark.parametrize(("minutes", "scheduled"), [("9", False), ("10", True), ("60", True), ("61", False)])
def test_a_circle_lasts_between_ten_and_sixty_minutes(app, room, login, post, minutes, scheduled):
    answer = post(_signed_in(app, login, room.facilitator), f"/groups/{room.group.id}/circles", _form(minutes=minutes))
    assert answer.status_code == (302 if scheduled else 422)
    assert len(_circles(room.group)) == (1 if scheduled else 0)


def test_a_circle_starts_in_the_future_and_the_service_checks_the_length_too(app, room, login, post):
    answer = post(_signed_in(app, login, room.facilitator), f"/groups/{room.group.id}/circles",
                  _form(date=(NOW - timedelta(days=1)).date().isoformat()))
    assert answer.status_code == 422 and "must start in the future" in answer.text
    with pytest.raises(GroupError, match="between 10 and 60 minutes"):
        circles.schedule_circle(room.facilitator, room.group, start_local=(NOW + timedelta(days=1)).replace(
            tzinfo=None), duration_minutes=90)
    db.session.rollback()
    assert _circles(room.group) == []


# Entering -------------------------------------------------------------------------------------------------------------


def test_only_active_members_and_facilitators_of_the_group_enter(app, room, login, connect_as, make_room, make_user,
                                                                make_organisation, patient, supporter):
    circle = _circle(room.group)
    in_other_group = make_user(RoleName.PATIENT, display_name="Other Group Member")
    other_facilitator = make_user(RoleName.FACILITATOR, display_name="Other Facilitator")
    make_room(other_facilitator, [in_other_group])
    other_org = make_organisation(name="Hilltop")
    elsewhere = make_user(RoleName.PATIENT, organisation_=other_org)

    assert _signed_in(app, login, patient).get(f"/circles/{circle.id}").status_code == 200
    assert ack(connect_as(patient), "join_session", {"session_id": circle.id})["ok"] is True
    looking_in = _signed_in(app, login, room.facilitator).get(f"/circles/{circle.id}")
    assert looking_in.status_code == 200 and 'id="checkin-form"' not in looking_in.text
    assert "Start a check-in round" not in looking_in.text and "Open the room" not in looking_in.text
    for person in (in_other_group, other_facilitator, elsewhere, supporter):
        assert _signed_in(app, login, person).get(f"/circles/{circle.id}").status_code == 404, person.display_name
        answer = ack(connect_as(person), "join_session", {"session_id": circle.id})
        assert answer["ok"] is False and answer["error"] == "not_found", person.display_name
    assert {row.user_id for row in db.session.scalars(select(RoomPresence))} == {patient.id}


@pytest.mark.parametrize("starts_in", [timedelta(minutes=30), timedelta(minutes=-45)])
def test_outside_its_time_a_circle_is_refused_with_the_reason(app, room, login, connect_as, patient, starts_in):
    circle = _circle(room.group, starts_in=starts_in, minutes=30)
    http = _signed_in(app, login, patient)

    answer = http.get(f"/circles/{circle.id}", follow_redirects=True)

    assert answer.request.path == f"/groups/{room.group.id}/circles"
    assert "This check-in circle is open only from its start to its end." in answer.text
    refusal = ack(connect_as(patient), "join_session", {"session_id": circle.id})
    assert refusal["ok"] is False and refusal["error"] == "room_closed"
    assert db.session.scalars(select(RoomPresence)).all() == []


def test_a_circle_has_no_facilitator_controls(room, connect_as):
    circle = _circle(room.group)
    facilitator = connect_as(room.facilitator)
    assert ack(facilitator, "join_session", {"session_id": circle.id})["ok"] is True
    for control in ("open_room", "close_room", "start_round", "next_speaker"):
        answer = ack(facilitator, control, {"session_id": circle.id})
        assert answer["ok"] is False and answer["error"] == "forbidden", control
    refused = ack(facilitator, "checkin", {"session_id": circle.id, "client_id": key(), "mood": 5})
    assert refused["ok"] is False


def test_a_session_page_does_not_show_a_circle(app, room, login, patient):
    circle = _circle(room.group)
    http = _signed_in(app, login, room.facilitator)
    assert http.get(f"/sessions/{circle.id}").status_code == 404
    assert http.get(f"/sessions/{circle.id}/room").headers["Location"].endswith(f"/circles/{circle.id}")


# In the circle --------------------------------------------------------------------------------------------------------


def test_members_check_in_and_pass_and_see_each_other(room, connect_as, patient, other_patient):
    circle = _circle(room.group)
    pat, olly = connect_as(patient), connect_as(other_patient)
    for sio in (pat, olly):
        assert ack(sio, "join_session", {"session_id": circle.id})["ok"] is True
    received(pat), received(olly)

    checked = ack(pat, "checkin", {"session_id": circle.id, "client_id": key(), "mood": 6, "energy": "medium",
                                   "note": "A walk today"})
    passed = ack(olly, "checkin", {"session_id": circle.id, "client_id": key(), "passed": True})

    assert checked["ok"] is True and passed["ok"] is True
    stored = {c.user_id: c for c in db.session.scalars(select(CheckIn).where(CheckIn.occurrence_id == circle.id))}
    assert (stored[patient.id].mood, stored[patient.id].passed) == (6, False)
    assert (stored[other_patient.id].mood, stored[other_patient.id].passed) == (None, True)
    assert [c["user_id"] for c in received(olly, "checkin")] == [patient.id, other_patient.id]
    state = ack(pat, "sync", {"session_id": circle.id})["state"]
    assert state["open"] is True and {c["user_id"] for c in state["checkins"]} == {patient.id, other_patient.id}


def test_need_support_in_a_circle_reaches_the_groups_facilitators(app, room, login, connect_as, patient):
    circle = _circle(room.group)
    pat = connect_as(patient)
    assert ack(pat, "join_session", {"session_id": circle.id})["ok"] is True
    dashboard = connect_as(room.facilitator)
    assert ack(dashboard, "sync_dashboard", {})["ok"] is True
    received(dashboard)

    answer = ack(pat, "need_support", {"session_id": circle.id, "client_id": key()})

    assert answer["ok"] is True and answer["duplicate"] is False
    [alert] = db.session.scalars(select(SafetyAlert)).all()
    assert (alert.kind.value, alert.group_id, alert.patient_id, alert.occurrence_id) == (
        "need_support", room.group.id, patient.id, circle.id)
    assert [a["id"] for a in received(dashboard, "alert")] == [alert.id]
    home = _signed_in(app, login, room.facilitator).get("/").text
    assert f'data-alert-id="{alert.id}"' in home


def test_leaving_a_circle_takes_the_member_out_of_it(room, connect_as, patient, other_patient):
    circle = _circle(room.group)
    pat, olly = connect_as(patient), connect_as(other_patient)
    for sio in (pat, olly):
        assert ack(sio, "join_session", {"session_id": circle.id})["ok"] is True
    received(olly)

    assert ack(pat, "leave_session", {"session_id": circle.id})["ok"] is True

    assert {row.user_id for row in db.session.scalars(select(RoomPresence))} == {other_patient.id}
    assert [p["user_id"] for p in received(olly, "presence")[-1]["present"]] == [other_patient.id]


def test_the_home_page_offers_the_circle_on_now_to_its_active_members(app, room, login, make_user, patient):
    outsider = make_user(RoleName.PATIENT, display_name="Not A Member")
    home = _signed_in(app, login, patient)
    assert "A check-in circle is on now" not in home.get("/").text
    circle = _circle(room.group)
    page = home.get("/").text
    assert "A check-in circle is on now" in page and f"/circles/{circle.id}" in page
    assert "A check-in circle is on now" not in _signed_in(app, login, outsider).get("/").text


# Members starting a circle --------------------------------------------------------------------------------------------


def test_members_start_a_circle_only_when_the_facilitator_allows_it(app, room, login, post, make_user, make_room,
                                                                    patient, other_patient):
    member, facilitator = _signed_in(app, login, patient), _signed_in(app, login, room.facilitator)
    start = f"/groups/{room.group.id}/circles/start"
    assert post(member, start).status_code == 404
    assert "Start a circle now" not in member.get(f"/groups/{room.group.id}/circles").text

    assert post(facilitator, f"/groups/{room.group.id}/circles/members-start", {"allowed": "y"}).status_code == 302
    assert "Start a circle now" in member.get(f"/groups/{room.group.id}/circles").text
    answer = post(member, start)

    [circle] = _circles(room.group)
    assert answer.headers["Location"].endswith(f"/circles/{circle.id}")
    assert (circle.starts_at, circle.duration_minutes) == (NOW, circles.STARTED_MINUTES)
    # A second press, by anyone in the group, joins the circle on now rather than starting another.
    assert post(_signed_in(app, login, other_patient), start).headers["Location"].endswith(f"/circles/{circle.id}")
    assert len(_circles(room.group)) == 1
    # Facilitators schedule circles; members of other groups start none here.
    elsewhere = make_user(RoleName.PATIENT, display_name="Other Group Member")
    make_room(make_user(RoleName.FACILITATOR), [elsewhere])
    for person in (facilitator, _signed_in(app, login, elsewhere)):
        assert post(person, start).status_code == 404
    assert len(_circles(room.group)) == 1

    assert post(facilitator, f"/groups/{room.group.id}/circles/members-start", {}).status_code == 302
    db.session.refresh(room.group)
    assert room.group.members_start_circles is False


def test_the_sessions_api_does_not_treat_a_circle_as_a_session(app, room, api_token):
    circle = _circle(room.group)
    headers = api_token(room.facilitator)
    with app.test_client() as http:
        assert http.get(f"/api/v1/sessions/{circle.id}", headers=headers).status_code == 404
        assert http.patch(f"/api/v1/sessions/{circle.id}", json={"duration_minutes": 480},
                          headers=headers).status_code == 404
    db.session.refresh(circle)
    assert circle.duration_minutes == 30


def _actions(target: str) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.target == target)
                                   .order_by(AuditEvent.id)))


def test_circle_actions_have_their_own_audit_actions(app, room, login, post, patient):
    facilitator, member = _signed_in(app, login, room.facilitator), _signed_in(app, login, patient)
    post(facilitator, f"/groups/{room.group.id}/circles", _form())
    [scheduled] = _circles(room.group)
    post(facilitator, f"/circles/{scheduled.id}/cancel")
    assert _actions(f"session:{scheduled.id}") == ["circle_scheduled", "circle_cancelled"]
    post(facilitator, f"/groups/{room.group.id}/circles/members-start", {"allowed": "y"})
    assert _actions(f"group:{room.group.id}")[-1] == "circles_allowed"
    assert post(member, f"/groups/{room.group.id}/circles/start").status_code == 302
    started = next(c for c in _circles(room.group) if c.id != scheduled.id)
    assert _actions(f"session:{started.id}") == ["circle_started"]


# The API --------------------------------------------------------------------------------------------------------------


def test_members_list_the_circles_to_come_through_the_api(app, room, api_token, patient):
    on_now = _circle(room.group)
    later = _circle(room.group, starts_in=timedelta(days=2), minutes=20)
    _circle(room.group, starts_in=timedelta(hours=-3))  # over
    with app.test_client() as http:
        answer = http.get(f"/api/v1/groups/{room.group.id}/circles", headers=api_token(patient))
    assert answer.status_code == 200
    assert [(c["id"], c["on_now"]) for c in answer.json] == [(on_now.id, True), (later.id, False)]
    assert answer.json[1]["duration_minutes"] == 20 and answer.json[1]["timezone"] == room.group.timezone


def test_facilitators_schedule_and_cancel_circles_through_the_api(app, room, api_token, patient):
    start = (NOW + timedelta(days=1)).date().isoformat() + "T18:00:00"
    with app.test_client() as http:
        made = http.post(f"/api/v1/groups/{room.group.id}/circles", json={"start_local": start, "duration_minutes": 30},
                         headers=api_token(room.facilitator))
        assert made.status_code == 201 and made.json["local_start"].startswith(start)
        circle_id = made.json["id"]
        assert _actions(f"session:{circle_id}") == ["circle_scheduled"]
        # A member may neither schedule nor cancel; they find nothing to act on.
        member = api_token(patient)
        assert http.post(f"/api/v1/groups/{room.group.id}/circles", json={"start_local": start},
                         headers=member).status_code == 404
        assert http.post(f"/api/v1/circles/{circle_id}/cancel", headers=member).status_code == 404
        cancelled = http.post(f"/api/v1/circles/{circle_id}/cancel", headers=api_token(room.facilitator))
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert _actions(f"session:{circle_id}") == ["circle_scheduled", "circle_cancelled"]
    assert len(_circles(room.group)) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"start_local": "2020-01-01T18:00:00"}, "date"),
    ({"start_local": "2027-01-01T18:00:00", "duration_minutes": 20}, "date"),
    ({"start_local": "TOMORROW", "duration_minutes": 5}, "duration_minutes"),
    ({"duration_minutes": 20}, "start_local"),
])
def test_the_api_refuses_a_circle_out_of_bounds(app, room, api_token, body, field):
    if body.get("start_local") == "TOMORROW":
        body = {**body, "start_local": (NOW + timedelta(days=1)).date().isoformat() + "T18:00:00"}
    with app.test_client() as http:
        answer = http.post(f"/api/v1/groups/{room.group.id}/circles", json=body, headers=api_token(room.facilitator))
    assert answer.status_code == 422 and field in str(answer.json)
    assert _circles(room.group) == []
