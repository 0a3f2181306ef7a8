"""Therapy groups, their members, schedules, session occurrences, attendance, agendas and facilitator notes."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Organisation, User
from app.extensions import db
from app.models_base import UTCDateTime, string_enum, utcnow


class GroupFormat(enum.StrEnum):
    IN_PERSON = "in_person"
    ONLINE = "online"
    HYBRID = "hybrid"


class Enrolment(enum.StrEnum):
    CLOSED = "closed"  # a cohort that starts and ends together
    ROLLING = "rolling"  # people join as places free up


class GroupStatus(enum.StrEnum):
    FORMING = "forming"
    ACTIVE = "active"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class MembershipStatus(enum.StrEnum):
    INVITED = "invited"  # accepted an invitation, has not yet accepted the agreement and done the intake
    WAITLISTED = "waitlisted"
    ACTIVE = "active"
    PAUSED = "paused"
    LEFT = "left"
    COMPLETED = "completed"


class SpeakingComfort(enum.StrEnum):
    COMFORTABLE = "comfortable"
    SOME_NERVES = "some_nerves"
    VERY_UNEASY = "very_uneasy"


class OccurrenceStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class AttendanceStatus(enum.StrEnum):
    PRESENT_IN_PERSON = "present_in_person"
    PRESENT_ONLINE = "present_online"
    BRIEF_CHECKIN = "brief_checkin"
    LEFT_EARLY = "left_early"
    EXCUSED = "excused"
    ABSENT = "absent"


#: Statuses that count as having joined the session, for attendance rates.
JOINED = {AttendanceStatus.PRESENT_IN_PERSON, AttendanceStatus.PRESENT_ONLINE, AttendanceStatus.BRIEF_CHECKIN,
          AttendanceStatus.LEFT_EARLY}
#: Statuses that count as a missed session for engagement risk (excused absences do not).
MISSED = {AttendanceStatus.ABSENT}

ACCOMMODATIONS = ("camera_off", "brief_checkin", "reminders")


class TherapyGroup(db.Model):
    __tablename__ = "therapy_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    #: What the group works on, e.g. "behavioural activation".
    focus: Mapped[str] = mapped_column(String(200), default="")
    format: Mapped[GroupFormat] = mapped_column(string_enum(GroupFormat, "group_format"), default=GroupFormat.ONLINE)
    location: Mapped[str] = mapped_column(String(300), default="")
    video_link: Mapped[str] = mapped_column(String(500), default="")
    capacity: Mapped[int] = mapped_column(Integer, default=10)
    enrolment: Mapped[Enrolment] = mapped_column(string_enum(Enrolment, "group_enrolment"), default=Enrolment.ROLLING)
    status: Mapped[GroupStatus] = mapped_column(string_enum(GroupStatus, "group_status"), default=GroupStatus.FORMING)
    #: IANA zone of the schedule; a session at 18:00 here stays at 18:00 here across daylight-saving changes.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: Live rooms: "all" shows members each other's check-ins, "presence" only that someone checked in.
    checkin_visibility: Mapped[str] = mapped_column(String(20), default="all")
    #: A live check-in mood at or below this raises a safety alert to the facilitators.
    distress_threshold: Mapped[int] = mapped_column(Integer, default=2)
    #: How many minutes before the start members may enter an opened room.
    lobby_minutes: Mapped[int] = mapped_column(Integer, default=15)
    #: Active members may start a check-in circle themselves (app/peers/circles.py), not only join scheduled ones.
    members_start_circles: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship()
    facilitators: Mapped[list[GroupFacilitator]] = relationship(back_populates="group", cascade="all, delete-orphan")
    memberships: Mapped[list[Membership]] = relationship(back_populates="group", cascade="all, delete-orphan")
    agreements: Mapped[list[GroupAgreement]] = relationship(back_populates="group", cascade="all, delete-orphan",
                                                            order_by="GroupAgreement.version")
    schedule: Mapped[Schedule | None] = relationship(back_populates="group", cascade="all, delete-orphan",
                                                     uselist=False)

    @property
    def current_agreement(self) -> GroupAgreement | None:
        return self.agreements[-1] if self.agreements else None

    @property
    def is_closed_for_changes(self) -> bool:
        return self.status in (GroupStatus.FINISHED, GroupStatus.CANCELLED)

    def active_count(self) -> int:
        return sum(1 for m in self.memberships if m.status == MembershipStatus.ACTIVE)


class GroupFacilitator(db.Model):
    __tablename__ = "group_facilitator"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: The facilitator who created the group leads it; co-facilitators have the same rights.
    lead: Mapped[bool] = mapped_column(Boolean, default=False)

    group: Mapped[TherapyGroup] = relationship(back_populates="facilitators")
    user: Mapped[User] = relationship()


class GroupAgreement(db.Model):
    """The group's confidentiality and ground rules; a change is a new version, members accept a version."""

    __tablename__ = "group_agreement"
    __table_args__ = (UniqueConstraint("group_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    group: Mapped[TherapyGroup] = relationship(back_populates="agreements")


class Membership(db.Model):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    status: Mapped[MembershipStatus] = mapped_column(string_enum(MembershipStatus, "membership_status"),
                                                     default=MembershipStatus.INVITED)
    #: The name shown to the group; a pseudonym is allowed.
    preferred_name: Mapped[str] = mapped_column(String(100), default="")
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Place in the waitlist: earliest first.
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Why the status changed; seen only by the group's facilitators.
    status_reason: Mapped[str] = mapped_column(Text, default="")
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("group_agreement.id", ondelete="SET NULL"))
    agreement_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The intake, so the facilitator can prepare (and screen for distress from speaking in a group).
    intake_hopes: Mapped[str] = mapped_column(Text, default="")
    intake_doable: Mapped[str] = mapped_column(Text, default="")
    speaking_comfort: Mapped[SpeakingComfort | None] = mapped_column(string_enum(SpeakingComfort, "speaking_comfort"))
    #: A subset of ACCOMMODATIONS.
    accommodations: Mapped[list] = mapped_column(JSON, default=list)
    accommodations_note: Mapped[str] = mapped_column(Text, default="")

    group: Mapped[TherapyGroup] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()
    agreement: Mapped[GroupAgreement | None] = relationship()

    @property
    def shown_name(self) -> str:
        return self.preferred_name or self.user.display_name


class Schedule(db.Model):
    """A recurring series: an RFC 5545 RRULE from a local start time in the group's time zone."""

    __tablename__ = "schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"), unique=True)
    #: Local wall-clock start of the first session, ISO format without offset, e.g. "2026-03-02T18:00".
    dtstart_local: Mapped[str] = mapped_column(String(19))
    timezone: Mapped[str] = mapped_column(String(64))
    #: The RRULE without DTSTART, e.g. "FREQ=WEEKLY;INTERVAL=1;COUNT=12".
    rrule: Mapped[str] = mapped_column(String(300))
    duration_minutes: Mapped[int] = mapped_column(Integer, default=90)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    group: Mapped[TherapyGroup] = relationship(back_populates="schedule")


