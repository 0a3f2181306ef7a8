"""The append-only audit trail: who did what to whose data, when, with what outcome, chained by an HMAC."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, has_app_context, has_request_context, request
from sqlalchemy import ForeignKey, Integer, String, Text, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models_base import UTCDateTime, utcnow

GENESIS = "0" * 64
#: The record a write leaves when it finds the head missing or not carrying its MAC (see _claim_seq).
HEAD_REPAIRED = "audit_head_repaired"


class AuditEvent(db.Model):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Position in the chain, 1, 2, 3, ... without gaps; a gap means a deleted row.
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="SET NULL"))
    #: Whose data the action touched.
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(80), index=True)
    #: What was touched, as "kind:id".
    target: Mapped[str] = mapped_column(String(120), default="")
    #: "success", "failure" or "denied".
    outcome: Mapped[str] = mapped_column(String(20), default="success")
    consent_id: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(db.Model):
    """The single row that serialises appends: updating it takes a write lock until the transaction commits.

    It exists from the moment the database does (seq 0), and carries an HMAC of where the chain ends, so that cutting
    rows off the end, or the whole trail, shows even when the head is rewritten or deleted with them.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
    #: HMAC of (last_seq, last_hash) with the audit key.
    mac: Mapped[str] = mapped_column(String(64), default="")


def escape_field(value: str) -> str:
    """Escape CR and LF so that a logged field cannot forge a line of its own (log injection)."""
    return value.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def _key() -> bytes:
    key = current_app.config.get("AUDIT_KEY") or current_app.config["SECRET_KEY"]
    return key.encode()


def _digest(event: AuditEvent, key: bytes | None = None) -> str:
    """The row's HMAC; `event` may be a model or a plain row with the same columns."""
    fields = [
        str(event.seq),
        event.occurred_at.isoformat(),
        str(event.actor_id or ""),
        str(event.organisation_id or ""),
        str(event.subject_id or ""),
        event.action,
        event.target,
        event.outcome,
        str(event.consent_id or ""),
        event.ip,
        event.details,
        event.prev_hash,
    ]
    message = "\x1f".join(fields).encode()
    return hmac.digest(key or _key(), message, hashlib.sha256).hex()


def head_mac(last_seq: int, last_hash: str) -> str:
    message = "\x1f".join(("audit_head", str(last_seq), last_hash)).encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def _head_is_genuine(last_seq: int, last_hash: str, mac: str) -> bool:
    return hmac.compare_digest(mac or "", head_mac(last_seq, last_hash))


def start_trail(connection=None) -> None:
    """Write the head of an empty trail: every new database starts with it (the schema's creation and the migration
    that added the MAC write it), so that a trail deleted together with its head does not pass for a new one."""
    statement = insert(AuditHead.__table__).values(id=1, last_seq=0, last_hash=GENESIS, mac=head_mac(0, GENESIS))
    if connection is None:
        db.session.execute(statement)
        db.session.flush()
    else:
        connection.execute(statement)


@sa_event.listens_for(AuditHead.__table__, "after_create")
def _start_trail_with_the_schema(_table, connection, **_kw) -> None:
    if has_app_context():  # the key is the app's; a schema made without an app gets its head on the first write
        start_trail(connection)


def _advance_head():
    return db.session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(last_seq=AuditHead.last_seq + 1)
        .returning(AuditHead.last_seq, AuditHead.last_hash, AuditHead.mac)
    ).one_or_none()


def _claim_seq() -> tuple[int, str]:
    """The next position in the chain and the hash it follows, with the head locked until this transaction ends.

    A head that is missing or does not carry its MAC was written without the key. Refusing to record would turn every
    sign-in into a server error, so the chain goes on from its last stored row, and the first record written is one
    that says what was found: `flask audit verify` reports it from then on.
    """
    head = _advance_head()
    if head is not None and _head_is_genuine(head.last_seq - 1, head.last_hash, head.mac):
        return head.last_seq, head.last_hash
    last = db.session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
                              ).one_or_none()
    last_seq, last_hash = (last.seq, last.hash) if last is not None else (0, GENESIS)
    if head is None:
        found = {"head": "missing"}
        try:
            with db.session.begin_nested():
                db.session.execute(insert(AuditHead).values(id=1, last_seq=last_seq, last_hash=last_hash,
                                                            mac=head_mac(last_seq, last_hash)))
        except IntegrityError:
            found = None  # another writer put it back (and recorded so) a moment ago
    else:
        found = {"head": "not signed", "head_seq": head.last_seq - 1}
        db.session.execute(update(AuditHead).where(AuditHead.id == 1).values(
            last_seq=last_seq, last_hash=last_hash, mac=head_mac(last_seq, last_hash)))
    if found is not None:
        _append(HEAD_REPAIRED, outcome="failure", details={**found, "last_stored_seq": last_seq})
    head = _advance_head()
    return head.last_seq, head.last_hash


