"""Changes to goals, small wins and the thoughts supporters were asked for. Each change nudges the supporters whose
consent covers goals to refresh their page (never with the data itself)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import audit, policy, signals
from app.accounts.models import User
from app.extensions import db
from app.models_base import utcnow
from app.progress.models import (
    COMMENT_MAX,
    STEP_MAX,
    TITLE_MAX,
    WHY_MAX,
    WIN_MAX,
    Goal,
    GoalComment,
    GoalCommenter,
    GoalStatus,
    SmallWin,
)
from app.realtime.push import notify_data_changed
from app.refusal import Refusal
from app.supporters.models import ConsentState, DataClass
from app.supporters.services import consents_between

NOT_ASKABLE = _l("Only someone who can see this goal can be asked: share your goals and small wins with them first, "
                 "from a date before this goal.")


class GoalError(Refusal):
    """A rule refused the change; the message is shown as is, next to the field when there is one."""


def _changed(patient_id: int) -> None:
    notify_data_changed(patient_id, DataClass.GOALS.value)


def _text(value: str | None, limit: int, field: str, *, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise GoalError(_("Write a few words."), field)
    if len(value) > limit or "\x00" in value:
        raise GoalError(_("Keep it under %(n)d characters.", n=limit), field)
    return value


def create_goal(patient: User, *, title: str, why: str = "", next_step: str = "") -> Goal:
    goal = Goal(organisation_id=patient.organisation_id, patient_id=patient.id,
                title=_text(title, TITLE_MAX, "title", required=True), why=_text(why, WHY_MAX, "why"),
                next_step=_text(next_step, STEP_MAX, "next_step"))
    db.session.add(goal)
    db.session.flush()
    audit.record("goal_create", actor=patient, subject=patient, target=f"goal:{goal.id}")
    _changed(patient.id)
    return goal


def update_goal(patient: User, goal: Goal, *, title: str | None = None, why: str | None = None,
                next_step: str | None = None, status: GoalStatus | None = None) -> Goal:
    """Change what is given; what is left as None stays as it was."""
    if title is not None:
        goal.title = _text(title, TITLE_MAX, "title", required=True)
    if why is not None:
        goal.why = _text(why, WHY_MAX, "why")
    if next_step is not None:
        goal.next_step = _text(next_step, STEP_MAX, "next_step")
    if status is not None and status != goal.status:
        goal.status = status
        goal.done_at = utcnow() if status == GoalStatus.DONE else None
    goal.updated_at = utcnow()
    db.session.flush()
    audit.record("goal_update", actor=patient, subject=patient, target=f"goal:{goal.id}",
                 details={"status": goal.status.value})
    _changed(patient.id)
    return goal


def add_win(patient: User, text: str, goal: Goal | None = None) -> SmallWin:
    if goal is not None:
        policy.require_own_goal(patient, goal)
    win = SmallWin(patient_id=patient.id, goal_id=goal.id if goal else None, text=_text(text, WIN_MAX, "text",
                                                                                       required=True))
    db.session.add(win)
    db.session.flush()
    audit.record("small_win_create", actor=patient, subject=patient, target=f"small_win:{win.id}")
    _changed(patient.id)
    return win


def delete_win(patient: User, win: SmallWin) -> None:
    audit.record("small_win_delete", actor=patient, subject=patient, target=f"small_win:{win.id}")
    db.session.delete(win)
    db.session.flush()
    _changed(patient.id)


def ask_for_thoughts(patient: User, goal: Goal, supporter: User | None) -> GoalCommenter:
    """Ask a supporter for their thoughts on one goal: only someone who can see it now (a consent for goals and
    small wins whose data period includes the day the goal was set)."""
    if supporter is None or not policy.supporter_sees_goal(supporter, goal):
        raise GoalError(str(NOT_ASKABLE), "supporter_id")
    commenter = next((c for c in goal.commenters if c.supporter_id == supporter.id), None)
    if commenter is None:
        commenter = GoalCommenter(goal=goal, supporter_id=supporter.id)
        db.session.add(commenter)
    commenter.invited_at, commenter.ended_at = utcnow(), None
    db.session.flush()
    audit.record("goal_thoughts_asked", actor=patient, subject=patient, target=f"goal:{goal.id}",
                 details={"supporter_id": supporter.id})
    _changed(patient.id)
    return commenter


def stop_asking(patient: User, goal: Goal, supporter_id: int) -> None:
    commenter = next((c for c in goal.commenters if c.supporter_id == supporter_id and c.ended_at is None), None)
    if commenter is None:
        return
    commenter.ended_at = utcnow()
    db.session.flush()
    audit.record("goal_thoughts_stopped", actor=patient, subject=patient, target=f"goal:{goal.id}",
                 details={"supporter_id": supporter_id})
    _changed(patient.id)


def add_comment(supporter: User, goal: Goal, body: str) -> GoalComment:
    consent = policy.require_comment_on_goal(supporter, goal)
    comment = GoalComment(goal=goal, author_id=supporter.id, body=_text(body, COMMENT_MAX, "body", required=True))
    db.session.add(comment)
    db.session.flush()
    audit.record("goal_comment_create", actor=supporter, subject=goal.patient_id, target=f"goal_comment:{comment.id}",
                 organisation_id=consent.organisation_id, consent_id=consent.id)
    return comment


def mark_comments_read(patient: User) -> None:
    for comment in db.session.scalars(select(GoalComment).join(Goal, GoalComment.goal_id == Goal.id)
                                      .where(Goal.patient_id == patient.id, GoalComment.read_at.is_(None))):
        comment.read_at = utcnow()
    db.session.flush()


def delete_comment(patient: User, comment: GoalComment) -> None:
    """The patient may take any comment off their goal."""
    audit.record("goal_comment_delete", actor=patient, subject=patient, target=f"goal_comment:{comment.id}",
                 details={"author_id": comment.author_id})
    db.session.delete(comment)
    db.session.flush()
    _changed(patient.id)



@signals.sharing_revoked.connect
def _end_asks_on_revocation(_sender, *, patient_id: int, supporter_id: int) -> None:
    """The patient stopped sharing goals with this supporter: their asks end with it, so that sharing again later does
    not bring back an ask the patient made under the old terms. A hold or an expiry leaves them (lifting the hold or
    renewing carries on)."""
    now = utcnow()
    still_shared = any(DataClass.GOALS.value in consent.data_classes
                       and consent.state_at(now) in (ConsentState.ACTIVE, ConsentState.ON_HOLD)
                       for consent in consents_between(patient_id, supporter_id))
    if still_shared:
        return
    for commenter in db.session.scalars(select(GoalCommenter).join(Goal, GoalCommenter.goal_id == Goal.id).where(
            Goal.patient_id == patient_id, GoalCommenter.supporter_id == supporter_id,
            GoalCommenter.ended_at.is_(None))):
        commenter.ended_at = now
    db.session.flush()

