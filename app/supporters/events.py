"""Socket.IO events of the supporter's page: live updates while (and only while) a consent allows them."""

from __future__ import annotations

from flask_socketio import join_room, leave_room

from app import policy
from app.realtime.sockets import event, payload_id
from app.refusal import Refusal
from app.supporters.services import shared_room


@event("join_shared")
def join_shared(user, payload):
    """Follow a patient's shared page; refused (and nothing joined) without an active consent."""
    patient_id = payload_id(payload, "patient_id")
    allowed = policy.allowed_data_classes(user, patient_id)
    if not allowed:
        raise Refusal(code="access_ended")
    join_room(shared_room(patient_id, user.id))
    return {"classes": sorted(allowed)}


@event("leave_shared")
def leave_shared(user, payload):
    leave_room(shared_room(payload_id(payload, "patient_id"), user.id))
    return {}
