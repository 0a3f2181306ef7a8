"""The pair's live chat: a message is stored once per client id, its author can delete it (its words go at once and it
disappears for both), each member's read state, and the history a client reads again after a reconnect. Writes flush
and audit; the socket event or the request commits, and the pushes leave after that commit (app/realtime/push.py)."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from app import audit, policy
from app.accounts.models import User
from app.extensions import db
from app.groups.models import Membership
from app.input_checks import CONTROLS_IN_TEXT, UNPAIRED_SURROGATE
from app.models_base import utcnow
from app.peers.models import MESSAGE_MAX, PeerMessage, PeerPair
from app.peers.risk import check_risk
from app.peers.services import peer_pair_room, raise_risk_alert
from app.realtime.push import queue_enter_room, queue_push
from app.refusal import Refusal

#: What a client may use as a message's idempotency key.
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
#: How many of the latest messages a page, a resync or the API shows.
HISTORY_SIZE = 100


class ChatRefusal(Refusal):
    """A chat rule said no: the pair is not active (409), or a message could not be read (422)."""

    conflicts = Refusal.conflicts | {"pair_not_active"}


def pair_chat_room(pair_id: int) -> str:
    """The pair's live room, shared with its space (closed, on every process, when the pair ends or a member blocks
    the other: nothing more of the chat reaches either member)."""
    return peer_pair_room(pair_id)


def load_chat_pair(user: User, pair_id: int) -> PeerPair:
    """The pair, for one of its members while it is active. Anyone else finds nothing (404), whether the pair exists
    or not; a member of a paused or ended pair is told the chat is closed."""
    pair = db.session.scalar(select(PeerPair).where(PeerPair.id == pair_id,
                                                    PeerPair.organisation_id == user.organisation_id))
    if not policy.is_pair_member(user, pair):
        policy.hidden(PeerPair, pair_id)
    if not policy.can_chat_in_pair(user, pair):
        raise ChatRefusal(_("The chat is closed while the pair is paused or has ended."), code="pair_not_active")
    return pair


def enter_chat(pair: PeerPair, sid: str) -> None:
    """Put a socket in the pair's chat room once the transaction commits (a refused join enters nothing)."""
    queue_enter_room(sid, pair_chat_room(pair.id))


# Reading ------------------------------------------------------------------------------------------------------------


def author_names(pair: PeerPair) -> dict[int, str]:
    """Each member by the name their group knows them by."""
    ids = [member.user_id for member in pair.members]
    names = {member.user_id: member.user.display_name for member in pair.members}
    names.update({m.user_id: m.shown_name for m in db.session.scalars(
        select(Membership).where(Membership.group_id == pair.group_id, Membership.user_id.in_(ids)))})
    return names


def message_payload(message: PeerMessage, names: dict[int, str]) -> dict:
    """A message as both members see it; a deleted one keeps only that it was deleted."""
    payload = {"id": message.id, "pair_id": message.pair_id, "author_id": message.author_id,
               "author_name": names.get(message.author_id, ""), "client_id": message.client_id,
               "created_at": message.created_at.isoformat(), "deleted": message.deleted_at is not None}
    payload["body"] = "" if payload["deleted"] else message.body
    return payload


def latest_messages(pair: PeerPair, limit: int = HISTORY_SIZE) -> list[PeerMessage]:
    """The pair's latest messages that are not deleted, oldest first."""
    rows = db.session.scalars(select(PeerMessage).where(PeerMessage.pair_id == pair.id,
                                                        PeerMessage.deleted_at.is_(None))
                              .order_by(PeerMessage.id.desc()).limit(limit))
    return list(reversed(list(rows)))


def read_state(pair: PeerPair, viewer: User) -> dict:
    """The newest message each of the two has read: the viewer's own, and the peer's (to show "seen")."""
    me, peer = pair.member(viewer.id), pair.other(viewer.id)
    return {"mine": me.last_read_message_id if me else None, "peer": peer.last_read_message_id if peer else None}


def history(pair: PeerPair, viewer: User) -> dict:
    """The chat as the database has it: what a page shows, and what a client reads again after a reconnect."""
    names = author_names(pair)
    return {"pair_id": pair.id, "me": viewer.id, "messages": [message_payload(m, names) for m in latest_messages(pair)],
            "read": read_state(pair, viewer)}


def message_in_pair(pair: PeerPair, message_id: int) -> PeerMessage | None:
    return db.session.scalar(select(PeerMessage).where(PeerMessage.id == message_id, PeerMessage.pair_id == pair.id))


# Writing ------------------------------------------------------------------------------------------------------------


