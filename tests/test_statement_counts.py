"""How many SQL statements one live-room event costs. The viewer's relation to the group is loaded once per event
and handed to app/policy.py; these counts keep a repeat lookup (or a query per member) from creeping back in."""

from __future__ import annotations

from contextlib import contextmanager

from room_fixtures import *  # noqa: F403
from room_fixtures import ack, key, received
from sqlalchemy import event, func, select

from app.accounts.models import RoleName
from app.extensions import db
from app.rooms.models import CheckIn
from app.rooms.services import record_checkin


@contextmanager
def statements():
    """The SQL statements run inside the block (SAVEPOINTs and their releases included: they are round trips)."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _open_room(make_room, members, facilitator, connect_as, clock):
    """The room of a new group with these members, open, with its facilitator and three members in it."""
    room = make_room(facilitator, members)
    host = connect_as(facilitator)
    clock.move_to(IN_LOBBY)  # noqa: F405
    assert ack(host, "open_room", {"session_id": room.sid})["ok"] is True
    assert ack(host, "join_session", {"session_id": room.sid})["ok"] is True
    sockets = [connect_as(member) for member in members[:3]]
    for sio in sockets:
        assert ack(sio, "join_session", {"session_id": room.sid})["ok"] is True
    received(host)
    return room.sid, sockets[0]


def _checkin_costs(session_id, sio, mood):
    payload = {"session_id": session_id, "client_id": key(), "mood": mood, "energy": "medium"}
    db.session.remove()  # as in a server, the event starts with nothing loaded
    with statements() as seen:
        answer = ack(sio, "checkin", payload)
    assert answer["ok"] is True, answer
    return len(seen), seen


def _costs(session_id, sio) -> tuple[int, int]:
    checkin, seen = _checkin_costs(session_id, sio, 7)
    reads = [statement for statement in seen if statement.startswith("SELECT")]
    assert len(reads) == len(set(reads)), "a lookup made twice in one event"
    low_mood, seen = _checkin_costs(session_id, sio, 1)
    assert any(statement.startswith("INSERT INTO safety_alert") for statement in seen)
    return checkin, low_mood


def _members(make_user, size):
    return [make_user(RoleName.PATIENT, display_name=f"Member {n}") for n in range(size)]


def test_a_checkin_costs_a_dozen_statements_and_a_low_mood_with_its_alert_sixteen(make_room, make_user, facilitator,
                                                                                  connect_as, clock):
    checkin, low_mood = _costs(*_open_room(make_room, _members(make_user, 10), facilitator, connect_as, clock))
    assert checkin <= 12
    assert low_mood <= 16


def test_the_cost_does_not_grow_with_the_room(make_room, make_user, facilitator, connect_as, clock):
    small = _open_room(make_room, _members(make_user, 10), facilitator, connect_as, clock)
    large = _open_room(make_room, _members(make_user, 100), facilitator, connect_as, clock)
    assert _costs(*small) == _costs(*large)


def test_a_retry_costs_no_more_than_the_first_and_stores_nothing(room, facilitator_in_room, enter, patient):
    sio = enter(patient)
    payload = {"session_id": room.sid, "client_id": key(), "mood": 6}
    db.session.remove()
    with statements() as first:
        assert ack(sio, "checkin", payload)["checkin"]["duplicate"] is False
    db.session.remove()
    with statements() as again:
        assert ack(sio, "checkin", payload)["checkin"]["duplicate"] is True
    assert len(again) <= len(first)
    assert db.session.scalar(select(func.count()).select_from(CheckIn).where(
        CheckIn.client_id == payload["client_id"])) == 1


def _sync_costs(make_room, members, facilitator, connect_as, clock) -> int:
    """What a facilitator's full re-sync costs with these members in the room, each checked in, one hand up."""
    present = len(members)
    room = make_room(facilitator, members)
    host = connect_as(facilitator)
    clock.move_to(IN_LOBBY)  # noqa: F405
    assert ack(host, "open_room", {"session_id": room.sid})["ok"] is True
    for member in members:
        sio = connect_as(member)
        assert ack(sio, "join_session", {"session_id": room.sid})["ok"] is True
        assert ack(sio, "checkin", {"session_id": room.sid, "client_id": key(), "mood": 6})["ok"] is True
    assert ack(sio, "raise_hand", {"session_id": room.sid, "raised": True})["ok"] is True
    session_id = room.sid
    db.session.expire_all()  # nothing loaded is trusted: each object read is read again
    with statements() as seen:
        answer = ack(host, "sync", {"session_id": session_id})
    assert answer["ok"] is True and len(answer["state"]["present"]) == present + 1
    return len(seen)


def test_a_resync_costs_the_same_with_three_in_the_room_as_with_twelve(make_room, make_user, facilitator, connect_as,
                                                                       clock):
    few, many = _members(make_user, 3), _members(make_user, 12)
    other = make_user(RoleName.FACILITATOR)
    assert _sync_costs(make_room, few, facilitator, connect_as, clock) == _sync_costs(make_room, many, other,
                                                                                     connect_as, clock)


def _dashboard_costs(make_room, members, facilitator, connect_as) -> int:
    """What the facilitator's home page costs to re-sync with each of these members' check-ins between sessions."""
    make_room(facilitator, members)
    for member in members:
        record_checkin(member, client_id=key(), mood=6)
    db.session.commit()
    host = connect_as(facilitator)
    db.session.expire_all()
    with statements() as seen:
        answer = ack(host, "sync_dashboard", {})
    assert answer["ok"] is True and len(answer["checkins"]) == len(members)
    return len(seen)


def test_the_home_pages_resync_costs_the_same_with_two_checkins_as_with_eight(make_room, make_user, facilitator,
                                                                               connect_as):
    few, many = _members(make_user, 2), _members(make_user, 8)
    other = make_user(RoleName.FACILITATOR)
    assert _dashboard_costs(make_room, few, facilitator, connect_as) == _dashboard_costs(make_room, many, other,
                                                                                         connect_as)
