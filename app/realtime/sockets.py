"""Socket.IO plumbing shared by every domain: authentication on connect, re-checked on every event, one commit per
event, and the register of open sockets.

Rooms: ``user:<id>`` for every socket of an account. Every open socket also has a row in ``live_socket`` (written on
connect, removed on disconnect), so that ending a login, deactivating an account or removing someone from a group can
drop the account's sockets on whichever app process holds them: with a message queue, a disconnect addressed to a
socket of another process travels through it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app, g, request, session
from flask_babel import gettext as _
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, disconnect, join_room
from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import Forbidden, NotFound, SecurityError

from app import audit, signals
from app.accounts import second_factor
from app.accounts import services as account_services  # accounts.services imports this module: a module import
from app.api_base import MAX_ID
from app.extensions import db, socketio
from app.models_base import UTCDateTime, utcnow
from app.realtime.push import queue_disconnect, queue_disconnect_room
from app.refusal import REFUSED_PEOPLE, Refusal

SOCKET_TOKEN_KEY = "socket_api_token"


def payload_id(payload: dict, key: str) -> int:
    """A database id from an event's payload: a positive integer a database column can hold, or a refusal."""
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Refusal(_("%(key)s must be a positive integer.", key=key), field=key)
    return value


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


class LiveSocket(db.Model):
    """An open Socket.IO connection of an account, on any app process."""

    __tablename__ = "live_socket"

    #: Socket.IO's id of the connection (unique across processes).
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def account_sids(user_id: int) -> list[str]:
    """Every open socket of an account, on every app process."""
    return list(db.session.scalars(select(LiveSocket.sid).where(LiveSocket.user_id == user_id)))


def _longest_credential(config) -> timedelta:
    """No socket outlives the login or token it was opened with by more than this (it fails its next event)."""
    return max(timedelta(hours=config["SESSION_MAX_HOURS"]), timedelta(days=config["API_TOKEN_DAYS"]))


def socket_user(*, activity: bool = True):
    """The account behind this socket, checked again now: None if its login or token has ended.

    `activity=False` for what a client sends by itself (a heartbeat, a periodic sync): it must not keep an idle login
    alive, or an open tab would never be logged off (SECURITY.md 7).
    """
    raw = session.get(SOCKET_TOKEN_KEY)
    if raw:
        return account_services.load_api_token(raw)
    # Flask-Login caches the user in `g` for as long as the app context lives; look at the login as it is now.
    g.pop("_login_user", None)
    if not activity:
        user = account_services.load_login_session(session.get("_user_id"), touch=False)
        if user is None or not user.is_active:
            return None
        g._login_user = user  # what current_user answers for the rest of the event, without touching the login
        return user
    user = current_user._get_current_object()
    return user if user.is_authenticated and user.is_active else None


def on_connect(auth):
    if isinstance(request.routing_exception, SecurityError):
        raise ConnectionRefusedError("untrusted_host")  # the Host header names a host not in TRUSTED_HOSTS
    token = auth.get("token") if isinstance(auth, dict) else None
    if token:
        # JSON can send a number or a list
        user = account_services.load_api_token(token) if isinstance(token, str) else None
        if user is not None:
            session[SOCKET_TOKEN_KEY] = token
    else:
        session.pop(SOCKET_TOKEN_KEY, None)
        user = socket_user()
    if user is None:
        db.session.rollback()
        audit.record("socket_denied", target="connect", outcome="denied")
        db.session.commit()
        raise ConnectionRefusedError("unauthorized")
    # Staff whose organisation asks for a second factor set one up first, as on every page.
    if second_factor.must_enrol(user):
        raise ConnectionRefusedError("second_factor_required")
    # Rows of sockets that died with their process are never removed by a disconnect; past any credential's lifetime
    # they can only be dead.
    db.session.execute(delete(LiveSocket).where(
        LiveSocket.user_id == user.id, LiveSocket.opened_at < utcnow() - _longest_credential(current_app.config)))
    db.session.merge(LiveSocket(sid=request.sid, user_id=user.id))
    join_room(user_room(user.id))
    db.session.commit()
    return True


