"""JSON API of check-in circles: a group's circles to come, for its active members and facilitators; scheduling and
cancelling one, for its facilitators. The same rules as the pages (app/peers/circle_routes.py)."""

from __future__ import annotations

from flask_login import current_user, login_required

from app import policy
from app.api_base import ApiBlueprint, document_errors
from app.extensions import account_or_address, limiter
from app.groups import queries as group_queries
from app.groups.models import SessionOccurrence, TherapyGroup
from app.peers import circles
from app.peers.schemas import CircleRequestSchema, CircleSchema
from app.recurrence import to_local

blp = ApiBlueprint("circles_api", __name__, url_prefix="/api/v1", description="Check-in circles of a group")


def _group(group_id: int) -> TherapyGroup:
    group = (group_queries.group_in_organisation(group_id, current_user.organisation_id)
             or policy.hidden(TherapyGroup, group_id))
    policy.require_enter_live_room(current_user, group)
    return group


def _row(circle: SessionOccurrence) -> dict:
    zone = circle.group.timezone
    return {"id": circle.id, "group_id": circle.group_id, "starts_at": circle.starts_at, "ends_at": circle.ends_at,
            "local_start": to_local(circle.starts_at, zone).isoformat(), "timezone": zone,
            "duration_minutes": circle.duration_minutes, "status": circle.status, "on_now": circles.is_on(circle)}


@blp.get("/groups/<int:group_id>/circles")
@login_required
@blp.response(200, CircleSchema(many=True))
@document_errors(blp, 401, 404, 429)
def list_circles(group_id: int):
    """The group's circles that have not ended, the one on now first, then soonest first."""
    return [_row(c) for c in circles.circles_to_come(_group(group_id))]


@blp.post("/groups/<int:group_id>/circles")
@login_required
@limiter.limit("60 per hour", key_func=account_or_address)
@blp.arguments(CircleRequestSchema)
@blp.response(201, CircleSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def schedule_circle(data, group_id: int):
    """Schedule a circle (start in the group's time zone, 10 to 60 minutes long); the group's facilitators only.
    A start in the past, or over 90 days ahead, is refused (422, under `date`)."""
    group = _group(group_id)
    policy.require_manage_group(current_user, group)
    circle = circles.schedule_circle(current_user, group, start_local=data["start_local"],
                                     duration_minutes=data["duration_minutes"])
    return _row(circle)


@blp.post("/circles/<int:circle_id>/cancel")
@login_required
@blp.response(200, CircleSchema)
@document_errors(blp, 400, 401, 404, 429)
def cancel_circle(circle_id: int):
    """Cancel a circle; the group's facilitators only."""
    circle = (circles.circle_in_organisation(circle_id, current_user.organisation_id)
              or policy.hidden(SessionOccurrence, circle_id))
    policy.require_enter_live_room(current_user, circle.group)
    policy.require_manage_group(current_user, circle.group)
    circles.cancel_circle(current_user, circle)
    return _row(circle)
