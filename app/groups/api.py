"""JSON API for groups: groups, schedules, invitations, memberships, sessions, attendance and agendas."""

from __future__ import annotations

from datetime import datetime

from flask import abort as flask_abort
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_smorest import abort

from app import policy
from app.accounts import services as account_services
from app.accounts.models import Invitation, User
from app.api_base import ApiBlueprint, document_errors
from app.extensions import account_or_address, db, limiter
from app.groups import attendance, queries, rules, schedules, services
from app.groups.models import Membership, OccurrenceStatus, SessionOccurrence, TherapyGroup
from app.groups.schemas import (
    AcceptedSchema,
    AcceptInvitationSchema,
    AgendaItemSchema,
    AgendaItemUpdateSchema,
    AttendanceSheetSchema,
    AttendanceUpdateSchema,
    CoFacilitatorsSchema,
    ExtraSessionSchema,
    FacilitatorMembershipSchema,
    FacilitatorSchema,
    GroupSchema,
    GroupUpdateSchema,
    InvitationRequestSchema,
    InvitationSchema,
    JoinSchema,
    MembershipSchema,
    MembershipUpdateSchema,
    NewInvitationSchema,
    ScheduleSchema,
    SessionQuerySchema,
    SessionSchema,
    SessionUpdateSchema,
)
from app.links import external_url
from app.models_base import utcnow

blp = ApiBlueprint("groups_api", __name__, url_prefix="/api/v1", description="Therapy groups and their sessions")


def _group(group_id: int):
    return (queries.group_in_organisation(group_id, current_user.organisation_id)
            or policy.hidden(TherapyGroup, group_id))


def _occurrence(occurrence_id: int):
    """A session (a check-in circle is not one: app/peers/circles.py)."""
    occurrence = queries.occurrence_in_organisation(occurrence_id, current_user.organisation_id)
    return occurrence if occurrence and not occurrence.is_circle else policy.hidden(SessionOccurrence, occurrence_id)


# Groups ---------------------------------------------------------------------------------------------------------------


@blp.get("/groups")
@login_required
@blp.response(200, GroupSchema(many=True))
@document_errors(blp, 401, 403, 429)
def list_groups():
    """The groups you run, or the groups you are a member of (facilitators and patients)."""
    policy.require_use(current_user, "groups")
    if policy.can_create_group(current_user):
        return queries.groups_for_facilitator(current_user)
    return [m.group for m in queries.memberships_for_patient(current_user)
            if policy.can_view_sessions(current_user, m.group)]


@blp.post("/groups")
@login_required
@blp.arguments(GroupSchema)
@blp.response(201, GroupSchema)
@document_errors(blp, 400, 401, 403, 422, 429)
def create_group(data):
    """Create a group (facilitators)."""
    policy.require_create_group(current_user)
    return services.create_group(current_user, data)


@blp.get("/groups/<int:group_id>")
@login_required
@blp.response(200, GroupSchema)
@document_errors(blp, 401, 404, 429)
def get_group(group_id: int):
    group = _group(group_id)
    policy.require_view_sessions(current_user, group)
    return group


