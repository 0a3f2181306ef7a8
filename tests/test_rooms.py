"""The live check-in room over Socket.IO: every event, who may enter, what each person sees, safety alerts, and
acknowledgements that follow the commit (SECURITY.md 4, 5 and 15; issue 4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from room_fixtures import *  # noqa: F403
from room_fixtures import CRISIS, IN_LOBBY, START, ack, key, received
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy import update as sa_update
from sqlalchemy.orm import Session

from app.accounts import services as account_services
from app.accounts.models import RoleName
from app.audit import AuditEvent
from app.extensions import db
from app.groups import services
from app.groups.models import Attendance, AttendanceStatus, Membership, MembershipStatus, OccurrenceStatus
from app.rooms import alerts as room_alerts
from app.rooms import services as room_services
from app.rooms.models import CheckIn, LiveRoom, RoomPresence, SafetyAlert


def checkin(sio, room, **fields):
    return ack(sio, "checkin", {"session_id": room.sid, "client_id": fields.pop("client_id", None) or key(), **fields})


def refused(answer) -> str:
    """The error code of a refusal (its message, for people, is beside it)."""
    assert answer["ok"] is False, answer
    return answer["error"]


def names(people: list[dict]) -> list[str]:
    return [p["name"] for p in people]


def rows(model, **where) -> list:
    query = select(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    return list(db.session.scalars(query))


def audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def membership(room, user) -> Membership:
    return db.session.scalar(select(Membership).where(Membership.group_id == room.group.id,
                                                      Membership.user_id == user.id))


def test_whoami_answers_who_the_socket_belongs_to(connect_as, patient):
    sio = connect_as(patient)
    answer = ack(sio, "whoami")
    assert answer == {"ok": True, "user": {"id": patient.id, "display_name": patient.display_name, "role": "patient"}}


# Opening, entering, closing -------------------------------------------------------------------------------------------


def test_members_cannot_enter_before_the_facilitator_opens_the_room(room, connect_as, clock, patient):
    clock.move_to(IN_LOBBY)
    member = connect_as(patient)
    refused = ack(member, "join_session", {"session_id": room.sid})
    assert refused["ok"] is False and refused["error"] == "room_closed" and refused["message"]
    assert rows(RoomPresence) == []

    fac = connect_as(room.facilitator)
    opened = ack(fac, "open_room", {"session_id": room.sid})
    assert opened["ok"] is True and opened["state"]["open"] is True

    joined = ack(member, "join_session", {"session_id": room.sid})
    assert joined["ok"] is True
    assert joined["state"]["open"] is True and joined["state"]["facilitator"] is False
    assert audit("room_open")[0].actor_id == room.facilitator.id


def test_an_open_room_admits_members_only_from_the_lobby_time(room, connect_as, clock, patient):
    fac = connect_as(room.facilitator)
    assert ack(fac, "open_room", {"session_id": room.sid})["ok"] is True  # facilitators may open it early
    member = connect_as(patient)

    early = ack(member, "join_session", {"session_id": room.sid})
    assert early["ok"] is False and early["error"] == "room_closed"
    assert "15" in early["message"]
    assert checkin(member, room, mood=6)["error"] == "room_closed"
    assert ack(member, "sync", {"session_id": room.sid})["error"] == "room_closed"

    clock.move_to(START - timedelta(minutes=15, seconds=1))
    assert ack(member, "join_session", {"session_id": room.sid})["ok"] is False
    clock.move_to(START - timedelta(minutes=15))
    assert ack(member, "join_session", {"session_id": room.sid})["ok"] is True
    assert rows(CheckIn) == []


def test_the_lobby_time_is_the_groups_own(make_room, connect_as, clock, facilitator, patient):
    room = make_room(facilitator, [patient], lobby_minutes=30)
    assert ack(connect_as(facilitator), "open_room", {"session_id": room.sid})["ok"] is True
    member = connect_as(patient)
    clock.move_to(START - timedelta(minutes=25))  # BEFORE_LOBBY is 20 minutes before; move back inside the 30
    assert ack(member, "join_session", {"session_id": room.sid})["ok"] is True


def test_the_facilitator_enters_before_opening_and_at_any_time(room, connect_as, clock):
    fac = connect_as(room.facilitator)
    answer = ack(fac, "join_session", {"session_id": room.sid})
    assert answer["ok"] is True
    assert answer["state"]["open"] is False and answer["state"]["facilitator"] is True
    assert answer["state"]["alerts"] == []


def test_only_the_groups_facilitators_open_and_close_the_room(room, connect_as, clock, patient, make_user,
                                                              make_room):
    other_facilitator = make_user(RoleName.FACILITATOR)
    make_room(other_facilitator, [])
    clock.move_to(IN_LOBBY)
    member, stranger = connect_as(patient), connect_as(other_facilitator)
    for name in ("open_room", "close_room"):
        assert refused(ack(member, name, {"session_id": room.sid})) == "forbidden"
        assert refused(ack(stranger, name, {"session_id": room.sid})) == "not_found"
    assert db.session.scalar(select(LiveRoom)) is None or not db.session.scalar(select(LiveRoom)).is_open


def test_a_cancelled_session_cannot_be_opened(room, connect_as, clock):
    room.occurrence.status = OccurrenceStatus.CANCELLED
    db.session.commit()
    answer = ack(connect_as(room.facilitator), "open_room", {"session_id": room.sid})
    assert answer["ok"] is False and answer["error"] == "cancelled"


def test_closing_the_room_takes_members_out_and_keeps_them_out(room, facilitator_in_room, enter, connect_as, patient,
                                                                other_patient):
    pat, olly = enter(patient), enter(other_patient)
    received(pat), received(olly), received(facilitator_in_room)

    closed = ack(facilitator_in_room, "close_room", {"session_id": room.sid})
    assert closed["ok"] is True and closed["state"]["open"] is False

    assert received(pat, "room_state")[-1]["open"] is False  # the last thing members hear: the room closed
    received(olly)
    states = received(facilitator_in_room, "room_state")
    assert states and states[-1]["open"] is False
    assert {p.user_id for p in rows(RoomPresence)} == {room.facilitator.id}  # the facilitator stays, to reopen it
    assert audit("room_close")[0].actor_id == room.facilitator.id

    again = connect_as(patient)
    assert ack(again, "join_session", {"session_id": room.sid})["error"] == "room_closed"
    assert checkin(again, room, mood=5)["error"] == "room_closed"
    assert ack(pat, "sync", {"session_id": room.sid})["error"] == "room_closed"  # Pat's page asks: Pat waits
    # Nothing the room does now reaches the members who were taken out, though their sockets are still open; Pat,
    # waiting in the lobby, learns that it opened again (and may then enter).
    reopened = ack(facilitator_in_room, "open_room", {"session_id": room.sid})
    assert reopened["ok"] is True
    assert ack(facilitator_in_room, "start_round", {"session_id": room.sid})["ok"] is True
    assert pat.is_connected() and olly.is_connected()
    assert received(olly) == []
    assert received(pat) == [("room_state", {"session_id": room.sid, "open": True,
                                             "version": reopened["state"]["version"]})]
    # The facilitator is still in the room: the room's news still reaches them.
    assert received(facilitator_in_room, "room_state")[-1]["open"] is True


def test_closing_the_room_takes_out_members_whose_presence_lapsed(room, facilitator_in_room, enter, clock, patient,
                                                                  other_patient):
    """A laptop asleep misses its heartbeats, but its socket is still in the room: closing takes it out all the
    same, and it hears nothing of the room when it opens again."""
    pat, olly = enter(patient), enter(other_patient)
    clock.shift(timedelta(seconds=90))  # past the presence timeout: Pat no longer counts as present
    assert ack(olly, "heartbeat", {})["ok"] is True
    assert ack(facilitator_in_room, "heartbeat", {})["ok"] is True
    assert ack(facilitator_in_room, "close_room", {"session_id": room.sid})["ok"] is True
    assert ack(facilitator_in_room, "open_room", {"session_id": room.sid})["ok"] is True
    olly_again = enter(other_patient)
    received(pat)

    assert checkin(olly_again, room, mood=4, note="after the reopening")["ok"] is True

    assert received(pat) == []
    assert pat.is_connected()


def test_a_member_waiting_in_the_lobby_hears_only_that_the_room_opened(room, connect_as, clock, patient):
    clock.move_to(IN_LOBBY)
    waiting = connect_as(patient)
    refused_join = ack(waiting, "join_session", {"session_id": room.sid})
    assert refused_join["error"] == "room_closed" and "opens_in" not in refused_join
    fac = connect_as(room.facilitator)

    assert ack(fac, "open_room", {"session_id": room.sid})["ok"] is True

    assert received(waiting) == [("room_state", {"session_id": room.sid, "open": True, "version": 1})]
    assert ack(waiting, "join_session", {"session_id": room.sid})["ok"] is True
    assert ack(fac, "close_room", {"session_id": room.sid})["ok"] is True
    assert [state["open"] for state in received(waiting, "room_state")] == [False]


def test_a_member_early_for_the_lobby_is_told_when_it_opens(room, connect_as, clock, patient):
    fac = connect_as(room.facilitator)
    assert ack(fac, "open_room", {"session_id": room.sid})["ok"] is True  # 20 minutes before; the lobby opens at 15
    answer = ack(connect_as(patient), "join_session", {"session_id": room.sid})
    assert answer["error"] == "room_closed" and answer["opens_in"] == 5 * 60


# Presence -------------------------------------------------------------------------------------------------------------


def test_presence_follows_people_as_they_come_and_go(room, facilitator_in_room, enter, patient, other_patient):
    fac = facilitator_in_room
    pat = enter(patient)
    assert names(received(fac, "presence")[-1]["present"]) == ["Dr. Fran Facilitator", "Pat"]

    olly = enter(other_patient)
    last = received(fac, "presence")[-1]
    assert names(last["present"]) == ["Dr. Fran Facilitator", "Olly", "Pat"]
    assert [p["facilitator"] for p in last["present"]] == [True, False, False]
    assert names(received(pat, "presence")[-1]["present"]) == ["Dr. Fran Facilitator", "Olly", "Pat"]
    # The group knows members by the name they chose, not their account name.
    assert "Pat Patient" not in str(received(olly))

    assert ack(pat, "leave_session", {"session_id": room.sid}) == {"ok": True}
    assert names(received(fac, "presence")[-1]["present"]) == ["Dr. Fran Facilitator", "Olly"]
    assert checkin(olly, room, mood=7)["ok"] is True
    assert received(pat) == []  # left the room: no more of its pushes

    olly.disconnect()
    assert names(received(fac, "presence")[-1]["present"]) == ["Dr. Fran Facilitator"]
    assert {p.user_id for p in rows(RoomPresence)} == {room.facilitator.id}


def test_presence_lapses_without_heartbeats(room, facilitator_in_room, enter, clock, patient, other_patient):
    pat, olly = enter(patient), enter(other_patient)
    clock.shift(timedelta(seconds=60))
    assert ack(pat, "heartbeat", {}) == {"ok": True}
    assert ack(facilitator_in_room, "heartbeat", {}) == {"ok": True}
    clock.shift(timedelta(seconds=30))  # Olly has been silent for 90 seconds, past the 75-second timeout

    state = ack(facilitator_in_room, "sync", {"session_id": room.sid})["state"]
    assert names(state["present"]) == ["Dr. Fran Facilitator", "Pat"]

    assert ack(olly, "heartbeat", {})["ok"] is True  # the connection was alive after all
    state = ack(facilitator_in_room, "sync", {"session_id": room.sid})["state"]
    assert names(state["present"]) == ["Dr. Fran Facilitator", "Olly", "Pat"]


# Check-ins ------------------------------------------------------------------------------------------------------------


def test_a_fault_in_the_checkin_path_is_a_server_error_the_client_retries_and_the_checkin_is_stored_once(
        room, facilitator_in_room, enter, patient, monkeypatch, caplog):
    """A programming error is not a refusal: the client is told `server_error` (which it keeps and sends again),
    nothing of the check-in is kept, the log has the traceback, and once the fault is gone the retry stores it once."""
    pat = enter(patient)
    client_id = key()
    answer_builder = room_services.own_checkin_answer

    def broken(user, result):
        int("not-a-number")

    monkeypatch.setattr(room_services, "own_checkin_answer", broken)
    with caplog.at_level("ERROR"):
        refused = checkin(pat, room, mood=4, client_id=client_id)

    assert refused == {"ok": False, "error": "server_error"}
    assert rows(CheckIn) == []
    assert any("socket event checkin failed" in record.message and record.exc_info for record in caplog.records)

    monkeypatch.setattr(room_services, "own_checkin_answer", answer_builder)
    first, again = checkin(pat, room, mood=4, client_id=client_id), checkin(pat, room, mood=4, client_id=client_id)

    assert first["ok"] is True and first["duplicate"] is False
    assert again["ok"] is True and again["duplicate"] is True
    assert [(c.user_id, c.client_id, c.mood) for c in rows(CheckIn)] == [(patient.id, client_id, 4)]


def test_a_checkin_with_mood_energy_and_note_reaches_the_room(room, facilitator_in_room, enter, patient,
                                                             other_patient):
    pat, olly = enter(patient), enter(other_patient)
    received(pat), received(olly), received(facilitator_in_room)
    client_id = key()

    answer = checkin(pat, room, mood=6, energy="medium", note="  Slept better this week.  ", client_id=client_id)

    assert answer["ok"] is True and answer["duplicate"] is False
    assert "support" not in answer
    assert answer["checkin"]["client_id"] == client_id
    assert {k: answer["checkin"][k] for k in ("mood", "energy", "note", "passed")} == {
        "mood": 6, "energy": "medium", "note": "Slept better this week.", "passed": False}
    stored = rows(CheckIn)
    assert len(stored) == 1
    assert (stored[0].user_id, stored[0].occurrence_id, stored[0].mood, stored[0].energy.value, stored[0].note) == (
        patient.id, room.sid, 6, "medium", "Slept better this week.")

    for sio in (facilitator_in_room, olly, pat):  # visibility "all": the whole room sees it in full
        [pushed] = received(sio, "checkin")
        assert (pushed["name"], pushed["mood"], pushed["energy"], pushed["note"]) == ("Pat", 6, "medium",
                                                                                   "Slept better this week.")
        assert pushed["client_id"] is None  # the key is the sender's business
    assert audit("checkin")[0].actor_id == patient.id


def test_a_pass_is_stored_with_no_questions_asked(room, facilitator_in_room, enter, patient):
    pat = enter(patient)
    answer = checkin(pat, room, passed=True, mood=9, note="ignored")
    assert answer["ok"] is True
    [stored] = rows(CheckIn)
    assert stored.passed is True and stored.mood is None and stored.energy is None and stored.note == ""
    [pushed] = received(facilitator_in_room, "checkin")
    assert pushed["passed"] is True and pushed["mood"] is None
    assert rows(SafetyAlert) == []


def test_an_update_is_a_newer_row_and_the_room_shows_the_latest(room, facilitator_in_room, enter, clock, patient,
                                                                other_patient):
    pat, olly = enter(patient), enter(other_patient)
    assert checkin(pat, room, mood=4, energy="low")["ok"] is True
    assert checkin(olly, room, passed=True)["ok"] is True
    clock.shift(timedelta(minutes=5))
    assert checkin(pat, room, mood=6, energy="medium", note="Better after talking")["ok"] is True

    assert len(rows(CheckIn, user_id=patient.id)) == 2
    state = ack(facilitator_in_room, "sync", {"session_id": room.sid})["state"]
    latest = {c["name"]: c for c in state["checkins"]}
    assert set(latest) == {"Pat", "Olly"}
    assert (latest["Pat"]["mood"], latest["Pat"]["note"]) == (6, "Better after talking")
    assert latest["Olly"]["passed"] is True


@pytest.mark.parametrize(("fields", "error"), [
    ({"mood": 11}, "invalid_mood"),
    ({"mood": -1}, "invalid_mood"),
    ({"mood": "5"}, "invalid_mood"),
    ({"mood": True}, "invalid_mood"),
    ({"mood": None}, "invalid_mood"),
    ({"mood": 5, "energy": "extreme"}, "invalid_energy"),
    ({"mood": 5, "note": "x" * 281}, "invalid_note"),
    ({"mood": 5, "note": "nul\x00byte"}, "invalid_note"),
    ({"mood": 5, "note": ["a list"]}, "invalid_note"),
    ({"mood": 5, "passed": "yes"}, "invalid"),
    ({"mood": 5, "client_id": "short"}, "invalid_client_id"),
    ({"mood": 5, "client_id": "has spaces in it"}, "invalid_client_id"),
    ({"mood": 5, "client_id": 12345678}, "invalid_client_id"),
    ({"mood": 5, "session_id": "1"}, "invalid"),
    ({"mood": 5, "session_id": 2**64}, "invalid"),
])
def test_a_malformed_checkin_is_refused_and_changes_nothing(room, facilitator_in_room, enter, patient, fields, error):
    pat = enter(patient)
    received(facilitator_in_room)
    payload = {"session_id": room.sid, "client_id": key(), **fields}
    answer = ack(pat, "checkin", payload)
    assert answer["ok"] is False and answer["error"] == error
    assert rows(CheckIn) == [] and rows(SafetyAlert) == []
    assert received(facilitator_in_room, "checkin") == []


def test_a_note_of_the_full_length_is_kept(room, facilitator_in_room, enter, patient):
    answer = checkin(enter(patient), room, mood=5, note="é" * 280)
    assert answer["ok"] is True and rows(CheckIn)[0].note == "é" * 280


def test_facilitators_do_not_check_in(room, facilitator_in_room):
    answer = checkin(facilitator_in_room, room, mood=5)
    assert answer["ok"] is False and answer["error"] == "forbidden"
    assert rows(CheckIn) == []


def test_with_presence_only_visibility_members_see_that_someone_checked_in(make_room, connect_as, clock, facilitator,
                                                                          patient, other_patient):
    room = make_room(facilitator, [patient, other_patient], checkin_visibility="presence")
    clock.move_to(IN_LOBBY)
    fac = connect_as(facilitator)
    assert ack(fac, "open_room", {"session_id": room.sid})["ok"] is True
    assert ack(fac, "join_session", {"session_id": room.sid})["ok"] is True
    pat, olly = connect_as(patient), connect_as(other_patient)
    assert ack(pat, "join_session", {"session_id": room.sid})["ok"] is True
    assert ack(olly, "join_session", {"session_id": room.sid})["ok"] is True
    received(fac), received(pat), received(olly)

    assert checkin(pat, room, mood=3, energy="low", note="Rough week")["ok"] is True
    assert checkin(olly, room, mood=8, energy="high", note="Good news")["ok"] is True

    [olly_sees_pat, olly_sees_own] = received(olly, "checkin")
    assert olly_sees_pat["name"] == "Pat" and olly_sees_pat["checked_in"] is True
    assert not {"mood", "energy", "note", "passed"} & set(olly_sees_pat)
    # The author always sees their own in full (their screen must not turn it into "checked in").
    assert (olly_sees_own["name"], olly_sees_own["mood"], olly_sees_own["energy"], olly_sees_own["note"]) == (
        "Olly", 8, "high", "Good news")
    # Pat's own in full, Olly's only as checked in.
    assert [(c["name"], c.get("note")) for c in received(pat, "checkin")] == [("Pat", "Rough week"), ("Olly", None)]
    facilitator_sees = received(fac, "checkin")
    assert [(c["name"], c["mood"], c["note"]) for c in facilitator_sees] == [("Pat", 3, "Rough week"),
                                                                              ("Olly", 8, "Good news")]

    # The same from the database, as a client that re-syncs would see it.
    olly_state = ack(olly, "sync", {"session_id": room.sid})["state"]
    by_name = {c["name"]: c for c in olly_state["checkins"]}
    assert olly_state["visibility"] == "presence"
    assert "mood" not in by_name["Pat"] and "note" not in by_name["Pat"]
    assert by_name["Olly"]["mood"] == 8 and by_name["Olly"]["note"] == "Good news"  # their own, always
    fac_state = ack(fac, "sync", {"session_id": room.sid})["state"]
    assert {c["name"]: c["mood"] for c in fac_state["checkins"]} == {"Pat": 3, "Olly": 8}
    assert "Rough week" not in str(olly_state) and "Rough week" not in str(received(olly))


def test_a_member_who_reconnects_catches_up_from_the_database(room, facilitator_in_room, enter, connect_as, patient,
                                                              other_patient):
    pat, olly = enter(patient), enter(other_patient)
    pat.disconnect()
    assert checkin(olly, room, mood=7, note="While you were away")["ok"] is True

    back = connect_as(patient)
    state = ack(back, "join_session", {"session_id": room.sid})["state"]
    assert [(c["name"], c["note"]) for c in state["checkins"]] == [("Olly", "While you were away")]
    assert ack(back, "sync", {"session_id": room.sid})["state"]["checkins"] == state["checkins"]


# Idempotency and the commit -------------------------------------------------------------------------------------------


def test_the_same_client_id_twice_stores_one_row(room, facilitator_in_room, enter, patient):
    pat = enter(patient)
    received(facilitator_in_room)
    client_id = key()
    first = checkin(pat, room, mood=5, client_id=client_id)
    second = checkin(pat, room, mood=5, client_id=client_id)

    assert first["ok"] is True and first["duplicate"] is False
    assert second["ok"] is True and second["duplicate"] is True
    assert second["checkin"]["id"] == first["checkin"]["id"]
    assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 1
    assert len(received(facilitator_in_room, "checkin")) == 1  # a retry is not news
    assert len(audit("checkin")) == 1


def test_a_retry_from_a_second_connection_is_still_one_row(room, facilitator_in_room, enter, patient):
    first_tab, second_tab = enter(patient), enter(patient)
    client_id = key()
    assert checkin(first_tab, room, mood=6, client_id=client_id)["duplicate"] is False
    assert checkin(second_tab, room, mood=6, client_id=client_id)["duplicate"] is True
    assert len(rows(CheckIn)) == 1


def test_the_same_key_from_two_people_is_two_checkins(room, facilitator_in_room, enter, patient, other_patient):
    client_id = key()
    assert checkin(enter(patient), room, mood=6, client_id=client_id)["duplicate"] is False
    assert checkin(enter(other_patient), room, mood=6, client_id=client_id)["duplicate"] is False
    assert len(rows(CheckIn)) == 2


def test_a_retried_low_mood_checkin_gets_the_crisis_resources_again_but_raises_one_alert(
        room, facilitator_in_room, enter, patient):
    """The first acknowledgement may be the one that got lost: the retry must still show the member where help is."""
    pat = enter(patient)
    client_id = key()
    first = checkin(pat, room, mood=1, client_id=client_id)
    retry = checkin(pat, room, mood=1, client_id=client_id)
    assert first["support"] == retry["support"] == {k.removeprefix("crisis_"): v for k, v in CRISIS.items()}
    assert retry["duplicate"] is True
    assert len(rows(SafetyAlert)) == 1
    assert len(received(facilitator_in_room, "alert")) == 1


@pytest.fixture
def failing_commits():
    """Make every commit fail while `failing_commits.on` is true, as a full disk or a lost database would."""

    class Switch:
        on = False

    def refuse(session):
        if Switch.on:
            raise RuntimeError("disk I/O error")

    sa_event.listen(Session, "before_commit", refuse)
    yield Switch
    sa_event.remove(Session, "before_commit", refuse)


def test_a_checkin_is_acknowledged_only_after_its_commit(room, facilitator_in_room, enter, patient, other_patient,
                                                         failing_commits):
    pat, olly = enter(patient), enter(other_patient)
    received(facilitator_in_room), received(olly)
    client_id = key()

    failing_commits.on = True
    answer = checkin(pat, room, mood=1, note="low", client_id=client_id)
    failing_commits.on = False

    assert answer == {"ok": False, "error": "server_error"}
    assert rows(CheckIn) == [] and rows(SafetyAlert) == []
    # Nothing was pushed for work that never committed: no check-in, no alert.
    assert received(facilitator_in_room) == [] and received(olly) == []

    retry = checkin(pat, room, mood=1, note="low", client_id=client_id)
    assert retry["ok"] is True and retry["duplicate"] is False and "support" in retry
    assert len(rows(CheckIn)) == 1 and len(rows(SafetyAlert)) == 1
    assert [c["note"] for c in received(facilitator_in_room, "checkin")] == ["low"]


def test_a_room_change_that_fails_to_commit_is_not_acknowledged(room, facilitator_in_room, enter, patient,
                                                                failing_commits):
    pat = enter(patient)
    failing_commits.on = True
    answer = ack(pat, "raise_hand", {"session_id": room.sid})
    failing_commits.on = False
    assert answer["ok"] is False
    assert db.session.scalar(select(LiveRoom)).hands == []


# Facilitator controls -------------------------------------------------------------------------------------------------


def control(sio, room, name: str, **payload) -> dict:
    """A facilitator's control: it answers with the room as it now is (the screen need not wait for a push)."""
    answer = ack(sio, name, {"session_id": room.sid, **payload})
    assert answer["ok"] is True, answer
    return answer["state"]


