"""Demo data for goals: Alex works towards getting outside, has noted a small win, and asked Jordan for thoughts."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.progress import services
from app.progress.models import Goal


def demo_goals(organisation, accounts) -> None:
    alex, jordan = accounts["alex@example.org"], accounts["jordan@example.org"]
    if db.session.scalar(select(Goal.id).where(Goal.patient_id == alex.id).limit(1)) is not None:
        return
    goal = services.create_goal(alex, title="Get outside most days", why="Fresh air makes the evenings easier.",
                                next_step="A walk to the corner after lunch")
    services.add_win(alex, "Walked to the corner and back", goal)
    services.create_goal(alex, title="Call my sister on Sundays", next_step="Text her to pick a time")
    services.ask_for_thoughts(alex, goal, jordan)
