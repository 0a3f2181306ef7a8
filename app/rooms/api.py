"""JSON API of check-ins (in a session and between sessions) and safety alerts."""

from __future__ import annotations

from flask import abort as flask_abort
from flask_login import current_user, login_required

from app import audit, policy
from app.api_base import ApiBlueprint, document_errors
from app.extensions import account_or_address, limiter
from app.groups import queries as group_queries
from app.groups.models import SessionOccurrence
from app.rooms import alerts, queries, services
from app.rooms.models import SafetyAlert
from app.rooms.schemas import AlertAcknowledgeSchema, AlertSchema, CheckInRequestSchema, CheckInSchema

blp = ApiBlueprint("rooms_api", __name__, url_prefix="/api/v1", description="Check-ins and safety alerts")


def _occurrence(occurrence_id: int):
    return (group_queries.occurrence_in_organisation(occurrence_id, current_user.organisation_id)
            or policy.hidden(SessionOccurrence, occurrence_id))


def _record(data, occurrence=None):
    """A refusal answers as every refusal does (app/errors.handle_refusal): 422 naming the field, 409 for a closed
    room, 403 for a facilitator."""
    result = services.record_checkin(current_user, occurrence=occurrence, client_id=data["client_id"],
                                     mood=data["mood"], energy=data["energy"], note=data["note"],
                                     passed=data["passed"])
    return services.own_checkin_answer(current_user, result)


@blp.get("/sessions/<int:session_id>/checkins")
@login_required
@blp.response(200, CheckInSchema(many=True))
@document_errors(blp, 401, 404, 429)
def list_session_checkins(session_id: int):
    """Each member's latest check-in in the session: in full for facilitators, as the group's setting allows for
    members who may be in the live room (their own always in full)."""
    occurrence = _occurrence(session_id)
    policy.require_enter_live_room(current_user, occurrence.group)
    state = queries.state_for(current_user, occurrence, services.room_of(occurrence))
    if state["facilitator"]:  # a read of each member's check-in (SECURITY.md 14)
        for checkin in state["checkins"]:
            audit.record("checkin_read", actor=current_user, subject=checkin["user_id"],
                         target=f"session:{occurrence.id}")
    return state["checkins"]


@blp.post("/sessions/<int:session_id>/checkins")
@login_required
@blp.arguments(CheckInRequestSchema)
@blp.response(201, CheckInSchema)
@document_errors(blp, 400, 401, 403, 404, 409, 422, 429)
def create_session_checkin(data, session_id: int):
    """Check in to a live session without a socket; acknowledged after the commit, idempotent by client_id."""
    occurrence = _occurrence(session_id)
    policy.require_enter_live_room(current_user, occurrence.group)
    return _record(data, occurrence)


@blp.get("/checkins")
@login_required
@blp.response(200, CheckInSchema(many=True))
@document_errors(blp, 401, 403, 429)
def list_my_checkins():
    """Your own check-ins, newest first."""
    if not policy.can_check_in_between_sessions(current_user):
        flask_abort(403)
    return [{**queries.checkin_payload(c, current_user.display_name, True), "client_id": c.client_id}
            for c in queries.history(current_user)]


@blp.post("/checkins")
@login_required
@limiter.limit("120 per hour", key_func=account_or_address)
@blp.arguments(CheckInRequestSchema)
@blp.response(201, CheckInSchema)
@document_errors(blp, 400, 401, 403, 422, 429)
def create_checkin(data):
    """A check-in between sessions; the same distress rules apply."""
    if not policy.can_check_in_between_sessions(current_user):
        flask_abort(403)
    return _record(data)


@blp.get("/alerts")
@login_required
@blp.response(200, AlertSchema(many=True))
@document_errors(blp, 401, 403, 429)
def list_alerts():
    """Open safety alerts of the groups you run (facilitators)."""
    policy.require_follow_alerts(current_user)
    group_ids = [g.id for g in group_queries.groups_for_facilitator(current_user)]
    return [queries.alert_payload(a) for a in queries.open_alerts(group_ids)]


@blp.post("/alerts/<int:alert_id>/acknowledge")
@login_required
@blp.arguments(AlertAcknowledgeSchema)
@blp.response(200, AlertSchema)
@document_errors(blp, 400, 401, 404, 422, 429)
def acknowledge_alert(data, alert_id: int):
    """Acknowledge a safety alert, with an optional note of what was done (seen by the group's facilitators only);
    the acknowledgement goes to the audit trail."""
    alert = (queries.alert_in_organisation(alert_id, current_user.organisation_id)
             or policy.hidden(SafetyAlert, alert_id))
    policy.require_acknowledge_alert(current_user, alert)
    alerts.acknowledge_alert(current_user, alert, data["note"])
    return queries.alert_payload(alert)