def test_a_round_goes_through_present_members_in_order_with_skips(room, facilitator_in_room, enter, patient,
                                                                 other_patient):
    third = room.members[2]  # "Mo"
    pat, olly, mo = enter(patient), enter(other_patient), enter(third)
    fac = facilitator_in_room
    for sio in (fac, pat, olly, mo):
        received(sio)

    assert refused(ack(pat, "start_round", {"session_id": room.sid})) == "forbidden"
    assert ack(fac, "next_speaker", {"session_id": room.sid})["error"] == "no_round"

    answered = control(fac, room, "start_round")
    state = received(pat, "room_state")[-1]
    assert answered["speaker"] == state["speaker"] and answered["order"] == state["order"]
    assert state["round"] == 1
    assert [o["name"] for o in state["order"]] == ["Mo", "Olly", "Pat"]
    assert state["speaker"]["name"] == "Mo"

    assert control(fac, room, "skip_speaker")["speaker"]["name"] == "Olly"
    state = received(mo, "room_state")[-1]
    assert state["speaker"]["name"] == "Olly"
    assert [(o["name"], o["skipped"]) for o in state["order"]] == [("Mo", True), ("Olly", False), ("Pat", False)]

    assert control(fac, room, "next_speaker")["speaker"]["name"] == "Pat"
    assert received(olly, "room_state")[-1]["speaker"]["name"] == "Pat"
    # Everyone else has had their turn: Mo, skipped, is offered one again before the round ends.
    assert control(fac, room, "next_speaker")["speaker"]["name"] == "Mo"
    state = received(pat, "room_state")[-1]
    assert state["speaker"]["name"] == "Mo"
    assert [o["name"] for o in state["order"]] == ["Mo", "Olly", "Pat"]  # each person once
    assert control(fac, room, "next_speaker")["speaker"] is None
    state = received(fac, "room_state")[-1]
    assert state["speaker"] is None  # the round is done
    assert [o["skipped"] for o in state["order"]] == [False, False, False]  # Mo spoke in the end

    assert [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
        ["room_round_start", "room_skip", "room_next"])).order_by(AuditEvent.seq))] == [
        "room_round_start", "room_skip", "room_next", "room_next", "room_next"]
    for name in ("skip_speaker", "next_speaker"):
        assert refused(ack(pat, name, {"session_id": room.sid})) == "forbidden"