def on_disconnect(*_reason):
    sid = request.sid
    try:
        signals.socket_closed.send(sid=sid)
        db.session.execute(delete(LiveSocket).where(LiveSocket.sid == sid))
        db.session.commit()
    except Exception:  # the socket is gone either way; what it left behind expires (presence by its timeout)
        db.session.rollback()
        current_app.logger.warning("cleaning up after socket %s failed", sid, exc_info=True)


def socket_event(handler: Callable, *, automatic: bool = False) -> Callable:
    """Re-authenticate, run the handler, commit, then acknowledge; a failure rolls back and says so.

    An ended login or a deactivated account is disconnected on its next event. An `automatic` event (one a client
    sends by itself, on a timer or a reconnect) does not count as activity for the idle timeout.
    """

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        user = socket_user(activity=not automatic)
        if user is None:
            db.session.rollback()
            audit.record("socket_denied", target=handler.__name__, outcome="denied")
            db.session.commit()
            disconnect()
            return {"ok": False, "error": "unauthorized"}
        try:
            result = handler(user, *args, **kwargs)
            db.session.commit()
        except (Forbidden, NotFound) as error:
            db.session.rollback()
            audit.record("socket_denied", actor=user, target=handler.__name__, outcome="denied",
                         subject=getattr(error, "subject_id", None), consent_id=getattr(error, "consent_id", None))
            db.session.commit()
            return {"ok": False, "error": "forbidden" if isinstance(error, Forbidden) else "not_found"}
        except Refusal as error:
            # A refusal by a domain rule: its code for clients, its message (translated) for people.
            db.session.rollback()
            answer = {"ok": False, "error": error.code}
            if error.code in REFUSED_PEOPLE:  # recorded as a denial
                audit.record("socket_denied", actor=user, target=handler.__name__, outcome="denied",
                             details={"error": error.code})
                db.session.commit()
            if error.message:
                answer["message"] = error.message
            return {**answer, **error.details}
        except Exception:
            # A fault, not a refusal: nothing of it is kept, the log has it, and the client keeps what it sent and
            # tries again (a check-in is never lost to a bug on this side).
            db.session.rollback()
            current_app.logger.exception("socket event %s failed", handler.__name__)
            return {"ok": False, "error": "server_error"}
        return {"ok": True, **(result or {})}

    return wrapper


def disconnect_user(user_id: int) -> None:
    """Drop every socket of an account, on every app process, once the transaction commits (before then a
    reconnecting client would still find the login valid, and a rollback must leave them be)."""
    queue_disconnect(account_sids(user_id))
    queue_disconnect_room(user_room(user_id))  # and any socket of this process whose row went missing


#: Every domain event, by name: bound to each new Socket.IO server in register_socket_handlers.
EVENTS: dict[str, Callable] = {}


def event(name: str, *, automatic: bool = False):
    """Declare a socket event: re-authenticated, committed and acknowledged by socket_event; the handler receives
    (user, payload) with payload always a dict (what is not an object counts as an empty one). An event takes one
    argument at most: more are refused. `automatic`: see socket_event."""

    def decorator(handler):
        @functools.wraps(handler)
        def with_payload(user, *arguments):
            if len(arguments) > 1:
                raise Refusal(_("This event takes one object at most."))
            payload = arguments[0] if arguments else None
            return handler(user, payload if isinstance(payload, dict) else {})

        EVENTS[name] = socket_event(with_payload, automatic=automatic)
        return handler

    return decorator


def register_socket_handlers() -> None:
    socketio.on_event("connect", on_connect)
    socketio.on_event("disconnect", on_disconnect)
    for name, handler in EVENTS.items():
        socketio.on_event(name, handler)


@event("whoami")
def whoami(user, _payload):
    role = user.role.value if user.role else None
    return {"user": {"id": user.id, "display_name": user.display_name, "role": role}}
