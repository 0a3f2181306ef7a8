"""Socket.IO events of the live check-in room and the facilitator's home page. Every event is authorised through
app/policy.py on every call (app/realtime.socket_event re-authenticates the socket first); acknowledgements follow the
commit, and the rooms a socket enters are entered after it."""

from __future__ import annotations

from flask import request
from flask_socketio import join_room, leave_room

from app import policy, signals
from app.accounts.models import User
from app.extensions import db
from app.groups import queries as group_queries
from app.groups.models import SessionOccurrence
from app.models_base import utcnow
from app.realtime.sockets import event, payload_id
from app.rooms import alerts, pushes, queries, services
from app.rooms.models import SafetyAlert
from app.rooms.services import CheckInError


def _occurrence(user: User, payload) -> SessionOccurrence:
    occurrence = group_queries.occurrence_in_organisation(payload_id(payload, "session_id"), user.organisation_id)
    if occurrence is None or not policy.can_view_sessions(user, occurrence.group):
        raise CheckInError("not_found")
    return occurrence


def _managed_occurrence(user: User, payload) -> SessionOccurrence:
    occurrence = _occurrence(user, payload)
    if occurrence.is_circle or not policy.can_manage_group(user, occurrence.group):
        raise CheckInError("forbidden")  # a check-in circle has no facilitator controls
    return occurrence


def _enter(user: User, occurrence: SessionOccurrence) -> None:
    try:
        services.enter_room(user, occurrence, request.sid)
    except policy.RoomNotOpen:
        # A member who is early waits in the lobby, which hears only that the room opened (or closed): joined at
        # once, as it holds nothing the member may not know.
        join_room(pushes.lobby_room(occurrence.id))
        raise


def _state(user: User, occurrence: SessionOccurrence, known: object = None) -> dict:
    """The viewer's state and its fingerprint; only the fingerprint when the client already holds that state."""
    state = queries.state_for(user, occurrence, services.room_of(occurrence))
    etag = queries.state_etag(state)
    if isinstance(known, str) and known == etag:
        return {"unchanged": True, "etag": etag}
    return {"state": state, "etag": etag}


# Everyone in the room -------------------------------------------------------------------------------------------------
# Entering, syncing and the heartbeat are what a page does by itself (on load, on a reconnect, on a timer): they do
# not count as activity, so an open tab is still logged off when nobody uses it.


@event("join_session", automatic=True)
def join_session(user, payload):
    occurrence = _occurrence(user, payload)
    _enter(user, occurrence)
    return _state(user, occurrence)


@event("sync", automatic=True)
def sync(user, payload):
    """The room as the database has it (a push is only a notification): clients call this after a reconnect and
    every little while. It enters the socket into the room again if it is not there (a reconnect, a lost process),
    counts as a heartbeat, and answers only `unchanged` when the state is the one the client names by `etag`."""
    occurrence = _occurrence(user, payload)
    _enter(user, occurrence)
    return _state(user, occurrence, payload.get("etag"))


@event("leave_session")
def leave_session(user, payload):
    for occurrence in services.leave_room_presence(request.sid):
        for room in (pushes.session_room(occurrence.id), pushes.members_room(occurrence.id),
                     pushes.facilitators_room(occurrence.id), pushes.lobby_room(occurrence.id)):
            leave_room(room)
    return {}


@event("heartbeat", automatic=True)
def heartbeat(user, payload):
    services.heartbeat(request.sid)
    return {}


# Members --------------------------------------------------------------------------------------------------------------


@event("checkin")
def checkin(user, payload):
    occurrence = _occurrence(user, payload)
    result = services.record_checkin(user, occurrence=occurrence, client_id=payload.get("client_id"),
                                     mood=payload.get("mood"), energy=payload.get("energy"),
                                     note=payload.get("note"), passed=payload.get("passed", False))
    answer = services.own_checkin_answer(user, result)
    support = answer.pop("support", None)
    return {"checkin": answer, "duplicate": answer["duplicate"], **({"support": support} if support else {})}


@event("need_support")
def need_support(user, payload):
    occurrence = _occurrence(user, payload)
    if policy.can_manage_group(user, occurrence.group):
        raise CheckInError("forbidden")
    result = services.need_support(user, occurrence, client_id=payload.get("client_id"))
    return {"support": queries.crisis_resources(user), "duplicate": not result.created}


@event("raise_hand")
def raise_hand(user, payload):
    occurrence = _occurrence(user, payload)
    policy.require_enter_room(user, occurrence, services.room_of(occurrence), utcnow())
    raised = payload.get("raised", True)
    if not isinstance(raised, bool):
        raise CheckInError("invalid", "raised must be true or false")
    services.set_hand(user, occurrence, raised)
    return {"raised": raised}


# Facilitators ---------------------------------------------------------------------------------------------------------
# Each control answers with the room as it now is, so the facilitator's screen follows even when pushes do not arrive.


@event("open_room")
def open_room(user, payload):
    occurrence = _managed_occurrence(user, payload)
    services.open_room(user, occurrence)
    return _state(user, occurrence)


@event("close_room")
def close_room(user, payload):
    occurrence = _managed_occurrence(user, payload)
    services.close_room(user, occurrence)
    return _state(user, occurrence)


@event("start_round")
def start_round(user, payload):
    occurrence = _managed_occurrence(user, payload)
    services.start_round(user, occurrence)
    return _state(user, occurrence)


@event("next_speaker")
def next_speaker(user, payload):
    occurrence = _managed_occurrence(user, payload)
    services.next_speaker(user, occurrence)
    return _state(user, occurrence)


@event("skip_speaker")
def skip_speaker(user, payload):
    occurrence = _managed_occurrence(user, payload)
    services.next_speaker(user, occurrence, skip=True)
    return _state(user, occurrence)


@event("lower_hand")
def lower_hand(user, payload):
    occurrence = _managed_occurrence(user, payload)
    services.lower_hand_for(user, occurrence, payload_id(payload, "user_id"))
    return _state(user, occurrence)


@event("mark_left_early")
def mark_left_early(user, payload):
    occurrence = _managed_occurrence(user, payload)
    services.mark_left_early(user, occurrence, payload_id(payload, "user_id"))
    return _state(user, occurrence)


@event("acknowledge_alert")
def acknowledge_alert(user, payload):
    alert = db.session.get(SafetyAlert, payload_id(payload, "alert_id"))
    if alert is None or alert.organisation_id != user.organisation_id or not policy.can_acknowledge_alert(user, alert):
        raise CheckInError("not_found")
    alerts.acknowledge_alert(user, alert, payload.get("note"))
    return {"alert": queries.alert_payload(alert)}


@event("sync_dashboard", automatic=True)
def sync_dashboard(user, payload):
    """The facilitator's home page, from the database: open alerts and recent check-ins between sessions (after a
    reconnect, and every little while in case a push was lost)."""
    policy.require_follow_alerts(user)
    return queries.dashboard_state(user)


@signals.socket_closed.connect
def _forget_presence(_sender, *, sid: str) -> None:
    services.leave_room_presence(sid)