def test_a_speaker_skipped_twice_is_not_offered_a_third_turn(room, facilitator_in_room, enter, patient,
                                                            other_patient):
    enter(patient), enter(other_patient)
    fac = facilitator_in_room
    assert [o["name"] for o in control(fac, room, "start_round")["order"]] == ["Olly", "Pat"]
    assert control(fac, room, "skip_speaker")["speaker"]["name"] == "Pat"  # Olly skipped
    assert control(fac, room, "skip_speaker")["speaker"]["name"] == "Olly"  # Pat skipped: Olly offered again
    assert control(fac, room, "skip_speaker")["speaker"]["name"] == "Pat"  # Olly passes again; Pat's second offer
    state = control(fac, room, "skip_speaker")
    assert state["speaker"] is None
    assert [(o["name"], o["skipped"]) for o in state["order"]] == [("Olly", True), ("Pat", True)]
    assert ack(fac, "next_speaker", {"session_id": room.sid})["error"] == "no_round"


def test_a_round_counts_only_the_members_present(room, facilitator_in_room, enter, patient):
    enter(patient)
    assert ack(facilitator_in_room, "start_round", {"session_id": room.sid})["ok"] is True
    state = ack(facilitator_in_room, "sync", {"session_id": room.sid})["state"]
    assert [o["name"] for o in state["order"]] == ["Pat"]  # the facilitator does not speak in the round


