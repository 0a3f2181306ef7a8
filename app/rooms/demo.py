"""Demo data for check-ins: Sam, who missed the last two sessions, checked in low twice this week, so that the
facilitator's home page shows a member who may need a word; Alex has checked in most weeks for three months, their
mood rising slowly as their questionnaire scores fall."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models_base import utcnow
from app.rooms.models import CheckIn, Energy

#: Sam's check-ins between sessions: days ago, mood, energy, note.
SAM_CHECKINS = [(4, 3, Energy.LOW, "Hard to get going this week"), (1, 3, Energy.LOW, "")]
#: Alex's: days ago, mood, energy (no note: a mood alone is a check-in too).
ALEX_CHECKINS = [(86, 3, Energy.LOW), (79, 4, Energy.LOW), (72, 3, Energy.LOW), (65, 4, Energy.MEDIUM),
                 (58, 5, Energy.LOW), (51, 4, Energy.MEDIUM), (37, 5, Energy.MEDIUM), (30, 6, Energy.MEDIUM),
                 (23, 5, Energy.MEDIUM), (16, 6, Energy.MEDIUM), (9, 7, Energy.HIGH), (3, 6, Energy.MEDIUM)]


def demo_checkins(organisation, accounts) -> None:
    sam = accounts["sam@example.org"]
    if db.session.scalar(select(CheckIn.id).where(CheckIn.user_id == sam.id).limit(1)) is not None:
        return
    for days, mood, energy, note in SAM_CHECKINS:
        db.session.add(CheckIn(user_id=sam.id, mood=mood, energy=energy, note=note, client_id=f"demo-{days}",
                               created_at=utcnow() - timedelta(days=days, hours=2)))
    alex = accounts["alex@example.org"]
    for days, mood, energy in ALEX_CHECKINS:
        db.session.add(CheckIn(user_id=alex.id, mood=mood, energy=energy, client_id=f"demo-alex-{days}",
                               created_at=utcnow() - timedelta(days=days, hours=5)))
    db.session.flush()
