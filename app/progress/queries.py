"""Reads of goals and small wins: the patient's own, and what a supporter may see of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import policy
from app.accounts.models import User
from app.extensions import db
from app.progress.models import Goal, GoalComment, GoalCommenter, GoalStatus, SmallWin
from app.supporters import queries as supporter_queries

STATUS_ORDER = {GoalStatus.ACTIVE: 0, GoalStatus.DONE: 1, GoalStatus.SET_ASIDE: 2}
RECENT_WINS = 20


def _in_order(goals) -> list[Goal]:
    """Active goals first, then done, then set aside; newest first within each."""
    return sorted(goals, key=lambda g: (STATUS_ORDER[g.status], -g.created_at.timestamp(), -g.id))


def goals_of(patient: User) -> list[Goal]:
    return _in_order(db.session.scalars(select(Goal).where(Goal.patient_id == patient.id)
                                        .options(selectinload(Goal.wins), selectinload(Goal.commenters),
                                                 selectinload(Goal.comments).selectinload(GoalComment.author))))


def active_goals(patient: User) -> list[Goal]:
    """The goals being worked on, newest first: the home page's short list (nothing loaded beyond the goals)."""
    return list(db.session.scalars(select(Goal).where(Goal.patient_id == patient.id,
                                                      Goal.status == GoalStatus.ACTIVE)
                                   .order_by(Goal.created_at.desc(), Goal.id.desc())))


def goal_of(patient: User, goal_id: int) -> Goal | None:
    return db.session.scalar(select(Goal).where(Goal.id == goal_id, Goal.patient_id == patient.id))


def own_goal(patient: User, goal_id: int) -> Goal:
    """One of the patient's own goals, for a page or the API: refused (and the refusal recorded) for anyone who keeps
    no goals, or for someone else's."""
    policy.require_keep_goals(patient)
    goal = goal_of(patient, goal_id)
    if goal is None:
        policy.hidden(Goal, goal_id)
    return goal


def win_of(patient: User, win_id: int) -> SmallWin | None:
    return db.session.scalar(select(SmallWin).where(SmallWin.id == win_id, SmallWin.patient_id == patient.id))


def comment_on(goal: Goal, comment_id: int) -> GoalComment | None:
    return db.session.scalar(select(GoalComment).where(GoalComment.id == comment_id, GoalComment.goal_id == goal.id))


def unread_comments(patient: User, limit: int = 5) -> list[GoalComment]:
    """Thoughts on the patient's goals not yet marked read, newest first: the home page shows them."""
    return list(db.session.scalars(select(GoalComment).join(Goal, GoalComment.goal_id == Goal.id)
                                   .where(Goal.patient_id == patient.id, GoalComment.read_at.is_(None))
                                   .options(selectinload(GoalComment.author), selectinload(GoalComment.goal))
                                   .order_by(GoalComment.created_at.desc(), GoalComment.id.desc()).limit(limit)))


def recent_wins(patient: User, limit: int = RECENT_WINS) -> list[SmallWin]:
    return list(db.session.scalars(select(SmallWin).where(SmallWin.patient_id == patient.id)
                                   .options(selectinload(SmallWin.goal))
                                   .order_by(SmallWin.created_at.desc(), SmallWin.id.desc()).limit(limit)))


def shared_goals(supporter: User, patient: User, since: datetime) -> dict:
    """For a supporter whose consent covers goals: goals set, and wins noted, inside the data period; on goals the
    patient asked them about, their own comments (never another supporter's) and whether they may add one."""
    goals = _in_order(db.session.scalars(select(Goal).where(Goal.patient_id == patient.id, Goal.created_at >= since)
                                         .options(selectinload(Goal.commenters))))
    visible = {goal.id for goal in goals}
    wins = [(win.text, win.created_at, win.goal.title if win.goal_id in visible else None)
            for win in db.session.scalars(select(SmallWin).where(SmallWin.patient_id == patient.id,
                                                                 SmallWin.created_at >= since)
                                          .options(selectinload(SmallWin.goal))
                                          .order_by(SmallWin.created_at.desc(), SmallWin.id.desc())
                                          .limit(RECENT_WINS))]
    asked = {c.goal_id for goal in goals for c in goal.commenters
             if c.supporter_id == supporter.id and c.ended_at is None}
    own_comments: dict[int, list[GoalComment]] = {}
    if visible:
        for comment in db.session.scalars(select(GoalComment).where(GoalComment.goal_id.in_(visible),
                                                                    GoalComment.author_id == supporter.id)
                                          .order_by(GoalComment.created_at)):
            own_comments.setdefault(comment.goal_id, []).append(comment)
    return {"goals": [{"goal": goal, "asked": goal.id in asked, "comments": own_comments.get(goal.id, [])}
                      for goal in goals],
            "wins": wins}


def askable_supporters(patient: User, goal: Goal) -> list[User]:
    """The patient's supporters who can see this goal now: the ones they may ask for their thoughts on it."""
    return [link.supporter for link in supporter_queries.links_for_patient(patient)
            if policy.supporter_sees_goal(link.supporter, goal)]


def asked_supporters(goal: Goal) -> list[GoalCommenter]:
    return [c for c in goal.commenters if c.ended_at is None]
