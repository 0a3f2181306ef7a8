"""Fixtures for the live-room and check-in tests: a group with one session, a frozen clock, and sockets per person.

Import what a test module needs: `from room_fixtures import *  # noqa: F403` brings the fixtures into scope.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from app.accounts.models import RoleName, User
from app.extensions import db, socketio
from app.groups import services
from app.groups.models import Membership, MembershipStatus, SessionOccurrence, TherapyGroup

#: When the session starts; the group's lobby opens 15 minutes before.
START = datetime(2026, 3, 20, 18, 0, tzinfo=timezone.utc)
#: Where the clock stands when a test begins: five minutes before the lobby opens (and well inside the idle timeout
#: of a login made now, so that tests can walk into the lobby without signing in again).
BEFORE_LOBBY = START - timedelta(minutes=20)
IN_LOBBY = START - timedelta(minutes=10)

CRISIS = {"crisis_name": "Riverside Crisis Line", "crisis_phone": "0800 111 222", "crisis_text": "Text SHOUT to 85258",
          "crisis_url": "https://crisis.example.org", "crisis_note": "Open day and night."}

__all__ = ["BEFORE_LOBBY", "CRISIS", "IN_LOBBY", "START", "Room", "ack", "add_member", "clock", "connect_as", "enter",
           "facilitator_in_room", "key", "make_room", "received", "room"]


def key() -> str:
    """A fresh idempotency key, as a client makes one per check-in."""
    return f"ck-{uuid.uuid4().hex}"


def received(sio, name: str | None = None) -> list:
    """What the server pushed to this socket since the last call: the payloads of `name`, or (name, payload) pairs.

    Reads the test client's queue directly so that it also works on a socket the server has disconnected (what
    reaches a socket after its disconnect matters as much as what reached it before).
    """
    packets, sio.queue[:] = list(sio.queue), []
    if name is None:
        return [(p["name"], p["args"][0] if p["args"] else None) for p in packets]
    return [p["args"][0] for p in packets if p["name"] == name]


@dataclass
class Room:
    group: TherapyGroup
    occurrence: SessionOccurrence
    facilitator: User
    members: list[User] = field(default_factory=list)

    @property
    def sid(self) -> int:
        """The session id clients send."""
        return self.occurrence.id


@pytest.fixture
def clock(app):
    """Time frozen 20 minutes before the session; `clock.move_to(...)` and `clock.shift(...)` move it."""
    with time_machine.travel(BEFORE_LOBBY, tick=False) as traveller:
        yield traveller


def add_member(group: TherapyGroup, user: User, preferred_name: str = "") -> Membership:
    membership = Membership(group_id=group.id, user_id=user.id, status=MembershipStatus.ACTIVE,
                            preferred_name=preferred_name, joined_at=datetime.now(timezone.utc),
                            agreement_id=group.current_agreement.id,
                            agreement_accepted_at=datetime.now(timezone.utc))
    db.session.add(membership)
    db.session.commit()
    return membership


@pytest.fixture
def make_room(app, clock, organisation):
    """make_room(facilitator, members, **group_fields) -> Room: an active group and one session at START."""
    for name, value in CRISIS.items():
        setattr(organisation, name, value)
    db.session.commit()

    def make(facilitator: User, members: list[User] = (), **fields) -> Room:
        data = {"name": "Thursday group", "description": "", "focus": "", "format": "online",
                "video_link": "https://video.example.org/room", "location": "", "capacity": 8,
                "enrolment": "rolling", "status": "active", "timezone": "UTC", **fields}
        lobby_minutes = data.pop("lobby_minutes", None)
        group = services.create_group(facilitator, data)
        if lobby_minutes is not None:  # not among the fields a facilitator edits (yet)
            group.lobby_minutes = lobby_minutes
        db.session.commit()
        for member in members:
            add_member(group, member, preferred_name=member.display_name.split()[0])
        occurrence = SessionOccurrence(group_id=group.id, recurrence_id=None, starts_at=START, duration_minutes=90)
        db.session.add(occurrence)
        db.session.commit()
        return Room(group, occurrence, facilitator, list(members))

    return make


@pytest.fixture
def room(make_room, facilitator, patient, other_patient, make_user):
    """The facilitator's group with three members (Pat, Olly, Mo) and its session at START, not yet opened."""
    third = make_user(RoleName.PATIENT, display_name="Mo Member")
    return make_room(facilitator, [patient, other_patient, third])


@pytest.fixture
def connect_as(app, login):
    """connect_as(user) -> a Socket.IO test client signed in as that person (own HTTP client, own login)."""
    opened = []

    def connect(user: User, **kwargs):
        http = app.test_client()
        login(http, user)
        sio = socketio.test_client(app, flask_test_client=http, **kwargs)
        sio.http = http
        opened.append(sio)
        return sio

    yield connect
    for sio in opened:
        if sio.is_connected():
            sio.disconnect()


def memberships(group: TherapyGroup) -> list[Membership]:
    return list(db.session.scalars(select(Membership).where(Membership.group_id == group.id)))


def ack(sio, event_name: str, payload=None):
    """Send an event and return the server's acknowledgement."""
    if payload is None:
        return sio.emit(event_name, callback=True)
    return sio.emit(event_name, payload, callback=True)


@pytest.fixture
def facilitator_in_room(room, connect_as, clock):
    """The facilitator's socket, after opening the room and joining it inside the lobby time; pushes so far drained."""
    sio = connect_as(room.facilitator)
    clock.move_to(IN_LOBBY)
    assert ack(sio, "open_room", {"session_id": room.sid})["ok"] is True
    assert ack(sio, "join_session", {"session_id": room.sid})["ok"] is True
    received(sio)
    return sio


@pytest.fixture
def enter(room, connect_as):
    """enter(user) -> a socket of that member, joined to the (open) room."""

    def do_enter(user: User):
        sio = connect_as(user)
        answer = ack(sio, "join_session", {"session_id": room.sid})
        assert answer["ok"] is True, answer
        return sio

    return do_enter
