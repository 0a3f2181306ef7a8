"""Measures over time: a facilitator's schedule of a questionnaire for a member or a whole group, each window in which
one is due (with its answers as they are saved, part way or complete), and a member's own pause."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.extensions import db
from app.groups.models import SessionOccurrence, TherapyGroup
from app.measures.instruments import Instrument
from app.models_base import UTCDateTime, string_enum, utcnow


class Frequency(enum.StrEnum):
    ONCE = "once"
    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"
    BEFORE_SESSION = "before_session"  # due from 48 hours before each of the group's sessions until it starts


class MeasureStatus(enum.StrEnum):
    DUE = "due"  # open, nothing or part of it answered
    DONE = "done"
    MISSED = "missed"  # the window ended undone (written by the sweep; reads treat an ended due window alike)
    WITHDRAWN = "withdrawn"  # its schedule was stopped or its session cancelled before it was done


class MeasureSchedule(db.Model):
    """What a facilitator asked for: one instrument, how often, for one member of the group or (patient_id None) for
    every active member."""

    __tablename__ = "measure_schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"), index=True)
    #: None: every active member of the group, as they come and go.
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    instrument: Mapped[Instrument] = mapped_column(string_enum(Instrument, "measure_instrument"))
    frequency: Mapped[Frequency] = mapped_column(string_enum(Frequency, "measure_frequency"))
    #: The first window opens here (UTC); later ones follow at the frequency, in the group's zone for months.
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Set when a facilitator stops the schedule: no new window opens, an open one is withdrawn.
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    group: Mapped[TherapyGroup] = relationship()
    patient: Mapped[User | None] = relationship(foreign_keys=[patient_id])


class Measure(db.Model):
    """One questionnaire due to one member in one window: its answers as saved, and once done its score. The row is
    the record; a retried submission finds it done and changes nothing."""

    __tablename__ = "measure"
    __table_args__ = (UniqueConstraint("schedule_id", "patient_id", "opens_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("measure_schedule.id", ondelete="CASCADE"), index=True)
    #: The session a "before each session" window leads up to.
    occurrence_id: Mapped[int | None] = mapped_column(ForeignKey("session_occurrence.id", ondelete="SET NULL"))
    instrument: Mapped[Instrument] = mapped_column(string_enum(Instrument, "measure_instrument"))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[MeasureStatus] = mapped_column(string_enum(MeasureStatus, "measure_status"),
                                                  default=MeasureStatus.DUE, index=True)
    #: One entry per item, None where not answered yet (a measure can be saved part way).
    answers: Mapped[list] = mapped_column(JSON, default=list)
    #: The unscored last question (0 not difficult at all .. 3 extremely difficult), if answered.
    difficulty: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: Set once item 9's safety alert is raised for this measure, so a resubmission raises none.
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("safety_alert.id", ondelete="SET NULL"))
    #: sha256 of the single-use sign-in-free link (the link itself is never stored).
    link_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    link_revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patient: Mapped[User] = relationship(foreign_keys=[patient_id])
    group: Mapped[TherapyGroup] = relationship()
    schedule: Mapped[MeasureSchedule] = relationship()
    occurrence: Mapped[SessionOccurrence | None] = relationship()

    def is_open(self, now: datetime) -> bool:
        return self.status == MeasureStatus.DUE and self.opens_at <= now < self.closes_at


class MeasurePause(db.Model):
    """A member paused their own measures: no window opens for them until they lift it."""

    __tablename__ = "measure_pause"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