def test_members_raise_and_lower_hands_and_the_facilitator_lowers_them(room, facilitator_in_room, enter, patient,
                                                                      other_patient):
    pat, olly = enter(patient), enter(other_patient)
    fac = facilitator_in_room

    assert ack(pat, "raise_hand", {"session_id": room.sid}) == {"ok": True, "raised": True}
    assert ack(olly, "raise_hand", {"session_id": room.sid, "raised": True})["ok"] is True
    assert names(received(fac, "room_state")[-1]["hands"]) == ["Pat", "Olly"]  # in the order they went up
    assert ack(pat, "raise_hand", {"session_id": room.sid, "raised": True})["ok"] is True  # twice is still once
    assert names(received(olly, "room_state")[-1]["hands"]) == ["Olly", "Pat"]

    assert ack(pat, "raise_hand", {"session_id": room.sid, "raised": False}) == {"ok": True, "raised": False}
    assert names(received(fac, "room_state")[-1]["hands"]) == ["Olly"]

    assert refused(ack(pat, "lower_hand", {"session_id": room.sid, "user_id": other_patient.id})) == "forbidden"
    assert control(fac, room, "lower_hand", user_id=other_patient.id)["hands"] == []
    assert received(olly, "room_state")[-1]["hands"] == []
    assert ack(pat, "raise_hand", {"session_id": room.sid, "raised": "yes"})["error"] == "invalid"
    assert ack(fac, "lower_hand", {"session_id": room.sid})["error"] == "invalid"
    assert audit("room_hand_lower")[0].actor_id == room.facilitator.id