@blp.patch("/groups/<int:group_id>")
@login_required
@blp.arguments(GroupUpdateSchema)
@blp.response(200, GroupSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def update_group(data, group_id: int):
    """Change the group's settings; a new `agreement` text becomes its next version, which members accept again."""
    group = _group(group_id)
    policy.require_manage_group(current_user, group)
    agreement = data.pop("agreement", None)
    # The agreement first: a group saved as finished or cancelled takes no more changes.
    if agreement is not None:
        try:
            services.update_agreement(current_user, group, agreement)
        except rules.GroupError as error:
            error.field = "agreement" if error.field else None
            raise
    services.update_group(current_user, group, data)
    return group


def _facilitators(group):
    """The lead first, then the co-facilitators by name."""
    return sorted(group.facilitators, key=lambda f: (not f.lead, f.user.display_name.casefold()))


@blp.get("/groups/<int:group_id>/facilitators")
@login_required
@blp.response(200, FacilitatorSchema(many=True))
@document_errors(blp, 401, 404, 429)
def list_facilitators(group_id: int):
    """The group's facilitators: its lead and co-facilitators (the group's facilitators)."""
    group = _group(group_id)
    policy.require_manage_group(current_user, group)
    return _facilitators(group)


@blp.put("/groups/<int:group_id>/facilitators")
@login_required
@blp.arguments(CoFacilitatorsSchema)
@blp.response(200, FacilitatorSchema(many=True))
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def put_facilitators(data, group_id: int):
    """Set the co-facilitators (active facilitators of the organisation); the lead always stays."""
    group = _group(group_id)
    policy.require_manage_group(current_user, group)
    users = [db.session.get(User, user_id) for user_id in dict.fromkeys(data["co_facilitators"])]
    if any(user is None for user in users):
        raise rules.GroupError(_("Co-facilitators must be active facilitators of this organisation."),
                                  "co_facilitators")
    services.set_co_facilitators(current_user, group, users)
    return _facilitators(group)


@blp.put("/groups/<int:group_id>/schedule")
@login_required
@blp.arguments(ScheduleSchema)
@blp.response(200, ScheduleSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def put_schedule(data, group_id: int):
    """Set the recurring series; sessions changed one by one and past sessions are kept."""
    group = _group(group_id)
    policy.require_manage_group(current_user, group)
    schedule = schedules.save_schedule(current_user, group, dtstart_local=data["dtstart_local"],
                                      rule=data["rrule"], duration_minutes=data["duration_minutes"])
    return {"dtstart_local": datetime.fromisoformat(schedule.dtstart_local), "rrule": schedule.rrule,
            "duration_minutes": schedule.duration_minutes, "timezone": schedule.timezone}


# Invitations and memberships ------------------------------------------------------------------------------------------


def _invitation_row(invitation: Invitation) -> dict:
    return {"id": invitation.id, "email": invitation.email, "state": invitation.state(utcnow()),
            "created_at": invitation.created_at, "expires_at": invitation.expires_at}


@blp.get("/groups/<int:group_id>/invitations")
@login_required
@blp.response(200, InvitationSchema(many=True))
@document_errors(blp, 401, 404, 429)
def list_invitations(group_id: int):
    group = _group(group_id)
    policy.require_manage_group(current_user, group)
    return [_invitation_row(i) for i in queries.group_invitations(group)]


@blp.post("/groups/<int:group_id>/invitations")
@login_required
@limiter.limit("60 per hour", key_func=account_or_address)
@blp.arguments(InvitationRequestSchema)
@blp.response(201, NewInvitationSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def create_invitation(data, group_id: int):
    """Invite a patient by email, or get a single-use code to share (no email)."""
    group = _group(group_id)
    policy.require_manage_group(current_user, group)
    invitation, raw = services.invite_member(current_user, group, data.get("email") or "")
    return {**_invitation_row(invitation), "code": raw,
            "url": external_url("accounts.accept_invitation", code=raw)}


@blp.post("/invitations/<code>/accept")
@limiter.limit("20 per 15 minutes")
@blp.arguments(AcceptInvitationSchema)
@blp.response(200, AcceptedSchema)
@document_errors(blp, 400, 404, 409, 410, 422, 429)
@blp.doc(security=[{"bearerAuth": []}, {}])
def accept_invitation(data, code: str):
    """Accept an invitation: signed in (empty body), or by creating an account (email, password, display_name).
    A code sent to nobody in particular takes only an email when not signed in: the address gets a link to finish
    joining (or to sign in and accept), and the answer, `email_sent`, is the same whether it has an account."""
    invitation = account_services.find_invitation(code)
    if invitation is None:
        flask_abort(404)
    if invitation.state(utcnow()) != "pending":
        abort(410, message=_state_message(invitation))
    group_id = (invitation.context or {}).get("group_id")
    if not current_user.is_authenticated and not invitation.email:
        if not data.get("email"):
            message = _("Sign in, or give your email address.")
            abort(422, message=message, errors={"json": {"email": [message]}})
        account_services.send_joining_email(invitation, code, data["email"])
        return {"organisation_id": invitation.organisation_id, "group_id": group_id, "email_sent": True}
    token = None
    if current_user.is_authenticated:
        user = account_services.accept_invitation(invitation, user=current_user)
    else:
        missing = [f for f in ("email", "password", "display_name") if not data.get(f)]
        if missing:
            message = _("Sign in, or give the account to create.")
            abort(422, message=message, errors={"json": {f: [message] for f in missing}})
        user = account_services.accept_invitation(
            invitation, email=data["email"], password=data["password"], display_name=data["display_name"],
            timezone=data.get("timezone") or "UTC")
        _token, token = account_services.create_api_token(user, "invitation")
    result = {"user_id": user.id, "organisation_id": invitation.organisation_id, "group_id": group_id}
    if token:
        result["token"] = token
    return result


def _state_message(invitation: Invitation) -> str:
    try:
        account_services.check_invitation_usable(invitation)
    except account_services.AccountError as error:
        return error.message
    return ""


@blp.post("/groups/<int:group_id>/join")
@login_required
@blp.arguments(JoinSchema)
@blp.response(200, MembershipSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def join_group(data, group_id: int):
    """Accept the group agreement (its current version) and answer the intake: active, or on the waitlist if full."""
    group = _group(group_id)
    membership = queries.membership_of(current_user, group)
    policy.require_join_group(current_user, membership)
    current = group.current_agreement
    agreement_id = current.id if current and current.version == data["agreement_version"] else -1
    return services.join_group(current_user, membership, agreement_id=agreement_id,
                               preferred_name=data["preferred_name"], hopes=data["hopes"], doable=data["doable"],
                               speaking_comfort=data["speaking_comfort"].value,
                               accommodations=data["accommodations"],
                               accommodations_note=data["accommodations_note"])


@blp.get("/groups/<int:group_id>/memberships")
@login_required
@blp.response(200, FacilitatorMembershipSchema(many=True))
@document_errors(blp, 401, 404, 429)
def list_memberships(group_id: int):
    """Every membership with its intake (the group's facilitators)."""
    group = _group(group_id)
    policy.require_manage_group(current_user, group)
    memberships = sorted(queries.memberships_with_intake(group), key=lambda m: m.shown_name.casefold())
    if not policy.can_see_intake(current_user, group):
        return [MembershipSchema().dump(m) for m in memberships]
    services.record_facilitator_read(current_user, "intake_read", target=f"group:{group.id}",
                                     member_ids=[m.user_id for m in memberships if m.speaking_comfort])
    return memberships


@blp.patch("/memberships/<int:membership_id>")
@login_required
@blp.arguments(MembershipUpdateSchema)
@blp.response(200, FacilitatorMembershipSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def update_membership(data, membership_id: int):
    """Pause, end or restore a membership (the group's facilitators); a freed place goes to the waitlist."""
    membership = (queries.membership_in_organisation(membership_id, current_user.organisation_id)
                  or policy.hidden(Membership, membership_id))
    policy.require_manage_group(current_user, membership.group)
    services.change_membership_status(current_user, membership, data["status"], data["reason"])
    return membership


# Sessions -------------------------------------------------------------------------------------------------------------


@blp.get("/groups/<int:group_id>/sessions")
@login_required
@blp.arguments(SessionQuerySchema, location="query")
@blp.response(200, SessionSchema(many=True))
@document_errors(blp, 400, 401, 404, 422, 429)
def list_sessions(query, group_id: int):
    """Sessions in a date range (all when no range is given)."""
    group = _group(group_id)
    policy.require_view_sessions(current_user, group)
    if query["start"] and query["end"] and query["end"] <= query["start"]:
        message = _("The end must come after the start.")
        abort(422, message=message, errors={"query": {"end": [message]}})
    return queries.occurrences(group, start=query["start"], end=query["end"])


@blp.post("/groups/<int:group_id>/sessions")
@login_required
@blp.arguments(ExtraSessionSchema)
@blp.response(201, SessionSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def add_session(data, group_id: int):
    """Add an extra one-off session (start in the group's time zone)."""
    group = _group(group_id)
    policy.require_manage_group(current_user, group)
    return schedules.add_extra_session(current_user, group, start_local=data["start_local"],
                                      duration_minutes=data["duration_minutes"],
                                      video_link=data["video_link"], location=data["location"])


@blp.get("/sessions/<int:session_id>")
@login_required
@blp.response(200, SessionSchema)
@document_errors(blp, 401, 404, 429)
def get_session(session_id: int):
    occurrence = _occurrence(session_id)
    policy.require_view_sessions(current_user, occurrence.group)
    return occurrence


@blp.patch("/sessions/<int:session_id>")
@login_required
@blp.arguments(SessionUpdateSchema)
@blp.response(200, SessionSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def update_session(data, session_id: int):
    """Move, re-link, cancel (with a reason members see) or restore one session; the series is untouched."""
    occurrence = _occurrence(session_id)
    policy.require_manage_group(current_user, occurrence.group)
    changes = {k: data[k] for k in ("start_local", "duration_minutes", "video_link", "location") if k in data}
    if changes:
        schedules.update_occurrence(current_user, occurrence, **changes)
    if data.get("status") == OccurrenceStatus.CANCELLED:
        schedules.cancel_occurrence(current_user, occurrence, data.get("cancel_reason", ""))
    elif data.get("status") == OccurrenceStatus.SCHEDULED and occurrence.status == OccurrenceStatus.CANCELLED:
        schedules.restore_occurrence(current_user, occurrence)
    return occurrence


def _sheet(occurrence, saved: attendance.AttendanceSaved | None = None) -> dict:
    sheet = queries.attendance_sheet(occurrence)
    services.record_facilitator_read(current_user, "attendance_read", target=f"session:{occurrence.id}",
                                     member_ids=[m.user_id for m, record in sheet if record is not None])
    saved = saved or attendance.AttendanceSaved()
    return {"session_id": occurrence.id, "conflicts": saved.conflicts, "skipped": saved.skipped, "records": [
        {"user_id": m.user_id, "preferred_name": m.shown_name, "status": r.status if r else None,
         "comment": r.comment if r else ""} for m, r in sheet]}


@blp.get("/sessions/<int:session_id>/attendance")
@login_required
@blp.response(200, AttendanceSheetSchema)
@document_errors(blp, 401, 404, 429)
def get_attendance(session_id: int):
    """Attendance of every active member, sorted by name (the group's facilitators)."""
    occurrence = _occurrence(session_id)
    policy.require_manage_group(current_user, occurrence.group)
    return _sheet(occurrence)


@blp.put("/sessions/<int:session_id>/attendance")
@login_required
@blp.arguments(AttendanceUpdateSchema)
@blp.response(200, AttendanceSheetSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def put_attendance(data, session_id: int):
    """Record attendance. Every row that can be is saved: rows someone else changed since `previous_*` keep their
    entry and are listed in `conflicts`; rows of people who are not active members are listed in `skipped`. A
    cancelled session, or one that has not started, takes no attendance (409)."""
    occurrence = _occurrence(session_id)
    policy.require_manage_group(current_user, occurrence.group)
    entries = [attendance.AttendanceEntry(user_id=e["user_id"], status=e["status"], comment=e["comment"],
                                        previous_status=e["previous_status"], previous_comment=e["previous_comment"])
               for e in data["entries"]]
    saved = attendance.record_attendance(current_user, occurrence, entries)
    return _sheet(occurrence, saved)


@blp.get("/sessions/<int:session_id>/agenda")
@login_required
@blp.response(200, AgendaItemSchema(many=True))
@document_errors(blp, 401, 404, 429)
def get_agenda(session_id: int):
    """The agenda, with each item's "why we do this"."""
    occurrence = _occurrence(session_id)
    policy.require_view_sessions(current_user, occurrence.group)
    return occurrence.agenda_items


@blp.post("/sessions/<int:session_id>/agenda")
@login_required
@blp.arguments(AgendaItemSchema)
@blp.response(201, AgendaItemSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def add_agenda_item(data, session_id: int):
    occurrence = _occurrence(session_id)
    policy.require_manage_group(current_user, occurrence.group)
    return services.add_agenda_item(current_user, occurrence, title=data["title"], body=data["body"],
                                    rationale=data["rationale"])


@blp.patch("/sessions/<int:session_id>/agenda/<int:item_id>")
@login_required
@blp.arguments(AgendaItemUpdateSchema)
@blp.response(200, AgendaItemSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def update_agenda_item(data, session_id: int, item_id: int):
    """Change an agenda item's title, content or "why we do this"; what is not sent stays as it is."""
    occurrence = _occurrence(session_id)
    policy.require_manage_group(current_user, occurrence.group)
    item = next((i for i in occurrence.agenda_items if i.id == item_id), None) or flask_abort(404)
    services.update_agenda_item(current_user, item, title=data.get("title", item.title),
                                body=data.get("body", item.body), rationale=data.get("rationale", item.rationale))
    return item


@blp.delete("/sessions/<int:session_id>/agenda/<int:item_id>")
@login_required
@blp.response(204)
@document_errors(blp, 400, 401, 404, 409, 429)
def delete_agenda_item(session_id: int, item_id: int):
    occurrence = _occurrence(session_id)
    policy.require_manage_group(current_user, occurrence.group)
    item = next((i for i in occurrence.agenda_items if i.id == item_id), None) or flask_abort(404)
    services.delete_agenda_item(current_user, item)
