"""JSON API for a patient's goals and small wins."""

from __future__ import annotations

from flask_login import current_user, login_required

from app import policy
from app.api_base import ApiBlueprint, document_errors
from app.extensions import account_or_address, limiter
from app.progress import queries, services
from app.progress.models import Goal, SmallWin
from app.progress.schemas import GoalCreateSchema, GoalSchema, GoalUpdateSchema, WinCreateSchema, WinSchema

blp = ApiBlueprint("progress_api", __name__, url_prefix="/api/v1", description="Goals and small wins")


def _win_row(win: SmallWin) -> dict:
    return {"id": win.id, "text": win.text, "goal_id": win.goal_id, "created_at": win.created_at}


def _goal_row(goal: Goal) -> dict:
    return {"id": goal.id, "title": goal.title, "why": goal.why, "next_step": goal.next_step,
            "status": goal.status.value, "created_at": goal.created_at, "done_at": goal.done_at,
            "wins": [_win_row(w) for w in goal.wins],
            "comments": [{"id": c.id, "author_id": c.author_id, "author_name": c.author.display_name, "body": c.body,
                          "created_at": c.created_at} for c in goal.comments],
            "asked_supporter_ids": [c.supporter_id for c in queries.asked_supporters(goal)]}


def _own_goal(goal_id: int) -> Goal:
    return queries.own_goal(current_user, goal_id)


@blp.get("/goals")
@login_required
@blp.response(200, GoalSchema(many=True))
@document_errors(blp, 401, 403, 429)
def list_goals():
    """Your goals: active first, then done, then set aside."""
    policy.require_keep_goals(current_user)
    return [_goal_row(g) for g in queries.goals_of(current_user)]


@blp.post("/goals")
@login_required
@limiter.limit("120 per hour", key_func=account_or_address)
@blp.arguments(GoalCreateSchema)
@blp.response(201, GoalSchema)
@document_errors(blp, 400, 401, 403, 422, 429)
def create_goal(data):
    policy.require_keep_goals(current_user)
    goal = services.create_goal(current_user, **data)
    return _goal_row(goal)


@blp.get("/goals/<int:goal_id>")
@login_required
@blp.response(200, GoalSchema)
@document_errors(blp, 401, 403, 404, 429)
def get_goal(goal_id: int):
    return _goal_row(_own_goal(goal_id))


@blp.patch("/goals/<int:goal_id>")
@login_required
@blp.arguments(GoalUpdateSchema)
@blp.response(200, GoalSchema)
@document_errors(blp, 400, 401, 403, 404, 422, 429)
def update_goal(data, goal_id: int):
    """Change the title, why, next step or status (active, done, set_aside); what is left out stays."""
    goal = _own_goal(goal_id)
    services.update_goal(current_user, goal, **data)
    return _goal_row(goal)


@blp.get("/wins")
@login_required
@blp.response(200, WinSchema(many=True))
@document_errors(blp, 401, 403, 429)
def list_wins():
    """Your latest small wins, newest first."""
    policy.require_keep_goals(current_user)
    return [_win_row(w) for w in queries.recent_wins(current_user)]


@blp.post("/wins")
@login_required
@limiter.limit("120 per hour", key_func=account_or_address)
@blp.arguments(WinCreateSchema)
@blp.response(201, WinSchema)
@document_errors(blp, 400, 401, 403, 404, 422, 429)
def create_win(data):
    """Note a small win, on one of your goals (`goal_id`) or on its own."""
    policy.require_keep_goals(current_user)
    goal = _own_goal(data["goal_id"]) if data["goal_id"] else None
    win = services.add_win(current_user, data["text"], goal)
    return _win_row(win)
