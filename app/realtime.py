"""Socket.IO plumbing shared by every domain: authentication on connect, re-checked on every event, one commit per
event.

Rooms: ``user:<id>`` for every socket of an account, so that ending a login or deactivating an account can drop them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import current_app, g, session
from flask_babel import gettext as _
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, disconnect, join_room
from werkzeug.exceptions import Forbidden, NotFound

from app import audit
from app.extensions import db, socketio

SOCKET_TOKEN_KEY = "socket_api_token"
#: Refusal codes that refuse the person (recorded as denials), as opposed to the state of a room or bad input.
DENIAL_CODES = frozenset({"unauthorized", "forbidden", "not_found", "access_ended"})


class Refusal(ValueError):
    """A socket event refused by a domain rule: `code` for clients, `message` for people."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(code)
        self.code = code
        self.message = message


def payload_id(payload: dict, key: str) -> int:
    """A database id from an event's payload: a positive integer a database column can hold, or a refusal."""
    from app.api_base import MAX_ID

    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Refusal("invalid", _("%(key)s must be a positive integer.", key=key))
    return value


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def socket_user():
    """The account behind this socket, checked again now: None if its login or token has ended."""
    from app.accounts.services import load_api_token

    raw = session.get(SOCKET_TOKEN_KEY)
    if raw:
        return load_api_token(raw)
    # Flask-Login caches the user in `g` for as long as the app context lives; look at the login as it is now.
    g.pop("_login_user", None)
    user = current_user._get_current_object()
    return user if user.is_authenticated and user.is_active else None


def on_connect(auth):
    from app.accounts.services import load_api_token

    token = auth.get("token") if isinstance(auth, dict) else None
    if token:
        user = load_api_token(token) if isinstance(token, str) else None  # JSON can send a number or a list
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
    join_room(user_room(user.id))
    for hook in CONNECT_HOOKS:
        hook(user)
    db.session.commit()
    return True


#: Domains join a new socket to the rooms its account should hear from (a facilitator's alerts, say).
CONNECT_HOOKS: list[Callable] = []


def socket_event(handler: Callable) -> Callable:
    """Re-authenticate, run the handler, commit, then acknowledge; a failure rolls back and says so.

    An ended login or a deactivated account is disconnected on its next event.
    """

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        user = socket_user()
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
        except ValueError as error:
            # A refusal by a domain rule: its code for clients, its message (translated) for people.
            db.session.rollback()
            answer = {"ok": False, "error": getattr(error, "code", None) or str(error) or "invalid"}
            if answer["error"] in DENIAL_CODES:
                audit.record("socket_denied", actor=user, target=handler.__name__, outcome="denied",
                             details={"error": answer["error"]})
                db.session.commit()
            if getattr(error, "message", None):
                answer["message"] = error.message
            return answer
        except Exception:
            db.session.rollback()
            current_app.logger.exception("socket event %s failed", handler.__name__)
            return {"ok": False, "error": "server_error"}
        return {"ok": True, **(result or {})}

    return wrapper


def disconnect_user(user_id: int) -> None:
    """Drop every socket of an account connected to this process, once the transaction commits (before then a
    reconnecting client would still find the login valid, and a rollback must leave them be). Sockets on other
    processes fail their next event's check."""
    from app.push import queue_disconnect_room

    queue_disconnect_room(user_room(user_id))


#: Every domain event, by name: bound to each new Socket.IO server in register_socket_handlers.
EVENTS: dict[str, Callable] = {}


def event(name: str):
    """Declare a socket event: re-authenticated, committed and acknowledged by socket_event; the handler receives
    (user, payload) with payload always a dict."""

    def decorator(handler):
        @functools.wraps(handler)
        def with_payload(user, payload=None):
            return handler(user, payload if isinstance(payload, dict) else {})

        EVENTS[name] = socket_event(with_payload)
        return handler

    return decorator


def register_socket_handlers() -> None:
    socketio.on_event("connect", on_connect)
    for name, handler in EVENTS.items():
        socketio.on_event(name, handler)

    @socketio.on("whoami")
    @socket_event
    def whoami(user):
        role = user.role.value if user.role else None
        return {"user": {"id": user.id, "display_name": user.display_name, "role": role}}