def test_marking_a_member_as_left_early_records_attendance(room, facilitator_in_room, enter, patient, other_patient,
                                                          make_user):
    pat, olly = enter(patient), enter(other_patient)
    fac = facilitator_in_room
    assert ack(pat, "raise_hand", {"session_id": room.sid})["ok"] is True
    received(fac)

    assert refused(ack(olly, "mark_left_early", {"session_id": room.sid, "user_id": patient.id})) == "forbidden"
    outsider = make_user(RoleName.PATIENT)
    assert ack(fac, "mark_left_early", {"session_id": room.sid, "user_id": outsider.id})["error"] == "not_found"

    assert names(control(fac, room, "mark_left_early", user_id=patient.id)["left_early"]) == ["Pat"]
    state = received(fac, "room_state")[-1]
    assert names(state["left_early"]) == ["Pat"] and state["hands"] == []
    [record] = rows(Attendance, occurrence_id=room.sid, user_id=patient.id)
    assert record.status == AttendanceStatus.LEFT_EARLY and record.recorded_by_id == room.facilitator.id
    assert rows(Attendance, user_id=outsider.id) == []
    [event] = audit("room_left_early")
    assert event.subject_id == patient.id

    assert ack(fac, "start_round", {"session_id": room.sid})["ok"] is True
    assert [o["name"] for o in received(olly, "room_state")[-1]["order"]] == ["Olly"]


def test_controls_need_an_open_room(room, connect_as, clock, patient):
    fac = connect_as(room.facilitator)
    for name, payload in (("start_round", {}), ("next_speaker", {}), ("skip_speaker", {}),
                          ("lower_hand", {"user_id": patient.id}), ("mark_left_early", {"user_id": patient.id})):
        answer = ack(fac, name, {"session_id": room.sid, **payload})
        assert answer["ok"] is False and answer["error"] == "room_closed", name
    assert rows(Attendance) == []


# Safety ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def bystanders(room, connect_as, make_user, make_room, supporter):
    """Sockets that must never hear an alert of the room's group: a co-facilitator (who must), another group's
    facilitator, a supporter and a patient outside the group, each connected somewhere in the app."""
    co = make_user(RoleName.FACILITATOR, display_name="Cody Co")
    services.set_co_facilitators(room.facilitator, room.group, [co])
    db.session.commit()
    other = make_user(RoleName.FACILITATOR, display_name="Ola Otherfac")
    make_room(other, [])
    outsider = make_user(RoleName.PATIENT, display_name="Una Outsider")
    return {"co": connect_as(co), "other_facilitator": connect_as(other), "supporter": connect_as(supporter),
            "outsider": connect_as(outsider)}


def test_need_support_reaches_only_the_groups_facilitators(room, facilitator_in_room, enter, bystanders, patient,
                                                           other_patient):
    pat, olly = enter(patient), enter(other_patient)
    for sio in (facilitator_in_room, pat, olly, *bystanders.values()):
        received(sio)

    answer = ack(pat, "need_support", {"session_id": room.sid})

    assert answer == {"ok": True, "support": {k.removeprefix("crisis_"): v for k, v in CRISIS.items()},
                      "duplicate": False}
    [alert] = rows(SafetyAlert)
    assert (alert.kind.value, alert.patient_id, alert.group_id, alert.occurrence_id) == (
        "need_support", patient.id, room.group.id, room.sid)
    for sio in (facilitator_in_room, bystanders["co"]):
        [pushed] = received(sio, "alert")
        assert (pushed["id"], pushed["kind"], pushed["name"], pushed["acknowledged"]) == (alert.id, "need_support",
                                                                                        "Pat", False)
    for sio in (pat, olly, bystanders["other_facilitator"], bystanders["supporter"], bystanders["outsider"]):
        assert received(sio) == []  # nothing at all: not even a presence or room-state change gives it away
    [event] = audit("safety_alert")
    assert event.actor_id == patient.id and event.subject_id == patient.id


def test_facilitators_do_not_raise_support_alerts(room, facilitator_in_room):
    assert refused(ack(facilitator_in_room, "need_support", {"session_id": room.sid})) == "forbidden"
    assert rows(SafetyAlert) == []


@pytest.mark.parametrize(("threshold", "mood", "alerts"), [(2, 2, 1), (2, 0, 1), (2, 3, 0), (4, 4, 1), (0, 1, 0)])
def test_a_mood_at_or_under_the_groups_threshold_raises_an_alert(make_room, connect_as, clock, facilitator, patient,
                                                                 supporter, threshold, mood, alerts):
    room = make_room(facilitator, [patient], distress_threshold=threshold)
    clock.move_to(IN_LOBBY)
    fac, fac_elsewhere = connect_as(facilitator), connect_as(facilitator)
    assert ack(fac, "open_room", {"session_id": room.sid})["ok"] is True
    pat = connect_as(patient)
    assert ack(pat, "join_session", {"session_id": room.sid})["ok"] is True
    received(pat)

    answer = checkin(pat, room, mood=mood, energy="low")

    assert answer["ok"] is True
    assert len(rows(SafetyAlert)) == alerts
    assert ("support" in answer) is bool(alerts)
    assert len(received(fac_elsewhere, "alert")) == alerts  # on any page, not only in the room
    assert received(pat, "alert") == []
    if alerts:
        assert rows(SafetyAlert)[0].kind.value == "low_mood"
        assert rows(SafetyAlert)[0].checkin_id == answer["checkin"]["id"]


