"""Demo data for check-ins: Sam, who missed the last two sessions, checked in low twice this week, so that the
facilitator's home page shows a member who may need a word."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models_base import utcnow
from app.rooms.models import CheckIn, Energy

#: Sam's check-ins between sessions: days ago, mood, energy, note.
SAM_CHECKINS = [(4, 3, Energy.LOW, "Hard to get going this week"), (1, 3, Energy.LOW, "")]


def demo_checkins(organisation, accounts) -> None:
    sam = accounts["sam@example.org"]
    if db.session.scalar(select(CheckIn.id).where(CheckIn.user_id == sam.id).limit(1)) is not None:
        return
    for days, mood, energy, note in SAM_CHECKINS:
        db.session.add(CheckIn(user_id=sam.id, mood=mood, energy=energy, note=note, client_id=f"demo-{days}",
                               created_at=utcnow() - timedelta(days=days, hours=2)))
    db.session.flush()
