"""Supporters and consent: who sees what of a patient's data, for how long, from when, and every look they take."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.extensions import db
from app.models_base import UTCDateTime, string_enum, utcnow


class DataClass(enum.StrEnum):
    SESSIONS = "sessions_attendance"  # upcoming sessions and attendance
    GOALS = "goals_wins"  # goals and small wins
    MOOD = "mood_summary"  # weekly mood averages and trend, never the text of a check-in
    MEASURES = "measure_bands"  # measure bands over time, never item answers
    RELAPSE_HELP = "relapse_help"  # the "how you can help" part of the relapse-prevention plan
    ENCOURAGEMENT = "encouragement"  # the supporter may send short notes


class ConsentState(enum.StrEnum):
    PROPOSED = "proposed"  # granted by the patient, waiting for the supporter to accept the invitation
    ACTIVE = "active"
    ON_HOLD = "on_hold"  # suspended by a facilitator's clinical hold on the supporter (a ClinicalHold)
    REVOKED = "revoked"
    EXPIRED = "expired"
    RENEWED = "renewed"  # replaced by a renewal, which carries on from here


class SupporterLink(db.Model):
    """A supporter in a patient's circle, with the relationship the patient gave."""

    __tablename__ = "supporter_link"
    __table_args__ = (UniqueConstraint("patient_id", "supporter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    supporter_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    relationship_label: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patient: Mapped[User] = relationship(foreign_keys=[patient_id])
    supporter: Mapped[User] = relationship(foreign_keys=[supporter_id])
    holds: Mapped[list[ClinicalHold]] = relationship(back_populates="link", order_by="ClinicalHold.id",
                                                     cascade="all, delete-orphan")

    @property
    def open_hold(self) -> ClinicalHold | None:
        return next((hold for hold in self.holds if hold.lifted_at is None), None)


class ClinicalHold(db.Model):
    """A facilitator's clinical hold on a supporter's involvement with a patient: while it is open, nothing is shared
    with that supporter under any consent, and no consent can be given, renewed or accepted. Only a facilitator
    lifts it; a revocation or an expiry does not."""

    __tablename__ = "clinical_hold"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("supporter_link.id", ondelete="CASCADE"), index=True)
    #: The facilitator's reason, which the patient sees (the supporter never does).
    reason: Mapped[str] = mapped_column(Text)
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    #: None while the hold is in force.
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    link: Mapped[SupporterLink] = relationship(back_populates="holds")
    placed_by: Mapped[User | None] = relationship(foreign_keys=[placed_by_id])


class Consent(db.Model):
    """The terms of one grant. Terms never change: a change of state is a ConsentEvent, new terms a new Consent."""

    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    supporter_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: The invitation a proposed consent waits on, until the supporter has an account.
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitation.id", ondelete="SET NULL"))
    #: A list of DataClass values.
    data_classes: Mapped[list] = mapped_column(JSON)
    #: While the consent may be used.
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Only data from this moment on may be seen (the data period).
    data_from: Mapped[datetime] = mapped_column(UTCDateTime)
    purpose: Mapped[str] = mapped_column(Text, default="")
    #: The consent this one renews, if any.
    renews_id: Mapped[int | None] = mapped_column(ForeignKey("consent.id", ondelete="SET NULL"))
    #: When the patient was reminded that this sharing ends soon (once; not a term of the consent).
    renewal_prompted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patient: Mapped[User] = relationship(foreign_keys=[patient_id])
    supporter: Mapped[User | None] = relationship(foreign_keys=[supporter_id])
    events: Mapped[list[ConsentEvent]] = relationship(back_populates="consent", order_by="ConsentEvent.id",
                                                      cascade="all, delete-orphan")

    @property
    def last_event(self) -> ConsentEvent | None:
        return self.events[-1] if self.events else None

    def state_at(self, now: datetime) -> ConsentState:
        """The state now: the last recorded change, or expired once the period is over."""
        last = self.last_event
        state = last.state if last else ConsentState.PROPOSED
        if state in (ConsentState.ACTIVE, ConsentState.ON_HOLD, ConsentState.PROPOSED) and now >= self.ends_at:
            return ConsentState.EXPIRED
        return state

    def permits(self, data_class: DataClass | str, now: datetime) -> bool:
        return (self.state_at(now) == ConsentState.ACTIVE and self.starts_at <= now < self.ends_at
                and str(data_class) in self.data_classes)


class ConsentEvent(db.Model):
    """One change of a consent's state, with who and when: the consent's history, never edited."""

    __tablename__ = "consent_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consent.id", ondelete="CASCADE"), index=True)
    state: Mapped[ConsentState] = mapped_column(string_enum(ConsentState, "consent_state"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who made the change; None when the period ran out.
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    #: For a hold, the facilitator's reason, which the patient sees.
    reason: Mapped[str] = mapped_column(Text, default="")

    consent: Mapped[Consent] = relationship(back_populates="events")
    by: Mapped[User | None] = relationship()


class AccessLog(db.Model):
    """Every look a supporter takes (a page load, a live refresh, an API read), with the data classes it showed; the
    patient reads this."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consent.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    supporter_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: The DataClass values the look showed under this consent.
    data_classes: Mapped[list] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    supporter: Mapped[User] = relationship(foreign_keys=[supporter_id])


class Encouragement(db.Model):
    """A short note from a supporter to the patient, allowed by the encouragement data class."""

    __tablename__ = "encouragement"

    id: Mapped[int] = mapped_column(primary_key=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consent.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    supporter_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    supporter: Mapped[User] = relationship(foreign_keys=[supporter_id])