def test_an_acknowledged_alert_is_audited_and_leaves_the_dashboard(room, facilitator_in_room, enter, bystanders,
                                                                   patient, other_patient, make_user, app, login):
    pat, olly = enter(patient), enter(other_patient)
    assert ack(pat, "need_support", {"session_id": room.sid})["ok"] is True
    [alert] = rows(SafetyAlert)
    home = app.test_client()
    login(home, room.facilitator)
    page = home.get("/").get_data(as_text=True)
    assert f'data-alert-id="{alert.id}"' in page and "needs support now" in page
    assert [a["id"] for a in ack(facilitator_in_room, "sync", {"session_id": room.sid})["state"]["alerts"]] == [
        alert.id]
    received(bystanders["co"])

    for outsider in (olly, bystanders["other_facilitator"], bystanders["supporter"], pat):
        assert refused(ack(outsider, "acknowledge_alert", {"alert_id": alert.id})) == "not_found"
    assert rows(SafetyAlert)[0].acknowledged_at is None

    answer = ack(facilitator_in_room, "acknowledge_alert", {"alert_id": alert.id})

    assert answer["ok"] is True
    assert answer["alert"]["acknowledged"] is True and answer["alert"]["acknowledged_by"] == "Dr. Fran Facilitator"
    db.session.refresh(alert)
    assert alert.acknowledged_by_id == room.facilitator.id and alert.acknowledged_at is not None
    [event] = audit("safety_alert_acknowledge")
    assert (event.actor_id, event.subject_id, event.target) == (room.facilitator.id, patient.id, f"alert:{alert.id}")
    assert received(bystanders["co"], "alert")[-1]["acknowledged"] is True  # the co-facilitator's list updates
    page = home.get("/").get_data(as_text=True)
    assert f'data-alert-id="{alert.id}"' not in page
    assert ack(facilitator_in_room, "sync", {"session_id": room.sid})["state"]["alerts"] == []

    again = ack(bystanders["co"], "acknowledge_alert", {"alert_id": alert.id})
    assert again["ok"] is True and again["alert"]["acknowledged_by"] == "Dr. Fran Facilitator"  # the first one stands
    assert len(audit("safety_alert_acknowledge")) == 1


def test_an_alert_stays_open_on_the_dashboard_until_acknowledged(room, facilitator_in_room, enter, clock, app, login,
                                                                 patient):
    assert checkin(enter(patient), room, mood=1)["ok"] is True
    assert ack(facilitator_in_room, "close_room", {"session_id": room.sid})["ok"] is True
    clock.shift(timedelta(hours=3))  # the session is long over
    home = app.test_client()
    login(home, room.facilitator)
    page = home.get("/").get_data(as_text=True)
    assert "checked in with a very low mood" in page and "Pat" in page


# Who may be in the room -----------------------------------------------------------------------------------------------

EVENTS = {
    "join_session": {}, "sync": {}, "checkin": {"mood": 5}, "need_support": {}, "raise_hand": {},
    "open_room": {}, "close_room": {}, "start_round": {}, "next_speaker": {}, "skip_speaker": {},
    "lower_hand": {"user_id": 0}, "mark_left_early": {"user_id": 0},
}


@pytest.mark.parametrize("who", ["outsider_patient", "supporter", "other_group_facilitator",
                                 "other_organisation_facilitator", "invited_not_joined", "paused_member"])
def test_people_outside_the_room_get_nothing_from_any_event(who, room, facilitator_in_room, enter, connect_as,
                                                            make_user, make_room, make_organisation, supporter,
                                                            patient):
    pat = enter(patient)
    assert ack(pat, "raise_hand", {"session_id": room.sid})["ok"] is True
    assert ack(pat, "need_support", {"session_id": room.sid})["ok"] is True
    [alert] = rows(SafetyAlert)
    if who == "outsider_patient":
        person = make_user(RoleName.PATIENT)
    elif who == "supporter":
        person = supporter
    elif who == "other_group_facilitator":
        person = make_user(RoleName.FACILITATOR)
        make_room(person, [])
    elif who == "other_organisation_facilitator":
        person = make_user(RoleName.FACILITATOR, organisation_=make_organisation())
    elif who == "invited_not_joined":
        person = make_user(RoleName.PATIENT)
        db.session.add(Membership(group_id=room.group.id, user_id=person.id, status=MembershipStatus.INVITED))
        db.session.commit()
    else:
        person = room.members[2]
        membership(room, person).status = MembershipStatus.PAUSED
        db.session.commit()
    sio = connect_as(person)
    received(facilitator_in_room), received(pat)
    before = (db.session.scalar(select(LiveRoom)).version, len(rows(CheckIn)), len(rows(Attendance)))

    for name, payload in EVENTS.items():
        payload = {"session_id": room.sid, "client_id": key(), **payload}
        if "user_id" in payload:
            payload["user_id"] = patient.id
        answer = ack(sio, name, payload)
        assert answer["ok"] is False and answer["error"] in ("not_found", "forbidden", "room_closed"), (name, answer)
        assert "state" not in answer and "support" not in answer
    assert refused(ack(sio, "acknowledge_alert", {"alert_id": alert.id})) == "not_found"

    assert received(sio) == []
    assert (db.session.scalar(select(LiveRoom)).version, len(rows(CheckIn)), len(rows(Attendance))) == before
    assert rows(SafetyAlert)[0].acknowledged_at is None
    assert {p.user_id for p in rows(RoomPresence)} == {room.facilitator.id, patient.id}
    assert names(ack(pat, "sync", {"session_id": room.sid})["state"]["hands"]) == ["Pat"]


def test_a_member_removed_from_the_group_is_ejected_at_once_and_cannot_come_back(
        app, room, facilitator_in_room, enter, connect_as, patient, other_patient):
    pat, olly = enter(patient), enter(other_patient)
    pat_elsewhere = connect_as(patient)  # another tab, not in the room
    received(facilitator_in_room), received(olly), received(pat)

    with app.test_request_context():
        services.change_membership_status(room.facilitator, membership(room, patient), MembershipStatus.LEFT)
        assert pat.is_connected()  # not before the commit
        db.session.commit()

    # Without sending anything: every socket of the account goes (the other tab reconnects, and enters only what
    # the policy now allows).
    assert not pat.is_connected() and not pat_elsewhere.is_connected()
    assert names(received(facilitator_in_room, "presence")[-1]["present"]) == ["Dr. Fran Facilitator", "Olly"]
    assert names(received(olly, "presence")[-1]["present"]) == ["Dr. Fran Facilitator", "Olly"]
    assert checkin(olly, room, mood=6, note="after Pat left")["ok"] is True
    assert ack(facilitator_in_room, "start_round", {"session_id": room.sid})["ok"] is True
    assert received(pat) == [] and received(pat_elsewhere) == []  # not one push after the commit

    for sio in (connect_as(patient), connect_as(patient)):
        assert refused(ack(sio, "join_session", {"session_id": room.sid})) == "not_found"
        assert checkin(sio, room, mood=5)["ok"] is False
        assert ack(sio, "sync", {"session_id": room.sid})["ok"] is False
    assert rows(CheckIn, user_id=patient.id) == []


def test_a_paused_member_leaves_the_room_too(app, room, facilitator_in_room, enter, patient):
    pat = enter(patient)
    with app.test_request_context():
        services.change_membership_status(room.facilitator, membership(room, patient), MembershipStatus.PAUSED)
        db.session.commit()
    assert not pat.is_connected()