def _validate(body, client_id) -> str:
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise ChatRefusal(_("This message could not be read. Please try again."), field="client_id",
                          code="invalid_client_id")
    if not isinstance(body, str):
        raise ChatRefusal(_("Write a message first."), field="body", code="invalid_body")
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise ChatRefusal(_("Write a message first."), field="body", code="invalid_body")
    if len(body) > MESSAGE_MAX:
        raise ChatRefusal(_("Keep a message to %(n)d characters.", n=MESSAGE_MAX), field="body", code="too_long")
    if CONTROLS_IN_TEXT.search(body) or UNPAIRED_SURROGATE.search(body):
        raise ChatRefusal(_("This field contains a character that is not allowed."), field="body",
                          code="invalid_body")
    return body


def _insert_once(**values) -> PeerMessage | None:
    """The new message, or None when its author already used the key: one INSERT ... ON CONFLICT DO NOTHING."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (insert(PeerMessage).values(**values)
                 .on_conflict_do_nothing(index_elements=[PeerMessage.author_id, PeerMessage.client_id])
                 .returning(PeerMessage))
    return db.session.scalars(statement).first()


def send_message(user: User, pair: PeerPair, body, client_id) -> tuple[PeerMessage, bool, bool]:
    """Store a message once per client id (a retry answers with the stored one) and push it to the pair.

    Returns (message, created, risk): `risk` when the words match the organisation's risk phrases, so that the writer
    is shown the crisis resources (the message is sent all the same)."""
    body = _validate(body, client_id)
    message = _insert_once(pair_id=pair.id, author_id=user.id, body=body, client_id=client_id, created_at=utcnow())
    if message is None:
        stored = db.session.scalar(select(PeerMessage).where(PeerMessage.author_id == user.id,
                                                             PeerMessage.client_id == client_id))
        if stored is None or stored.pair_id != pair.id:
            raise ChatRefusal(_("This message could not be read. Please try again."), field="client_id",
                              code="invalid_client_id")
        # A retry may answer a client whose first acknowledgement was lost: it learns again where help is (the
        # facilitators were alerted the first time).
        return stored, False, check_risk(user.organisation, stored.body)
    audit.record("peer_message", actor=user, subject=user, target=f"pair:{pair.id}",
                 details={"message_id": message.id})
    pair.member(user.id).last_read_message_id = message.id  # one's own message is read
    db.session.flush()
    queue_push("pair_message", message_payload(message, author_names(pair)), pair_chat_room(pair.id))
    return message, True, _after_message(user, pair, message)


def _after_message(user: User, pair: PeerPair, message: PeerMessage) -> bool:
    """What follows a new message besides its push: words matching the organisation's risk phrases alert the group's
    facilitators (with this message only) and answer that the writer is shown the crisis resources."""
    risky = check_risk(user.organisation, message.body)
    if risky:
        raise_risk_alert(user, pair, message_ids=[message.id])
    return risky


def delete_message(user: User, pair: PeerPair, message_id: int) -> PeerMessage:
    """The author deletes their message: its words are removed from the database at once, the row stays as
    "deleted", and both members' open pages drop it. Deleting it again changes nothing."""
    message = message_in_pair(pair, message_id)
    if message is None or message.author_id != user.id:
        policy.hidden(PeerMessage, message_id)
    if message.deleted_at is None:
        message.body = ""
        message.deleted_at = utcnow()
        db.session.flush()
        audit.record("peer_message_delete", actor=user, subject=user, target=f"pair:{pair.id}",
                     details={"message_id": message.id})
        queue_push("pair_message_deleted", {"pair_id": pair.id, "id": message.id}, pair_chat_room(pair.id))
    return message


def mark_read(user: User, pair: PeerPair, message_id) -> int | None:
    """The member has read up to this message (never back, never past the pair's newest); the peer is told."""
    if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id < 1:
        raise ChatRefusal(_("This could not be read. Please try again."), field="message_id", code="invalid")
    newest = db.session.scalar(select(func.max(PeerMessage.id)).where(PeerMessage.pair_id == pair.id))
    member = pair.member(user.id)
    wanted = min(message_id, newest or 0)
    if wanted and wanted > (member.last_read_message_id or 0):
        member.last_read_message_id = wanted
        db.session.flush()
        queue_push("pair_read", {"pair_id": pair.id, "user_id": user.id, "last_read_message_id": wanted},
                   pair_chat_room(pair.id))
    return member.last_read_message_id


def typing(user: User, pair: PeerPair, is_typing, sid: str) -> bool:
    """Tell the peer that this member is typing (or stopped): a push only, nothing is stored."""
    if not isinstance(is_typing, bool):
        raise ChatRefusal(_("This could not be read. Please try again."), field="typing", code="invalid")
    queue_push("pair_typing", {"pair_id": pair.id, "user_id": user.id, "typing": is_typing},
               pair_chat_room(pair.id), skip_sid=sid)
    return is_typing
