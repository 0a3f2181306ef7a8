"""Socket.IO events of the live check-in room. Every event is authorised through app/policy.py on every call
(app/realtime.socket_event re-authenticates the socket first); acknowledgements follow the commit."""

from __future__ import annotations

from flask import request
from flask_socketio import join_room, leave_room

from app import policy
from app.accounts.models import User
from app.extensions import db, socketio
from app.groups import checkins, queries
from app.groups.checkins import CheckInError
from app.groups.models import SafetyAlert, SessionOccurrence
from app.realtime import event, payload_id


def _occurrence(user: User, payload) -> SessionOccurrence:
    occurrence = queries.occurrence_in_organisation(payload_id(payload, "session_id"), user.organisation_id)
    if occurrence is None or not policy.can_view_sessions(user, occurrence.group):
        raise CheckInError("not_found")
    return occurrence


def _managed_occurrence(user: User, payload) -> SessionOccurrence:
    occurrence = _occurrence(user, payload)
    if not policy.can_manage_group(user, occurrence.group):
        raise CheckInError("forbidden")
    return occurrence


def register_events() -> None:
    """The disconnect handler is not an acknowledged event; bind it to each new Socket.IO server."""
    socketio.on_event("disconnect", on_disconnect)


# Everyone in the room -------------------------------------------------------------------------------------------------


@event("join_session")
def join_session(user, payload):
    occurrence = _occurrence(user, payload)
    checkins.join_room_presence(user, occurrence, request.sid)
    join_room(checkins.session_room(occurrence.id))
    if policy.can_manage_group(user, occurrence.group):
        join_room(checkins.facilitators_room(occurrence.id))
    else:
        join_room(checkins.members_room(occurrence.id))
    return {"state": checkins.state_for(user, occurrence)}


@event("sync")
def sync(user, payload):
    """The room as the database has it: clients call this after a reconnect (a push is only a notification)."""
    occurrence = _occurrence(user, payload)
    checkins.check_can_enter(user, occurrence, checkins.room_of(occurrence), checkins.utcnow())
    return {"state": checkins.state_for(user, occurrence)}


@event("leave_session")
def leave_session(user, payload):
    for occurrence in checkins.leave_room_presence(request.sid):
        for room in (checkins.session_room(occurrence.id), checkins.members_room(occurrence.id),
                     checkins.facilitators_room(occurrence.id)):
            leave_room(room)
    return {}


@event("heartbeat")
def heartbeat(user, payload):
    checkins.heartbeat(request.sid)
    return {}


# Members --------------------------------------------------------------------------------------------------------------


@event("checkin")
def checkin(user, payload):
    occurrence = _occurrence(user, payload)
    result = checkins.record_checkin(user, occurrence=occurrence, client_id=payload.get("client_id"),
                                     mood=payload.get("mood"), energy=payload.get("energy"),
                                     note=payload.get("note"), passed=payload.get("passed", False))
    answer = checkins.own_checkin_answer(user, result)
    support = answer.pop("support", None)
    return {"checkin": answer, "duplicate": answer["duplicate"], **({"support": support} if support else {})}


@event("need_support")
def need_support(user, payload):
    occurrence = _occurrence(user, payload)
    if policy.can_manage_group(user, occurrence.group):
        raise CheckInError("forbidden")
    checkins.need_support(user, occurrence)
    return {"support": checkins.crisis_resources(user)}


@event("raise_hand")
def raise_hand(user, payload):
    occurrence = _occurrence(user, payload)
    checkins.check_can_enter(user, occurrence, checkins.room_of(occurrence), checkins.utcnow())
    raised = payload.get("raised", True)
    if not isinstance(raised, bool):
        raise CheckInError("invalid", "raised must be true or false")
    checkins.set_hand(user, occurrence, raised)
    return {"raised": raised}


# Facilitators ---------------------------------------------------------------------------------------------------------


@event("open_room")
def open_room(user, payload):
    occurrence = _managed_occurrence(user, payload)
    checkins.open_room(user, occurrence)
    return {"state": checkins.state_for(user, occurrence)}


@event("close_room")
def close_room(user, payload):
    occurrence = _managed_occurrence(user, payload)
    checkins.close_room(user, occurrence)
    return {"state": checkins.state_for(user, occurrence)}


@event("start_round")
def start_round(user, payload):
    checkins.start_round(user, _managed_occurrence(user, payload))
    return {}


@event("next_speaker")
def next_speaker(user, payload):
    checkins.next_speaker(user, _managed_occurrence(user, payload))
    return {}


@event("skip_speaker")
def skip_speaker(user, payload):
    checkins.next_speaker(user, _managed_occurrence(user, payload), skip=True)
    return {}


@event("lower_hand")
def lower_hand(user, payload):
    occurrence = _managed_occurrence(user, payload)
    checkins.lower_hand_for(user, occurrence, payload_id(payload, "user_id"))
    return {}


@event("mark_left_early")
def mark_left_early(user, payload):
    occurrence = _managed_occurrence(user, payload)
    checkins.mark_left_early(user, occurrence, payload_id(payload, "user_id"))
    return {}


@event("acknowledge_alert")
def acknowledge_alert(user, payload):
    alert = db.session.get(SafetyAlert, payload_id(payload, "alert_id"))
    if alert is None or alert.organisation_id != user.organisation_id or not policy.can_acknowledge_alert(user, alert):
        raise CheckInError("not_found")
    checkins.acknowledge_alert(user, alert)
    return {"alert": checkins.alert_payload(alert)}


def on_disconnect(*_reason):
    try:
        checkins.leave_room_presence(request.sid)
        db.session.commit()
    except Exception:  # the socket is gone either way; stale presence expires by its timeout
        db.session.rollback()