def test_a_deactivated_account_is_removed_from_the_room_at_once(app, room, facilitator_in_room, enter, connect_as,
                                                                admin, patient, other_patient, api_token):
    pat, olly = enter(patient), enter(other_patient)
    token = api_token(patient)["Authorization"].removeprefix("Bearer ")
    received(facilitator_in_room), received(pat)

    with app.test_request_context():
        account_services.set_account_active(admin, patient, False)
        db.session.commit()

    assert not pat.is_connected()
    assert names(received(facilitator_in_room, "presence")[-1]["present"]) == ["Dr. Fran Facilitator", "Olly"]
    assert checkin(olly, room, mood=6)["ok"] is True
    assert received(pat) == []
    assert not connect_as(patient).is_connected()
    assert not connect_as(patient, auth={"token": token}).is_connected()


def test_a_socket_opened_with_an_api_token_can_use_the_room(room, facilitator_in_room, connect_as, patient,
                                                            api_token):
    token = api_token(patient)["Authorization"].removeprefix("Bearer ")
    sio = connect_as(patient, auth={"token": token})
    assert ack(sio, "join_session", {"session_id": room.sid})["ok"] is True
    assert checkin(sio, room, mood=7)["ok"] is True


@pytest.mark.parametrize("payload", [None, [], "1", {"session_id": None}, {"session_id": True}, {"session_id": 0},
                                     {"session_id": 10**6}])
def test_a_bad_session_id_is_answered_not_crashed_on(room, facilitator_in_room, payload):
    for name in ("join_session", "sync", "checkin", "open_room"):
        answer = facilitator_in_room.emit(name, payload, callback=True) if payload is not None else \
            facilitator_in_room.emit(name, callback=True)
        assert answer["ok"] is False and answer["error"] in ("invalid", "not_found"), (name, payload, answer)


def test_leave_and_heartbeat_touch_only_the_callers_own_presence(room, facilitator_in_room, enter, patient,
                                                                 other_patient):
    enter(patient)
    olly = enter(other_patient)
    assert ack(olly, "leave_session", {}) == {"ok": True}
    assert ack(olly, "heartbeat", {}) == {"ok": True}
    assert {p.user_id for p in rows(RoomPresence)} == {room.facilitator.id, patient.id}



def test_a_co_facilitator_removed_from_the_group_hears_nothing_more(app, room, facilitator_in_room, enter, connect_as,
                                                                   make_user, patient):
    co = make_user(RoleName.FACILITATOR, display_name="Cody Co")
    services.set_co_facilitators(room.facilitator, room.group, [co])
    db.session.commit()
    co_in_room, co_elsewhere = connect_as(co), connect_as(co)
    assert ack(co_in_room, "join_session", {"session_id": room.sid})["ok"] is True
    pat = enter(patient)
    assert ack(pat, "need_support", {"session_id": room.sid})["ok"] is True
    assert len(received(co_elsewhere, "alert")) == 1 and len(received(co_in_room, "alert")) == 1

    with app.test_request_context():
        services.set_co_facilitators(room.facilitator, room.group, [])
        db.session.commit()

    assert not co_in_room.is_connected() and not co_elsewhere.is_connected()
    received(co_in_room), received(co_elsewhere)
    co_back = connect_as(co)  # the other page, reconnected
    assert ack(pat, "need_support", {"session_id": room.sid})["ok"] is True
    assert checkin(pat, room, mood=1, note="private")["ok"] is True
    assert received(co_in_room) == [] and received(co_elsewhere) == [] and received(co_back) == []
    assert len(received(facilitator_in_room, "alert")) == 3  # the lead facilitator hears all of it
    assert refused(ack(co_back, "join_session", {"session_id": room.sid})) == "not_found"


def test_a_co_facilitator_removed_after_the_room_closed_and_reopened_hears_nothing_more(
        app, room, facilitator_in_room, enter, connect_as, make_user, patient):
    """Closing the room must not make the room forget who is still in it: the co-facilitator's socket stays, and
    removing them later must reach it."""
    co = make_user(RoleName.FACILITATOR, display_name="Cody Co")
    services.set_co_facilitators(room.facilitator, room.group, [co])
    db.session.commit()
    co_in_room = connect_as(co)
    assert ack(co_in_room, "join_session", {"session_id": room.sid})["ok"] is True
    assert ack(facilitator_in_room, "close_room", {"session_id": room.sid})["ok"] is True
    assert ack(facilitator_in_room, "open_room", {"session_id": room.sid})["ok"] is True
    pat = enter(patient)
    assert checkin(pat, room, mood=5, note="before")["ok"] is True
    assert [c["note"] for c in received(co_in_room, "checkin")] == ["before"]  # still in the room, as it should be

    with app.test_request_context():
        services.set_co_facilitators(room.facilitator, room.group, [])
        db.session.commit()

    assert not co_in_room.is_connected()
    received(co_in_room)
    assert checkin(pat, room, mood=2, note="private after the removal")["ok"] is True
    assert received(co_in_room) == []


def test_a_co_facilitator_added_after_connecting_hears_alerts_at_once(room, facilitator_in_room, enter, connect_as,
                                                                     make_user, patient):
    co = make_user(RoleName.FACILITATOR, display_name="Cody Co")
    co_socket = connect_as(co)
    services.set_co_facilitators(room.facilitator, room.group, [co])
    db.session.commit()
    assert ack(enter(patient), "need_support", {"session_id": room.sid})["ok"] is True
    assert [a["name"] for a in received(co_socket, "alert")] == ["Pat"]


# Keeping up: what a page asks by itself -------------------------------------------------------------------------------


def test_a_sync_with_the_state_the_client_holds_answers_only_unchanged(room, facilitator_in_room, enter, patient,
                                                                     other_patient):
    pat, olly = enter(patient), enter(other_patient)
    first = ack(pat, "sync", {"session_id": room.sid})
    assert first["ok"] is True and first["state"]["open"] is True and first["etag"]

    again = ack(pat, "sync", {"session_id": room.sid, "etag": first["etag"]})
    assert again == {"ok": True, "unchanged": True, "etag": first["etag"]}

    assert checkin(olly, room, mood=6, note="Something new")["ok"] is True
    changed = ack(pat, "sync", {"session_id": room.sid, "etag": first["etag"]})
    assert changed["etag"] != first["etag"]
    assert [c["note"] for c in changed["state"]["checkins"]] == ["Something new"]


def test_a_sync_puts_a_socket_back_in_the_room_it_lost(room, facilitator_in_room, enter, patient, other_patient):
    """After a reconnect (or when its process lost track), a page's sync is enough to hear the room again."""
    pat, olly = enter(patient), enter(other_patient)
    assert ack(pat, "leave_session", {"session_id": room.sid})["ok"] is True
    assert checkin(olly, room, mood=6, note="Not heard")["ok"] is True
    assert received(pat, "checkin") == []

    assert ack(pat, "sync", {"session_id": room.sid})["ok"] is True

    assert names(received(facilitator_in_room, "presence")[-1]["present"]) == ["Dr. Fran Facilitator", "Olly", "Pat"]
    assert checkin(olly, room, mood=7, note="Heard again")["ok"] is True
    assert [c["note"] for c in received(pat, "checkin")] == ["Heard again"]


def test_a_periodic_sync_keeps_a_member_present_and_tells_no_one(room, facilitator_in_room, enter, clock, patient):
    pat = enter(patient)
    received(facilitator_in_room)
    clock.shift(timedelta(seconds=60))
    assert ack(pat, "sync", {"session_id": room.sid})["ok"] is True
    assert ack(facilitator_in_room, "sync", {"session_id": room.sid})["ok"] is True
    received(facilitator_in_room)
    clock.shift(timedelta(seconds=60))  # 120 s after entering, 60 s after the syncs
    state = ack(facilitator_in_room, "sync", {"session_id": room.sid})["state"]
    assert names(state["present"]) == ["Dr. Fran Facilitator", "Pat"]
    assert received(facilitator_in_room, "presence") == []  # staying is not news


