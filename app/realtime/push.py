"""Socket.IO pushes sent only after the transaction that caused them commits: the database is the record, a push is
a notification. A push that cannot be delivered (Redis down, say) is logged and dropped; clients re-sync from the
database when they reconnect."""

from __future__ import annotations

from flask import current_app
from socketio import PubSubManager
from sqlalchemy import event
from sqlalchemy.orm import Session

from app import signals
from app.extensions import db, socketio
from app.models_base import ends_the_transaction

PUSH_KEY = "momentum_pushes"


def queue_push(event_name: str, data, room: str, skip_sid: str | None = None) -> None:
    db.session.info.setdefault(PUSH_KEY, []).append(("emit", event_name, data, room, skip_sid))


def queue_disconnect(sids: list[str]) -> None:
    """Disconnect sockets after commit; through the message queue this reaches sockets on other processes too."""
    if sids:
        db.session.info.setdefault(PUSH_KEY, []).append(("disconnect", None, list(sids), None, None))


def queue_close_room(room: str) -> None:
    """Take every socket out of a room after commit, on every process (through the message queue)."""
    db.session.info.setdefault(PUSH_KEY, []).append(("close_room", None, None, room, None))


def queue_enter_room(sid: str, room: str) -> None:
    """Put a socket in a room after commit (a socket of another process through the message queue): a room entered
    before a commit that then fails would go on feeding a socket the database never let in."""
    db.session.info.setdefault(PUSH_KEY, []).append(("enter_room", None, sid, room, None))


def queue_leave_room(sid: str, room: str) -> None:
    db.session.info.setdefault(PUSH_KEY, []).append(("leave_room", None, sid, room, None))


def notify_data_changed(patient_id: int, data_class: str) -> None:
    signals.patient_data_changed.send(patient_id=patient_id, data_class=data_class)


def queue_disconnect_room(room: str) -> None:
    """Disconnect, after commit, every socket of this process in a room (an account's own room, say)."""
    db.session.info.setdefault(PUSH_KEY, []).append(("disconnect_room", None, None, room, None))


def _deliver(kind: str, event_name, data, room, skip_sid) -> None:
    server = socketio.server
    if server is None:
        return
    if kind == "emit":
        socketio.emit(event_name, data, to=room, skip_sid=skip_sid)
        return
    if kind == "close_room":
        socketio.close_room(room)
        return
    if kind in ("enter_room", "leave_room"):
        # A socket of another process is reached through the message queue; without one, a socket that is not here
        # is gone.
        if isinstance(server.manager, PubSubManager) or server.manager.is_connected(data, "/"):
            (server.enter_room if kind == "enter_room" else server.leave_room)(data, room, namespace="/")
        return
    sids = data if kind == "disconnect" else [sid for sid, _eio in server.manager.get_participants("/", room)]
    # The disconnect handler runs right here, inside the committing session's after_commit, where that session
    # can emit no SQL: a failing handler stops python-socketio before it takes the socket out of its rooms, and
    # the ejected socket would go on hearing them. A fresh app context gives the handler a session of its own.
    with current_app.app_context():
        for sid in sids:
            server.disconnect(sid, namespace="/")


@event.listens_for(Session, "after_commit")
def _send_pushes(session: Session) -> None:
    if not ends_the_transaction(session):
        return
    for item in session.info.pop(PUSH_KEY, []):
        try:
            _deliver(*item)
        except Exception:  # a push is only a notification: never let it fail the committed work
            current_app.logger.warning("push %s to %s not delivered", item[1] or item[0], item[3], exc_info=True)


@event.listens_for(Session, "after_rollback")
def _drop_pushes(session: Session) -> None:
    if ends_the_transaction(session):
        session.info.pop(PUSH_KEY, None)
