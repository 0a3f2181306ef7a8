"""The live room of a session (its round, speakers, raised hands and presence), check-ins in the room and between
sessions, and the safety alerts they raise."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.extensions import db
from app.groups.models import SessionOccurrence, TherapyGroup
from app.models_base import UTCDateTime, string_enum, utcnow

#: A few words of what a facilitator did about a safety alert ("Called Alex, who is safe with family tonight").
ALERT_NOTE_MAX = 280


class Energy(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class AlertKind(enum.StrEnum):
    NEED_SUPPORT = "need_support"  # the member pressed "I need support now"
    LOW_MOOD = "low_mood"  # a check-in mood at or below the group's threshold
    PHQ9_ITEM9 = "phq9_item9"  # any answer other than 0 on PHQ-9 item 9
    PEER_WORRY = "peer_worry"  # a member is worried about their peer (the patient is the peer)
    PEER_CONCERN = "peer_concern"  # a member reported something their peer wrote (the patient is the peer)
    PEER_RISK = "peer_risk"  # a peer check-in or message matched the risk phrases (the patient is the writer)


class LiveRoom(db.Model):
    """The live room of one session: open or closed, the check-in round, the speaker order and raised hands."""

    __tablename__ = "live_room"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("session_occurrence.id", ondelete="CASCADE"), unique=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: 0 before the first round; each "start a check-in round" adds one.
    round_number: Mapped[int] = mapped_column(Integer, default=0)
    #: User ids in speaking order for the current round.
    speaker_order: Mapped[list] = mapped_column(JSON, default=list)
    #: Index into speaker_order of who speaks now; None when nobody is called.
    speaker_index: Mapped[int | None] = mapped_column(Integer)
    #: User ids who were skipped this round.
    skipped: Mapped[list] = mapped_column(JSON, default=list)
    #: Raised hands, in the order they went up.
    hands: Mapped[list] = mapped_column(JSON, default=list)
    #: Members marked as having left early.
    left_early: Mapped[list] = mapped_column(JSON, default=list)
    #: Bumped on every change, so clients can tell a stale state from a fresh one.
    version: Mapped[int] = mapped_column(Integer, default=0)

    occurrence: Mapped[SessionOccurrence] = relationship()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None and self.closed_at is None

    @property
    def current_speaker_id(self) -> int | None:
        if self.speaker_index is None or self.speaker_index >= len(self.speaker_order or []):
            return None
        return self.speaker_order[self.speaker_index]


class RoomPresence(db.Model):
    """Who is in a live room now: one row per connected socket, shared by every app process."""

    __tablename__ = "room_presence"
    __table_args__ = (UniqueConstraint("room_id", "sid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("live_room.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    sid: Mapped[str] = mapped_column(String(64))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Refreshed by the client's heartbeat; a row older than the presence timeout counts as gone.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CheckIn(db.Model):
    """One check-in, live in a session or between sessions. Rows are never edited: an update is a new row."""

    __tablename__ = "checkin"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: The session it was given in; None between sessions.
    occurrence_id: Mapped[int | None] = mapped_column(ForeignKey("session_occurrence.id", ondelete="CASCADE"),
                                                      index=True)
    #: 0 (lowest) to 10 (best); None when passed.
    mood: Mapped[int | None] = mapped_column(Integer)
    energy: Mapped[Energy | None] = mapped_column(string_enum(Energy, "energy"))
    note: Mapped[str] = mapped_column(String(280), default="")
    #: "Pass", with no questions asked.
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The client's idempotency key: a retried check-in is stored once.
    client_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    user: Mapped[User] = relationship()


class SafetyAlert(db.Model):
    """A distress signal for the patient's facilitators only; open until a facilitator acknowledges it."""

    __tablename__ = "safety_alert"
    __table_args__ = (UniqueConstraint("patient_id", "group_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    occurrence_id: Mapped[int | None] = mapped_column(ForeignKey("session_occurrence.id", ondelete="SET NULL"))
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkin.id", ondelete="SET NULL"))
    kind: Mapped[AlertKind] = mapped_column(string_enum(AlertKind, "alert_kind"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    #: What the facilitator did, in a few words: for the group's facilitators only, never the member or supporters.
    note: Mapped[str] = mapped_column(String(ALERT_NOTE_MAX), default="", server_default="")
    #: The client's idempotency key of an "I need support now" press: a retried press raises no second alert.
    client_id: Mapped[str | None] = mapped_column(String(64))

    patient: Mapped[User] = relationship(foreign_keys=[patient_id])
    group: Mapped[TherapyGroup] = relationship()
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
