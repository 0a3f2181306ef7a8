"""Goals and small wins: what a patient is working towards, the small steps that got done, and the thoughts of the
supporters they asked."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.extensions import db
from app.models_base import UTCDateTime, string_enum, utcnow

TITLE_MAX = 120
WHY_MAX = 500
STEP_MAX = 200
WIN_MAX = 200
COMMENT_MAX = 500


class GoalStatus(enum.StrEnum):
    ACTIVE = "active"
    DONE = "done"
    SET_ASIDE = "set_aside"  # not now: no failure implied, and it can be picked up again


class Goal(db.Model):
    __tablename__ = "goal"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    #: Why it matters to the patient, in their words.
    why: Mapped[str] = mapped_column(String(WHY_MAX), default="")
    #: The next small step: small enough for a low-energy day.
    next_step: Mapped[str] = mapped_column(String(STEP_MAX), default="")
    status: Mapped[GoalStatus] = mapped_column(string_enum(GoalStatus, "goal_status"), default=GoalStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    patient: Mapped[User] = relationship(foreign_keys=[patient_id])
    wins: Mapped[list[SmallWin]] = relationship(back_populates="goal", order_by="SmallWin.created_at.desc()")
    comments: Mapped[list[GoalComment]] = relationship(back_populates="goal", order_by="GoalComment.created_at",
                                                       cascade="all, delete-orphan")
    commenters: Mapped[list[GoalCommenter]] = relationship(back_populates="goal", order_by="GoalCommenter.id",
                                                           cascade="all, delete-orphan")


class SmallWin(db.Model):
    """Something that got done, however small; on a goal or on its own."""

    __tablename__ = "small_win"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goal.id", ondelete="SET NULL"), index=True)
    text: Mapped[str] = mapped_column(String(WIN_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    goal: Mapped[Goal | None] = relationship(back_populates="wins")


class GoalCommenter(db.Model):
    """A supporter the patient asked for their thoughts on one goal, until the patient stops it."""

    __tablename__ = "goal_commenter"
    __table_args__ = (UniqueConstraint("goal_id", "supporter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goal.id", ondelete="CASCADE"), index=True)
    supporter_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    goal: Mapped[Goal] = relationship(back_populates="commenters")
    supporter: Mapped[User] = relationship(foreign_keys=[supporter_id])


class GoalComment(db.Model):
    __tablename__ = "goal_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goal.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(String(COMMENT_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the patient marked it read on their home page, where it shows until then.
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    goal: Mapped[Goal] = relationship(back_populates="comments")
    author: Mapped[User] = relationship(foreign_keys=[author_id])
