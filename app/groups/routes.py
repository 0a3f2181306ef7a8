"""Pages for groups: the facilitator's tools and the member's view (one session's pages: session_pages.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import policy, recurrence
from app.accounts import queries as account_queries
from app.accounts.forms import EmptyForm
from app.accounts.models import User
from app.extensions import account_or_address, db, limiter
from app.groups import bp, calendar, labels, queries, rules, schedules, services
from app.groups.forms import (
    ACCOMMODATION_LABELS,
    WEEKDAYS,
    AcceptAgreementForm,
    AgreementForm,
    GroupForm,
    InviteMemberForm,
    JoinForm,
    LeaveGroupForm,
    MembershipStatusForm,
    NewGroupForm,
    ScheduleForm,
    SessionTimeForm,
)
from app.groups.models import MembershipStatus, OccurrenceStatus, TherapyGroup
from app.links import external_url
from app.markdown_text import render_markdown
from app.models_base import utcnow
from app.web import flash_refusal, show_error


def _load_group(group_id: int):
    return (queries.group_in_organisation(group_id, current_user.organisation_id)
            or policy.hidden(TherapyGroup, group_id))


def _group_data(form) -> dict:
    return {name: getattr(form, name).data for name in services.GROUP_FIELDS}


def facilitator_panel(user) -> dict:
    """The facilitator's home page panel; showing the members' attendance is a read of their data, so it is audited."""
    panel = queries.facilitator_dashboard(user)
    services.record_facilitator_read(user, "engagement_read", target="dashboard",
                                     member_ids=[m.membership.user_id for _group, eng in panel["engagement"]
                                                 for m in eng.members],
                                     details={"groups": [g.id for g, _eng in panel["engagement"]]})
    return panel


@bp.app_context_processor
def group_helpers():
    return {"render_markdown": render_markdown, "local_time": recurrence.to_local, "group_label": labels.label,
            "accommodation_label": lambda key: str(ACCOMMODATION_LABELS.get(key, key))}


# Groups ---------------------------------------------------------------------------------------------------------------


@bp.get("/groups")
@login_required
def index():
    policy.require_use(current_user, "groups")
    if policy.can_create_group(current_user):
        return render_template("groups/index_facilitator.html", groups=queries.groups_for_facilitator(current_user))
    return render_template("groups/index_member.html", memberships=queries.memberships_for_patient(current_user))


@bp.route("/groups/new", methods=["GET", "POST"])
@login_required
def create():
    policy.require_create_group(current_user)
    colleagues = account_queries.facilitators_of_organisation(current_user.organisation_id)
    form = NewGroupForm(timezone=current_user.timezone, facilitators=[u for u in colleagues if u.id != current_user.id])
    if form.validate_on_submit():
        try:
            group = services.create_group(current_user, {**_group_data(form), "agreement": form.agreement.data})
            colleagues = [db.session.get(User, uid) for uid in form.co_facilitators.data or []]
            services.set_co_facilitators(current_user, group, [u for u in colleagues if u])
        except rules.GroupError as error:
            show_error(form, error)
        else:
            flash(_("The group is created. Next, set its schedule."), "info")
            return redirect(url_for("groups.schedule", group_id=group.id))
    return render_template("groups/edit.html", form=form, group=None)


@bp.get("/groups/<int:group_id>")
@login_required
def show(group_id: int):
    group = _load_group(group_id)
    policy.require_view_group(current_user, group)
    if policy.can_manage_group(current_user, group):
        memberships = queries.memberships_with_intake(group)
        engagement = queries.engagement(group)
        show_intake = policy.can_see_intake(current_user, group)
        if show_intake:
            services.record_facilitator_read(current_user, "intake_read", target=f"group:{group.id}",
                                             member_ids=[m.user_id for m in memberships if m.speaking_comfort])
        services.record_facilitator_read(current_user, "engagement_read", target=f"group:{group.id}",
                                         member_ids=[m.membership.user_id for m in engagement.members])
        now = utcnow()
        coming = queries.occurrences(group, start=now - timedelta(hours=8))
        # Each session in one place: on now, to come, or (once it has ended) recent, with its attendance.
        on_now = [o for o in coming if o.starts_at <= now < o.ends_at and o.status == OccurrenceStatus.SCHEDULED]
        return render_template(
            "groups/show_facilitator.html", group=group, places_taken=services.places_taken(group),
            waitlist=queries.waitlist(group), engagement=engagement, show_intake=show_intake,
            on_now=on_now,
            upcoming=[o for o in coming if o.ends_at > now and o not in on_now][:12],
            past=list(reversed(queries.past_sessions(group, 8))),
            all_memberships=memberships, invite_form=InviteMemberForm(), status_form=MembershipStatusForm(),
            new_invitation=session.pop("new_group_invitation", None), empty_form=EmptyForm(),
        )
    membership = queries.membership_of(current_user, group)
    if membership.status == MembershipStatus.INVITED:
        return redirect(url_for("groups.join", group_id=group.id))
    next_session = queries.next_occurrence(group)
    # Every other session still to come, a cancelled one before the next included (so its reason is seen).
    later = [o for o in queries.occurrences(group, start=utcnow() - timedelta(hours=8))
             if o.ends_at > utcnow() and o != next_session][:5] if not group.is_closed_for_changes else []
    return render_template(
        "groups/show_member.html", group=group, membership=membership, next_session=next_session, later=later,
        summary=queries.member_attendance_summary(current_user, group),
        agreement_form=AcceptAgreementForm(agreement_id=group.current_agreement.id if group.current_agreement else ""),
        leave_form=LeaveGroupForm(),
    )


@bp.route("/groups/<int:group_id>/edit", methods=["GET", "POST"])
@login_required
def edit(group_id: int):
    group = _load_group(group_id)
    policy.require_manage_group(current_user, group)
    colleagues = [u for u in account_queries.facilitators_of_organisation(group.organisation_id)
                  if u.id != current_user.id]
    form = GroupForm(obj=group, facilitators=colleagues)
    if request.method == "GET":
        form.co_facilitators.data = [f.user_id for f in group.facilitators if not f.lead]
    agreement_form = AgreementForm(text=group.current_agreement.text if group.current_agreement else "")
    if form.validate_on_submit():
        try:
            # Co-facilitators first: once the group is saved as finished or cancelled it takes no more changes.
            chosen = [db.session.get(User, uid) for uid in form.co_facilitators.data or []]
            services.set_co_facilitators(current_user, group, [u for u in chosen if u])
            services.update_group(current_user, group, _group_data(form))
        except rules.GroupError as error:
            db.session.rollback()
            group = _load_group(group_id)
            show_error(form, error)
        else:
            flash(_("The group is saved."), "info")
            return redirect(url_for("groups.show", group_id=group.id))
    return render_template("groups/edit.html", form=form, group=group, agreement_form=agreement_form), \
        422 if form.errors else 200


@bp.post("/groups/<int:group_id>/agreement")
@login_required
def agreement(group_id: int):
    group = _load_group(group_id)
    policy.require_manage_group(current_user, group)
    form = AgreementForm()
    if form.validate_on_submit():
        try:
            version = services.update_agreement(current_user, group, form.text.data)
        except rules.GroupError as error:
            flash_refusal(error)
        else:
            flash(_("The agreement is saved as version %(n)d.", n=version.version), "info")
    else:
        flash(_("The agreement cannot be empty."), "error")
    return redirect(url_for("groups.edit", group_id=group.id))


@bp.route("/groups/<int:group_id>/schedule", methods=["GET", "POST"])
@login_required
def schedule(group_id: int):
    group = _load_group(group_id)
    policy.require_manage_group(current_user, group)
    parts = _rule_parts(group)
    form = ScheduleForm(interval=parts.get("INTERVAL", "1"))
    # A rule set through the API may say more than this form can (monthly, "the first Thursday"): say so.
    beyond_form = bool(parts) and (parts.get("FREQ") != "WEEKLY" or not set(parts) <= set(recurrence.ALLOWED_PARTS)
                                   or any(not day.isalpha() for day in parts.get("BYDAY", "").split(",") if day))
    if request.method == "GET" and group.schedule:
        _fill_schedule_form(form, group.schedule, parts)
    if form.validate_on_submit() and _save_schedule(form, group):
        flash(_("The schedule is saved."), "info")
        return redirect(url_for("groups.show", group_id=group.id))
    return render_template("groups/schedule.html", group=group, form=form, beyond_form=beyond_form,
                           extra_form=SessionTimeForm()), 422 if form.errors else 200


def _rule_parts(group) -> dict[str, str]:
    if not group.schedule:
        return {}
    return dict(p.split("=", 1) for p in group.schedule.rrule.upper().split(";") if "=" in p)


def _fill_schedule_form(form: ScheduleForm, schedule, parts: dict[str, str]) -> None:
    """The form as the saved series reads in it."""
    start = datetime.fromisoformat(schedule.dtstart_local)
    form.start_date.data, form.start_time.data = start.date(), start.time()
    form.duration_minutes.data = schedule.duration_minutes
    form.interval_weeks.data = parts.get("INTERVAL", "1")
    form.weekdays.data = [day for day in parts.get("BYDAY", "").split(",") if day in WEEKDAYS]
    if "COUNT" in parts:
        form.end_mode.data, form.count.data = "count", int(parts["COUNT"])
    elif "UNTIL" in parts:
        form.end_mode.data, form.until.data = "until", datetime.strptime(parts["UNTIL"][:8], "%Y%m%d").date()


def _save_schedule(form: ScheduleForm, group) -> bool:
    """Save the series the form describes; a refusal goes next to the field it concerns, and nothing is kept."""
    try:
        rule = recurrence.build_rrule(
            interval_weeks=int(form.interval_weeks.data),
            count=form.count.data if form.end_mode.data == "count" else None,
            until=form.until.data if form.end_mode.data == "until" else None,
            byday=",".join(form.weekdays.data) or None)
        schedules.save_schedule(current_user, group, dtstart_local=datetime.combine(form.start_date.data,
                                                                                    form.start_time.data),
                               rule=rule, duration_minutes=form.duration_minutes.data)
    except recurrence.ScheduleError as error:
        db.session.rollback()
        form.count.errors = [*form.count.errors, schedules.schedule_error_message(error)]
        return False
    except rules.GroupError as error:
        db.session.rollback()
        target = {"nonexistent_local_time": form.start_time, "out_of_range": form.start_date}.get(error.code,
                                                                                               form.count)
        target.errors = [*target.errors, error.message]
        return False
    return True


@bp.post("/groups/<int:group_id>/sessions")
@login_required
def add_session(group_id: int):
    group = _load_group(group_id)
    policy.require_manage_group(current_user, group)
    form = SessionTimeForm()
    if form.validate_on_submit():
        try:
            occurrence = schedules.add_extra_session(
                current_user, group, start_local=datetime.combine(form.date.data, form.time.data),
                duration_minutes=form.duration_minutes.data, video_link=form.video_link.data or "",
                location=form.location.data or "")
        except rules.GroupError as error:
            show_error(form, error)
        else:
            flash(_("The extra session is added."), "info")
            return redirect(url_for("groups.session_page", occurrence_id=occurrence.id))
    return render_template("groups/schedule.html", group=group, form=ScheduleForm(), extra_form=form,
                           beyond_form=False), 422


@bp.post("/groups/<int:group_id>/invitations")
@login_required
@limiter.limit("60 per hour", key_func=account_or_address)
def invite(group_id: int):
    group = _load_group(group_id)
    policy.require_manage_group(current_user, group)
    form = InviteMemberForm()
    if not form.validate_on_submit():
        flash(_("Enter a valid email address, or leave it empty for a link."), "error")
        return redirect(url_for("groups.show", group_id=group.id, _anchor="invite"))
    try:
        _invitation, raw = services.invite_member(current_user, group, form.email.data or "")
    except rules.GroupError as error:
        flash_refusal(error)
    else:
        session["new_group_invitation"] = external_url("accounts.accept_invitation", code=raw)
        if form.email.data:
            flash(_("Invitation sent to %(email)s.", email=form.email.data), "info")
        else:
            flash(_("Here is a single-use link to share."), "info")
    return redirect(url_for("groups.show", group_id=group.id, _anchor="invite"))


@bp.post("/groups/<int:group_id>/members/<int:membership_id>/status")
@login_required
def member_status(group_id: int, membership_id: int):
    group = _load_group(group_id)
    policy.require_manage_group(current_user, group)
    membership = queries.membership_in_group(membership_id, group) or abort(404)
    form = MembershipStatusForm()
    if form.validate_on_submit():
        try:
            services.change_membership_status(current_user, membership, MembershipStatus(form.status.data),
                                              form.reason.data or "")
        except rules.GroupError as error:
            flash_refusal(error)
        else:
            flash(_("%(name)s is now: %(status)s.", name=membership.shown_name,
                    status=labels.label(membership.status)), "info")
    return redirect(url_for("groups.show", group_id=group.id, _anchor="members"))


@bp.route("/groups/<int:group_id>/join", methods=["GET", "POST"])
@login_required
def join(group_id: int):
    group = _load_group(group_id)
    membership = queries.membership_of(current_user, group)
    policy.require_join_group(current_user, membership)
    agreement_ = group.current_agreement
    form = JoinForm(agreement_id=agreement_.id if agreement_ else "", preferred_name=current_user.display_name)
    if form.validate_on_submit():
        try:
            services.join_group(current_user, membership, agreement_id=int(form.agreement_id.data),
                                preferred_name=form.preferred_name.data, hopes=form.hopes.data or "",
                                doable=form.doable.data or "", speaking_comfort=form.speaking_comfort.data,
                                accommodations=form.accommodations.data or [],
                                accommodations_note=form.accommodations_note.data or "")
        except (rules.GroupError, ValueError) as error:
            show_error(form, error if isinstance(error, rules.GroupError)
                        else rules.GroupError(_("Please try again."), "agreement"))
            agreement_ = group.current_agreement
        else:
            if membership.status == MembershipStatus.ACTIVE:
                flash(_("Welcome to %(group)s.", group=group.name), "info")
            else:
                flash(_("The group is full right now. You are on the waitlist and will be told when a place frees."),
                      "info")
            return redirect(url_for("groups.show", group_id=group.id))
    return render_template("groups/join.html", group=group, form=form, agreement=agreement_), \
        422 if form.errors else 200


@bp.post("/groups/<int:group_id>/agreement/accept")
@login_required
def accept_agreement(group_id: int):
    group = _load_group(group_id)
    membership = queries.membership_of(current_user, group)
    policy.require_view_sessions(current_user, group)
    form = AcceptAgreementForm()
    if membership is None or not form.validate_on_submit():
        flash(_("Tick the box to accept the agreement."), "error")
        return redirect(url_for("groups.show", group_id=group.id))
    try:
        services.accept_current_agreement(current_user, membership, int(form.agreement_id.data))
    except (rules.GroupError, ValueError):
        flash(_("The group agreement has changed. Read the current version and accept it."), "error")
    else:
        flash(_("Thank you. You accepted the current agreement."), "info")
    return redirect(url_for("groups.show", group_id=group.id))


@bp.post("/groups/<int:group_id>/leave")
@login_required
def leave(group_id: int):
    group = _load_group(group_id)
    membership = queries.membership_of(current_user, group)
    policy.require_leave_group(current_user, membership)
    form = LeaveGroupForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.change_membership_status(current_user, membership, MembershipStatus.LEFT, form.reason.data or "")
    except rules.GroupError as error:
        flash_refusal(error)
        return redirect(url_for("groups.show", group_id=group.id))
    flash(_("You have left %(group)s. You are welcome back: ask your facilitator.", group=group.name), "info")
    return redirect(url_for("accounts.home"))


@bp.get("/groups/<int:group_id>/calendar.ics")
@login_required
def group_calendar(group_id: int):
    group = _load_group(group_id)
    policy.require_view_sessions(current_user, group)
    body = calendar.build_calendar(group.name, queries.occurrences(group))
    return body, 200, {"Content-Type": "text/calendar; charset=utf-8",
                       "Content-Disposition": f'attachment; filename="group-{group.id}.ics"'}


@bp.get("/groups/<int:group_id>/members/<int:membership_id>/notes")
@login_required
def member_notes(group_id: int, membership_id: int):
    """Every note the group's facilitators wrote about one member, newest first; the read is audited."""
    group = _load_group(group_id)
    policy.require_read_facilitator_notes(current_user, group)
    membership = queries.membership_in_group(membership_id, group) or abort(404)
    notes = services.read_notes(current_user, group, member=membership.user)
    return render_template("groups/member_notes.html", group=group, membership=membership, notes=notes,
                           sessions={o.id: o for o in queries.occurrences(group)})


