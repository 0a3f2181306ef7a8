"""Who hears what of a live room: its Socket.IO rooms, and the pushes queued to them (they leave after the commit, see
app/realtime/push.py); the database row is the record, a push only a notification."""

from __future__ import annotations

from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.groups.models import GroupFacilitator, SessionOccurrence
from app.realtime.push import queue_push
from app.realtime.sockets import account_sids, user_room
from app.rooms.models import CheckIn, LiveRoom
from app.rooms.queries import checkin_payload, groups_for_alerts, presence_list, public_state, shown_name


def session_room(occurrence_id: int) -> str:
    """Everyone in the live room: presence, room state."""
    return f"session:{occurrence_id}"


def members_room(occurrence_id: int) -> str:
    """Members of the live room: check-ins as the group's visibility setting allows."""
    return f"session:{occurrence_id}:members"


def facilitators_room(occurrence_id: int) -> str:
    """Facilitators in the live room: every check-in in full."""
    return f"session:{occurrence_id}:facilitators"


def lobby_room(occurrence_id: int) -> str:
    """Members waiting for the room to open: told only that it opened or closed."""
    return f"session:{occurrence_id}:lobby"


def push_to_facilitators(event_name: str, payload: dict, group_id: int) -> None:
    """To every socket of the group's facilitators, wherever they are in the app (safety alerts, check-ins between
    sessions). Addressed to each account's own room, with the facilitators looked up now: a room of the group joined
    on connect would go on feeding a co-facilitator removed since, and miss one added since."""
    for user_id in db.session.scalars(select(GroupFacilitator.user_id).where(GroupFacilitator.group_id == group_id)):
        queue_push(event_name, payload, user_room(user_id))


def push_checkin(user: User, checkin: CheckIn, occurrence: SessionOccurrence | None) -> None:
    if occurrence is not None:
        group = occurrence.group
        name = shown_name(user.id, group.id)
        full = checkin_payload(checkin, name, True)
        queue_push("checkin", full, facilitators_room(occurrence.id))
        if group.checkin_visibility == "all":
            queue_push("checkin", full, members_room(occurrence.id))
            return
        # The others learn only that the member checked in; the member's own sockets (on any process) hear it in
        # full, as they wrote it.
        queue_push("checkin", checkin_payload(checkin, name, False), members_room(occurrence.id),
                   skip_sid=account_sids(user.id))
        queue_push("checkin", full, user_room(user.id))
        return
    for group in groups_for_alerts(user, None):
        payload = checkin_payload(checkin, shown_name(user.id, group.id), True)
        push_to_facilitators("checkin", {**payload, "group_id": group.id}, group.id)


def push_presence(occurrence: SessionOccurrence, room: LiveRoom) -> None:
    queue_push("presence", {"session_id": occurrence.id, "present": presence_list(occurrence, room)},
               session_room(occurrence.id))


def push_room_state(occurrence: SessionOccurrence, room: LiveRoom, *, opened_or_closed: bool = False) -> None:
    """Room state without check-ins (each viewer's visibility differs); clients re-sync check-ins on join. Members
    waiting in the lobby learn only that the room opened or closed, and then try to enter it."""
    queue_push("room_state", public_state(occurrence, room), session_room(occurrence.id))
    if opened_or_closed:
        queue_push("room_state", {"session_id": occurrence.id, "open": room.is_open, "version": room.version},
                   lobby_room(occurrence.id))
