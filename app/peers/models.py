"""Peer pairs and what lives in their space: the two members and their answers, the agreed rhythm, peer check-ins and
reactions, the goals each member shares, messages, concerns reported to the facilitators, and blocks."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.extensions import db
from app.groups.models import TherapyGroup
from app.models_base import UTCDateTime, string_enum, utcnow
from app.progress.models import Goal

#: Each of the three fields of a peer check-in.
CHECKIN_FIELD_MAX = 280
MESSAGE_MAX = 2000
#: "Weekly on Tuesday at 18:30": the time is "HH:MM" in the pair's rhythm zone.
WEEKDAYS = range(7)


class PairStatus(enum.StrEnum):
    PROPOSED = "proposed"  # waiting for both members' answers
    ACTIVE = "active"  # both accepted
    PAUSED = "paused"  # a member paused it; either can resume
    ENDED = "ended"


class EndReason(enum.StrEnum):
    """Why a pair ended: for the facilitators' records only, never shown to the other member."""

    LEFT = "left"  # a member left the pair
    ENDED_BY_FACILITATOR = "ended_by_facilitator"
    BLOCKED = "blocked"
    LEFT_GROUP = "left_group"
    DECLINED = "declined"  # a member declined the proposal


class MemberResponse(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class ReactionKind(enum.StrEnum):
    CELEBRATE = "celebrate"
    THINKING_OF_YOU = "thinking_of_you"


class ConcernKind(enum.StrEnum):
    WORRIED = "worried"  # "I'm worried about my peer"
    CONCERN = "concern"  # "Report a concern" about what the peer wrote
    RISK_PHRASE = "risk_phrase"  # something written matched the organisation's risk phrases (no reporter)


class PeerPair(db.Model):
    """Two members of one group, proposed by one of its facilitators after a recorded suitability check."""

    __tablename__ = "peer_pair"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"), index=True)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: What was checked before the proposal and what each check found, e.g. {"both_active": true, ...}.
    suitability: Mapped[dict] = mapped_column(JSON, default=dict)
    #: Whether every check passed (a proposal is refused otherwise, so a stored pair has True).
    suitable: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[PairStatus] = mapped_column(string_enum(PairStatus, "peer_pair_status"),
                                               default=PairStatus.PROPOSED, index=True)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[EndReason | None] = mapped_column(string_enum(EndReason, "peer_end_reason"))
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    #: The agreed rhythm: weekly on this weekday (0 Monday) at this "HH:MM" in rhythm_zone; None until agreed.
    rhythm_weekday: Mapped[int | None] = mapped_column(Integer)
    rhythm_time: Mapped[str | None] = mapped_column(String(5))
    rhythm_zone: Mapped[str] = mapped_column(String(64), default="UTC")

    group: Mapped[TherapyGroup] = relationship()
    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])
    members: Mapped[list[PeerPairMember]] = relationship(back_populates="pair", cascade="all, delete-orphan",
                                                         order_by="PeerPairMember.id")

    @property
    def is_open(self) -> bool:
        """Active or paused: the space is there."""
        return self.status in (PairStatus.ACTIVE, PairStatus.PAUSED)

    def member(self, user_id: int) -> PeerPairMember | None:
        return next((m for m in self.members if m.user_id == user_id), None)

    def other(self, user_id: int) -> PeerPairMember | None:
        return next((m for m in self.members if m.user_id != user_id), None)


class PeerPairMember(db.Model):
    """One of the two members of a pair: their private answer to the proposal, and whether they paused or left."""

    __tablename__ = "peer_pair_member"
    __table_args__ = (UniqueConstraint("pair_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("peer_pair.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    response: Mapped[MemberResponse] = mapped_column(string_enum(MemberResponse, "peer_member_response"),
                                                     default=MemberResponse.PENDING)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The newest message of the pair this member has read (message ids only grow, so every message with a higher id
    #: is unread). A plain number, not a key: a purged message leaves it standing.
    last_read_message_id: Mapped[int | None] = mapped_column(Integer)

    pair: Mapped[PeerPair] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class PeerCheckIn(db.Model):
    """One short note to the peer: what I tried, how it went, what is next."""

    __tablename__ = "peer_checkin"
    __table_args__ = (UniqueConstraint("author_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("peer_pair.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    tried: Mapped[str] = mapped_column(String(CHECKIN_FIELD_MAX), default="")
    how_it_went: Mapped[str] = mapped_column(String(CHECKIN_FIELD_MAX), default="")
    whats_next: Mapped[str] = mapped_column(String(CHECKIN_FIELD_MAX), default="")
    #: The client's idempotency key: a retried check-in is stored once.
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    author: Mapped[User] = relationship()
    reactions: Mapped[list[PeerReaction]] = relationship(back_populates="checkin", cascade="all, delete-orphan",
                                                         order_by="PeerReaction.id")


class PeerReaction(db.Model):
    __tablename__ = "peer_reaction"
    __table_args__ = (UniqueConstraint("checkin_id", "user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("peer_checkin.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ReactionKind] = mapped_column(string_enum(ReactionKind, "peer_reaction_kind"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    checkin: Mapped[PeerCheckIn] = relationship(back_populates="reactions")


class PeerSharedGoal(db.Model):
    """A goal its owner lets the peer see (with its small wins), until they stop sharing it."""

    __tablename__ = "peer_shared_goal"

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("peer_pair.id", ondelete="CASCADE"), index=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goal.id", ondelete="CASCADE"), index=True)
    shared_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    goal: Mapped[Goal] = relationship()


class PeerMessage(db.Model):
    """A message in the pair's chat; kept for the organisation's retention period. A message its author deletes
    loses its words at once and disappears for both."""

    __tablename__ = "peer_message"
    __table_args__ = (UniqueConstraint("author_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("peer_pair.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(String(MESSAGE_MAX), default="")
    #: The client's idempotency key: a retried send is stored once.
    client_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship()


class PeerConcern(db.Model):
    """What reached the group's facilitators from a pair: a member's worry or report (with only the items they chose)
    or a risk phrase in something written. The reporter is never named to the other member."""

    __tablename__ = "peer_concern"

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("peer_pair.id", ondelete="CASCADE"), index=True)
    #: Who reported it; None for a risk phrase (nobody reported it).
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    #: Whom it is about: the peer for a worry or a report, the writer for a risk phrase.
    subject_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ConcernKind] = mapped_column(string_enum(ConcernKind, "peer_concern_kind"))
    #: The reported items, and only they are shown to the facilitators.
    message_ids: Mapped[list] = mapped_column(JSON, default=list)
    checkin_ids: Mapped[list] = mapped_column(JSON, default=list)
    #: The reported messages as they were when reported, by id ({"author_id", "created_at", "body"}): kept for the
    #: facilitators when the author deletes one (it still leaves the pair) or the chat's retention period ends.
    reported_words: Mapped[dict | None] = mapped_column(JSON)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("safety_alert.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    pair: Mapped[PeerPair] = relationship()
    reporter: Mapped[User | None] = relationship(foreign_keys=[reporter_id])
    subject: Mapped[User] = relationship(foreign_keys=[subject_id])


class PeerBlock(db.Model):
    """A member blocked another: no pair between them is proposed again, and the pair they had ended at once."""

    __tablename__ = "peer_block"
    __table_args__ = (UniqueConstraint("blocker_id", "blocked_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    blocker_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    blocked_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    pair_id: Mapped[int | None] = mapped_column(ForeignKey("peer_pair.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
