"""The append-only audit trail: who did what to whose data, when, with what outcome, chained by an HMAC."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, has_request_context, request
from sqlalchemy import ForeignKey, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models_base import UTCDateTime, utcnow

GENESIS = "0" * 64


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
    """The single row that serialises appends: updating it takes a write lock until the transaction commits."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)


def escape_field(value: str) -> str:
    """Escape CR and LF so that a logged field cannot forge a line of its own (log injection)."""
    return value.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def _key() -> bytes:
    key = current_app.config.get("AUDIT_KEY") or current_app.config["SECRET_KEY"]
    return key.encode()


def _digest(event: AuditEvent) -> str:
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
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


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
    ip = (request.remote_addr or "") if has_request_context() else ""
    head = db.session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(last_seq=AuditHead.last_seq + 1)
        .returning(AuditHead.last_seq, AuditHead.last_hash)
    ).one_or_none()
    if head is None:
        db.session.add(AuditHead(id=1, last_seq=1, last_hash=GENESIS))
        db.session.flush()
        seq, prev = 1, GENESIS
    else:
        seq, prev = head
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
    db.session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=event.hash))
    db.session.flush()
    return event


@dataclass
class VerifyResult:
    checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify() -> VerifyResult:
    """Walk the chain from the first row: an edited row breaks its HMAC, a deleted one leaves a gap or a stale head."""
    problems: list[str] = []
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for event in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).yield_per(500):
        checked += 1
        if event.seq != expected_seq:
            problems.append(f"row(s) missing before seq {event.seq} (expected {expected_seq})")
        if event.prev_hash != expected_prev:
            problems.append(f"seq {event.seq}: does not follow the previous row")
        if not hmac.compare_digest(event.hash, _digest(event)):
            problems.append(f"seq {event.seq}: content does not match its hash (edited)")
        expected_prev, expected_seq = event.hash, event.seq + 1
    head = db.session.get(AuditHead, 1)
    if head is not None and (head.last_seq != expected_seq - 1 or head.last_hash != expected_prev):
        problems.append(f"the chain ends at seq {expected_seq - 1} but the head says {head.last_seq} "
                        "(rows deleted at the end)")
    return VerifyResult(checked=checked, problems=problems)