@pytest.mark.parametrize("name", ["sync", "heartbeat", "join_session"])
def test_what_a_page_sends_by_itself_does_not_keep_an_idle_login_alive(name, app, room, facilitator_in_room, enter,
                                                                      clock, patient):
    """SECURITY.md 7: an open room page syncs every 20 seconds; it must still be logged off once nobody uses it."""
    pat = enter(patient)  # signed in just now
    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    for _minute in range(idle // timedelta(minutes=1) - 1):
        clock.shift(timedelta(minutes=1))
        assert ack(pat, name, {"session_id": room.sid})["ok"] is True
    clock.shift(timedelta(minutes=2))  # idle for longer than the limit, with the page syncing all along

    assert ack(pat, name, {"session_id": room.sid}) == {"ok": False, "error": "unauthorized"}
    assert not pat.is_connected()
    assert pat.http.get("/profile").status_code == 302


def test_a_member_who_uses_the_room_stays_signed_in(app, room, facilitator_in_room, enter, clock, patient):
    pat = enter(patient)
    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    clock.shift(idle - timedelta(minutes=2))
    assert ack(pat, "raise_hand", {"session_id": room.sid})["ok"] is True  # a person did something
    clock.shift(idle - timedelta(minutes=1))
    assert ack(pat, "sync", {"session_id": room.sid})["ok"] is True


# Asking for support, once ---------------------------------------------------------------------------------------------


def test_need_support_pressed_again_with_its_key_raises_one_alert(room, facilitator_in_room, enter, patient):
    pat, second_tab = enter(patient), enter(patient)
    client_id = key()
    answers = [ack(sio, "need_support", {"session_id": room.sid, "client_id": client_id})
               for sio in (pat, pat, second_tab)]

    assert [a["ok"] for a in answers] == [True, True, True]
    assert [a["duplicate"] for a in answers] == [False, True, True]
    assert all(a["support"] == {k.removeprefix("crisis_"): v for k, v in CRISIS.items()} for a in answers)
    [alert] = rows(SafetyAlert)
    assert alert.client_id == client_id
    assert len(received(facilitator_in_room, "alert")) == 1
    assert len(audit("safety_alert")) == 1

    later = ack(pat, "need_support", {"session_id": room.sid, "client_id": key()})
    assert later["duplicate"] is False and len(rows(SafetyAlert)) == 2  # a new call for support is a new alert


def test_need_support_with_a_malformed_key_is_refused(room, facilitator_in_room, enter, patient):
    pat = enter(patient)
    for bad in ("short", 12345678, "x" * 65, "with space in it"):
        assert refused(ack(pat, "need_support", {"session_id": room.sid, "client_id": bad})) == "invalid_client_id"
    assert rows(SafetyAlert) == []


def test_a_member_waiting_in_the_lobby_can_still_ask_for_support(room, connect_as, clock, patient):
    clock.move_to(IN_LOBBY)
    fac_elsewhere = connect_as(room.facilitator)
    waiting = connect_as(patient)
    assert refused(ack(waiting, "join_session", {"session_id": room.sid})) == "room_closed"

    answer = ack(waiting, "need_support", {"session_id": room.sid, "client_id": key()})

    assert answer["ok"] is True and answer["support"]["name"] == CRISIS["crisis_name"]
    assert [a["kind"] for a in received(fac_elsewhere, "alert")] == ["need_support"]


# Races ----------------------------------------------------------------------------------------------------------------


def test_two_facilitators_acknowledging_at_once_record_one_acknowledgement(app, room, facilitator_in_room, enter,
                                                                          make_user, patient):
    co = make_user(RoleName.FACILITATOR, display_name="Cody Co")
    services.set_co_facilitators(room.facilitator, room.group, [co])
    db.session.commit()
    assert ack(enter(patient), "need_support", {"session_id": room.sid})["ok"] is True
    alert = rows(SafetyAlert)[0]
    received(facilitator_in_room)
    # The co-facilitator's acknowledgement commits after this request read the alert as open.
    db.session.execute(sa_update(SafetyAlert).where(SafetyAlert.id == alert.id)
                       .values(acknowledged_at=START, acknowledged_by_id=co.id)
                       .execution_options(synchronize_session=False))
    assert alert.acknowledged_at is None  # what this request still believes

    with app.test_request_context():
        room_alerts.acknowledge_alert(room.facilitator, alert)
        db.session.commit()

    db.session.refresh(alert)
    assert alert.acknowledged_by_id == co.id  # the first one stands
    assert audit("safety_alert_acknowledge") == []  # the other request audits its own; this one has nothing to record
    assert received(facilitator_in_room, "alert") == []


def test_a_room_made_by_another_request_meanwhile_is_the_room(app, room, monkeypatch):
    """Two requests that both find no room for the session: the second to insert uses the first one's."""
    existing = LiveRoom(occurrence_id=room.sid)
    db.session.add(existing)
    db.session.commit()
    real_scalar = db.session.scalar
    looked = []

    def first_look_misses(statement, *args, **kwargs):
        if not looked and "live_room" in str(statement):
            looked.append(statement)
            return None  # read before the other request committed
        return real_scalar(statement, *args, **kwargs)

    monkeypatch.setattr(db.session, "scalar", first_look_misses)
    found = room_services.room_of(room.occurrence, lock=True)
    monkeypatch.undo()

    assert looked and found.id == existing.id
    db.session.commit()
    assert len(rows(LiveRoom)) == 1


@pytest.mark.postgres  # SQLite runs one writer at a time (BEGIN IMMEDIATE): the race needs PostgreSQL
@pytest.mark.skipif("postgresql" not in (__import__("os").environ.get("TEST_DATABASE_URL") or ""),
                    reason="SQLite runs one writer at a time (BEGIN IMMEDIATE): the race needs PostgreSQL")
def test_a_checkin_waits_for_a_close_under_way_and_is_then_refused(app, room, facilitator_in_room, enter, patient):
    import threading

    from sqlalchemy import text

    pat = enter(patient)
    live_room = db.session.scalar(select(LiveRoom))
    db.session.commit()
    closing = db.engine.connect()
    transaction = closing.begin()
    closing.execute(text("SELECT id FROM live_room WHERE id = :id FOR UPDATE"), {"id": live_room.id})
    closing.execute(text("UPDATE live_room SET closed_at = now() WHERE id = :id"), {"id": live_room.id})
    answers = []
    payload = {"session_id": room.sid, "client_id": key(), "mood": 5, "note": "during the close"}

    def check_in():
        with app.app_context():  # a connection of its own, as another request would have
            answers.append(ack(pat, "checkin", payload))

    member = threading.Thread(target=check_in)
    # pg_stat_activity is read once per transaction: the watcher asks outside of one.
    watcher = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    member.start()
    try:
        # Until the check-in is either done or waiting for the close's lock (no timing involved).
        while member.is_alive() and not watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()")).scalar():
            member.join(0.01)
    finally:
        transaction.commit()
        closing.close()
        watcher.close()
    member.join()

    assert refused(answers[0]) == "room_closed"
    db.session.expire_all()
    assert rows(CheckIn) == []