def record(
    action: str,
    *,
    actor=None,
    subject=None,
    target: str = "",
    outcome: str = "success",
    organisation_id: int | None = None,
    consent_id: int | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """Append one event to the trail in the current transaction; it is committed with the work it describes."""
    actor_id = getattr(actor, "id", actor)
    subject_id = getattr(subject, "id", subject)
    if organisation_id is None and actor is not None and hasattr(actor, "organisation_id"):
        organisation_id = actor.organisation_id
    return _append(action, actor_id=actor_id, subject_id=subject_id, target=target, outcome=outcome,
                   organisation_id=organisation_id, consent_id=consent_id, details=details)


def _append(action: str, *, actor_id: int | None = None, subject_id: int | None = None, target: str = "",
            outcome: str = "success", organisation_id: int | None = None, consent_id: int | None = None,
            details: dict | None = None) -> AuditEvent:
    ip = (request.remote_addr or "") if has_request_context() else ""
    seq, prev = _claim_seq()
    event = AuditEvent(
        seq=seq,
        occurred_at=utcnow(),
        actor_id=actor_id,
        organisation_id=organisation_id,
        subject_id=subject_id,
        action=escape_field(action),
        target=escape_field(target),
        outcome=escape_field(outcome),
        consent_id=consent_id,
        ip=escape_field(ip),
        details=escape_field(json.dumps(details or {}, sort_keys=True, default=str)),
        prev_hash=prev,
    )
    event.hash = _digest(event)
    db.session.add(event)
    db.session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=event.hash,
                                                                         mac=head_mac(seq, event.hash)))
    db.session.flush()
    return event


@dataclass
class VerifyResult:
    checked: int
    problems: list[str]
    #: The first position in the chain where something is wrong: an edited row, the first of missing ones, the head put
    #: back, or the position after the last row when the end was cut off or the head is not genuine. None when it holds.
    first_bad_seq: int | None = None
    #: The last row that holds, with everything before it (the chain's last row when nothing is wrong).
    last_good_seq: int = 0
    last_good_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify() -> VerifyResult:
    """Walk the chain from the first row: an edited row breaks its HMAC, a deleted one leaves a gap or a head that
    does not match the end; a head rewritten or deleted without the key shows by its MAC, or by its absence.

    The rows are read as plain tuples, not ORM objects: five times faster on a long trail (the admin's audit page
    runs this on every load)."""
    result = VerifyResult(checked=0, problems=[])
    expected_prev, expected_seq, key = GENESIS, 1, _key()

    def problem(seq: int, text: str) -> None:
        result.problems.append(text)
        if result.first_bad_seq is None:
            result.first_bad_seq = seq

    rows = db.session.execute(select(AuditEvent.__table__).order_by(AuditEvent.seq),
                              execution_options={"yield_per": 1000})
    for event in rows:
        result.checked += 1
        if event.seq != expected_seq:
            problem(expected_seq, f"row(s) missing before seq {event.seq} (expected {expected_seq})")
        if event.prev_hash != expected_prev:
            problem(event.seq, f"seq {event.seq}: does not follow the previous row")
        if not hmac.compare_digest(event.hash, _digest(event, key)):
            problem(event.seq, f"seq {event.seq}: content does not match its hash (edited)")
        elif event.action == HEAD_REPAIRED:
            problem(event.seq, f"seq {event.seq}: the head was put back at the last stored row {event.details} "
                               "(the trail was changed without the key)")
        if result.first_bad_seq is None:
            result.last_good_seq, result.last_good_at = event.seq, event.occurred_at
        expected_prev, expected_seq = event.hash, event.seq + 1
    end = expected_seq - 1
    head = db.session.get(AuditHead, 1)
    if head is None:
        problem(expected_seq, f"the head is missing (deleted): {result.checked} rows are left, and rows at the end "
                              "may be gone")
    elif not _head_is_genuine(head.last_seq, head.last_hash, head.mac):
        problem(expected_seq, f"the head does not carry its HMAC (rewritten without the key): it says seq "
                              f"{head.last_seq}, the chain ends at seq {end}")
    elif head.last_seq != end or head.last_hash != expected_prev:
        problem(expected_seq, f"the chain ends at seq {end} but the head says {head.last_seq} "
                              "(rows deleted at the end)")
    return result