# Calendar feeds -------------------------------------------------------------------------------------------------------


@bp.get("/calendar")
@login_required
def calendar_settings():
    policy.require_use(current_user, "groups")
    return render_template("groups/calendar.html", form=EmptyForm(), feed_url=session.pop("new_calendar_feed", None))


@bp.post("/calendar")
@login_required
def create_calendar_feed():
    policy.require_use(current_user, "groups")
    if not EmptyForm().validate_on_submit():
        abort(400)
    _feed, raw = calendar.create_calendar_feed(current_user)
    session["new_calendar_feed"] = external_url("groups.calendar_feed", token=raw)
    return redirect(url_for("groups.calendar_settings"))


@bp.post("/calendar/revoke")
@login_required
def revoke_calendar_feed():
    policy.require_use(current_user, "groups")
    if not EmptyForm().validate_on_submit():
        abort(400)
    calendar.revoke_calendar_feeds(current_user)
    flash(_("Your calendar link no longer works."), "info")
    return redirect(url_for("groups.calendar_settings"))


@bp.get("/calendar/<token>.ics")
@limiter.limit("60 per hour")
def calendar_feed(token: str):
    feed = calendar.find_calendar_feed(token) or abort(404)
    user = db.session.get(User, feed.user_id)
    if user is None or not user.active:
        abort(404)
    body = calendar.build_calendar(_("Momentum sessions"), queries.calendar_occurrences(user))
    return body, 200, {"Content-Type": "text/calendar; charset=utf-8"}