#: What one session can set for itself, apart from the series: its start, its length, its link and its place.
OVERRIDABLE = ("start", "duration", "video_link", "location")


class SessionOccurrence(db.Model):
    """One session of a group: from the series (keyed by its original start) or an extra one-off."""

    __tablename__ = "session_occurrence"
    __table_args__ = (UniqueConstraint("group_id", "recurrence_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"), index=True)
    #: The start the series gave this occurrence (UTC); None for an extra session. Exceptions keep it.
    recurrence_id: Mapped[datetime | None] = mapped_column(UTCDateTime)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=90)
    status: Mapped[OccurrenceStatus] = mapped_column(string_enum(OccurrenceStatus, "occurrence_status"),
                                                     default=OccurrenceStatus.SCHEDULED)
    #: Shown to members when the session is cancelled.
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    #: Overrides the group's link or place for this session only.
    video_link: Mapped[str] = mapped_column(String(500), default="")
    location: Mapped[str] = mapped_column(String(300), default="")
    #: True once a facilitator changed this occurrence alone; editing the series keeps it.
    is_exception: Mapped[bool] = mapped_column(Boolean, default=False)
    #: What this session sets for itself (a subset of OVERRIDABLE); the series sets the rest when it is edited.
    overrides: Mapped[list] = mapped_column(JSON, default=list)
    #: RFC 5545 SEQUENCE: one more each time the start, length, place, link or status changes, so that calendars
    #: that imported the session replace it.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    #: A member-led check-in circle between sessions (app/peers/circles.py), not a session: it is open to the group's
    #: active members from its start to its end, with no facilitator controls, and no session list shows it.
    is_circle: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    group: Mapped[TherapyGroup] = relationship()
    agenda_items: Mapped[list[AgendaItem]] = relationship(back_populates="occurrence", cascade="all, delete-orphan",
                                                          order_by="AgendaItem.position")

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)

    @property
    def is_extra(self) -> bool:
        return self.recurrence_id is None

    @property
    def effective_video_link(self) -> str:
        return self.video_link or self.group.video_link

    @property
    def effective_location(self) -> str:
        return self.location or self.group.location


class Attendance(db.Model):
    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("occurrence_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("session_occurrence.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    status: Mapped[AttendanceStatus] = mapped_column(string_enum(AttendanceStatus, "attendance_status"))
    comment: Mapped[str] = mapped_column(String(500), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class AgendaItem(db.Model):
    __tablename__ = "agenda_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("session_occurrence.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(200))
    #: Markdown; rendered through a sanitiser, never as raw HTML.
    body: Mapped[str] = mapped_column(Text, default="")
    #: "Why we do this": shown to members before the session.
    rationale: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    occurrence: Mapped[SessionOccurrence] = relationship(back_populates="agenda_items")


class FacilitatorNote(db.Model):
    """Private to the group's facilitators; every read and write is audited."""

    __tablename__ = "facilitator_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("therapy_group.id", ondelete="CASCADE"), index=True)
    occurrence_id: Mapped[int | None] = mapped_column(ForeignKey("session_occurrence.id", ondelete="CASCADE"),
                                                      index=True)
    #: The member the note is about; None for a note about the session as a whole.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    member: Mapped[User | None] = relationship(foreign_keys=[member_id])


class CalendarFeed(db.Model):
    """A secret, revocable iCalendar URL for one account; only the token's hash is stored."""

    __tablename__ = "calendar_feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
