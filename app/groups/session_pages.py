"""Pages of one session: the session itself (its time, cancellation, agenda), its attendance sheet and its
facilitator notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import policy, recurrence
from app.accounts.forms import EmptyForm
from app.groups import bp, queries, rules, schedules, services
from app.groups.attendance import AttendanceEntry, record_attendance
from app.groups.forms import (
    AgendaItemForm,
    AttendanceForm,
    CancelSessionForm,
    NoteForm,
    SessionTimeForm,
)
from app.groups.models import AttendanceStatus, SessionOccurrence
from app.models_base import utcnow
from app.web import flash_refusal, session_panels_for, show_error


def _load_occurrence(occurrence_id: int):
    """A session of the group (a check-in circle is not one: it has its own page, app/peers/circles.py)."""
    occurrence = queries.occurrence_in_organisation(occurrence_id, current_user.organisation_id)
    return occurrence if occurrence and not occurrence.is_circle else policy.hidden(SessionOccurrence, occurrence_id)


@bp.get("/sessions/<int:occurrence_id>")
@login_required
def session_page(occurrence_id: int):
    occurrence = _load_occurrence(occurrence_id)
    group = occurrence.group
    policy.require_view_sessions(current_user, group)
    manage = policy.can_manage_group(current_user, group)
    return render_template(
        "groups/session.html", occurrence=occurrence, group=group, manage=manage,
        panels=session_panels_for(current_user, occurrence),
        time_form=SessionTimeForm(data=_session_time_data(occurrence)) if manage else None,
        cancel_form=CancelSessionForm() if manage else None, agenda_form=AgendaItemForm() if manage else None,
        edit_forms={item.id: AgendaItemForm(formdata=None, obj=item, prefix=f"item-{item.id}", meta={"csrf": False})
                    for item in occurrence.agenda_items} if manage else {},
        empty_form=EmptyForm(),
    )


def _session_time_data(occurrence) -> dict:
    local = recurrence.to_local(occurrence.starts_at, occurrence.group.timezone)
    return {"date": local.date(), "time": local.time().replace(second=0, microsecond=0),
            "duration_minutes": occurrence.duration_minutes, "video_link": occurrence.video_link,
            "location": occurrence.location}


@bp.post("/sessions/<int:occurrence_id>/edit")
@login_required
def edit_session(occurrence_id: int):
    occurrence = _load_occurrence(occurrence_id)
    policy.require_manage_group(current_user, occurrence.group)
    form = SessionTimeForm()
    if form.validate_on_submit():
        try:
            schedules.update_occurrence(current_user, occurrence,
                                       start_local=datetime.combine(form.date.data, form.time.data),
                                       duration_minutes=form.duration_minutes.data,
                                       video_link=form.video_link.data or "", location=form.location.data or "")
        except rules.GroupError as error:
            flash_refusal(error)
        else:
            flash(_("This session is changed; the rest of the series is as it was."), "info")
    else:
        problems = [message for field in (form.video_link, form.location) for message in field.errors]
        flash(problems[0] if problems else _("Check the date, time and length."), "error")
    return redirect(url_for("groups.session_page", occurrence_id=occurrence_id))


@bp.post("/sessions/<int:occurrence_id>/cancel")
@login_required
def cancel_session(occurrence_id: int):
    occurrence = _load_occurrence(occurrence_id)
    policy.require_manage_group(current_user, occurrence.group)
    form = CancelSessionForm()
    if form.validate_on_submit():
        try:
            schedules.cancel_occurrence(current_user, occurrence, form.reason.data)
        except rules.GroupError as error:
            flash_refusal(error)
        else:
            flash(_("The session is cancelled. Members see your reason."), "info")
    else:
        flash(_("Tell members why the session is cancelled."), "error")
    return redirect(url_for("groups.session_page", occurrence_id=occurrence_id))


@bp.post("/sessions/<int:occurrence_id>/restore")
@login_required
def restore_session(occurrence_id: int):
    occurrence = _load_occurrence(occurrence_id)
    policy.require_manage_group(current_user, occurrence.group)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        schedules.restore_occurrence(current_user, occurrence)
    except rules.GroupError as error:
        flash_refusal(error)
    return redirect(url_for("groups.session_page", occurrence_id=occurrence_id))


@bp.route("/sessions/<int:occurrence_id>/attendance", methods=["GET", "POST"])
@login_required
def attendance(occurrence_id: int):
    """The sheet. A save keeps every row it can; what it could not save is shown again as typed, never lost."""
    occurrence = _load_occurrence(occurrence_id)
    group = occurrence.group
    policy.require_manage_group(current_user, group)
    posted = _Posted()
    if request.method == "POST":
        posted = _save_sheet(occurrence)
        if posted is None:
            flash(_("Attendance is saved."), "info")
            return redirect(url_for("groups.attendance", occurrence_id=occurrence_id))
    sheet = queries.attendance_sheet(occurrence)
    services.record_facilitator_read(current_user, "attendance_read", target=f"session:{occurrence.id}",
                                     member_ids=[m.user_id for m, _record in sheet if _record is not None])
    form = AttendanceForm(formdata=None, data={"rows": [_row_shown(membership, record, posted)
                                                        for membership, record in sheet]})
    rows = [(row, membership, record, posted.errors.get(membership.user_id, []),
             record if membership.user_id in posted.theirs else None)
            for row, (membership, record) in zip(form.rows, sheet, strict=True)]
    return render_template("groups/attendance.html", occurrence=occurrence, group=group, rows=rows, form=form,
                           can_record=occurrence.status.value == "scheduled" and occurrence.starts_at <= utcnow()), \
        posted.status


@dataclass
class _Posted:
    """What a save left to show: rows as this facilitator typed them (not as on record), the errors of each row,
    the rows where someone else's entry is on record (shown beside what was typed), and the answer's status."""

    typed: dict[int, AttendanceEntry] = field(default_factory=dict)
    errors: dict[int, list[str]] = field(default_factory=dict)
    theirs: set[int] = field(default_factory=set)
    status: int = 200


def _save_sheet(occurrence: SessionOccurrence) -> _Posted | None:
    """Save the posted sheet; None when every row was saved."""
    form = AttendanceForm()
    valid = form.validate_on_submit()
    entries = [_attendance_entry(row, strict=valid) for row in form.rows]
    typed = {entry.user_id: entry for entry in entries if entry is not None}
    if not valid:
        flash(_("Check the entries below."), "error")
        return _Posted(typed, {int(row.user_id.data): [*row.status.errors, *row.comment.errors] for row in form.rows
                               if row.user_id.data and row.user_id.data.isdigit()}, status=422)
    try:
        saved = record_attendance(current_user, occurrence, [e for e in entries if e is not None])
    except rules.GroupError as error:
        flash_refusal(error)
        return _Posted(typed, status=409)
    if not saved.conflicts and not saved.skipped:
        return None
    names = {m.user_id: m.shown_name for m in occurrence.group.memberships}
    if saved.conflicts:
        flash(_("Someone else changed these rows while you were editing: %(names)s. Their entries are "
                "kept; yours are shown below, so that you can save them again if they are right.",
                names=", ".join(names.get(uid, "?") for uid in saved.conflicts)), "error")
    if saved.skipped:
        flash(_("Nothing was saved for %(names)s: they are no longer active members of the group. "
                "Everything else is saved.", names=", ".join(names.get(uid, "?") for uid in saved.skipped)),
              "error")
    return _Posted({uid: typed[uid] for uid in saved.conflicts}, theirs=set(saved.conflicts), status=409)


def _row_shown(membership, record, posted: _Posted) -> dict:
    """A row of the sheet: what is on record, or what was typed; `previous` is what a save compares against."""
    on_record = (record.status.value if record else "", record.comment if record else "")
    entry = posted.typed.get(membership.user_id)
    if entry is None:
        shown, previous = on_record, on_record
    elif membership.user_id in posted.theirs:
        # Saving again is a deliberate choice to replace what the other facilitator recorded.
        shown, previous = (entry.status.value if entry.status else "", entry.comment), on_record
    else:
        shown = (entry.status.value if entry.status else "", entry.comment)
        previous = (entry.previous_status.value if entry.previous_status else "", entry.previous_comment)
    return {"user_id": membership.user_id, "status": shown[0], "comment": shown[1],
            "previous_status": previous[0], "previous_comment": previous[1]}


def _attendance_entry(row, strict: bool) -> AttendanceEntry | None:
    """One posted row; a row a browser could not have sent (a tampered id or status) is refused as a whole."""
    try:
        return AttendanceEntry(
            user_id=int(row.user_id.data),
            status=AttendanceStatus(row.status.data) if row.status.data else None,
            comment=row.comment.data or "",
            previous_status=AttendanceStatus(row.previous_status.data) if row.previous_status.data else None,
            previous_comment=row.previous_comment.data or "")
    except (TypeError, ValueError):
        if strict:
            abort(400)
        return None


@bp.post("/sessions/<int:occurrence_id>/agenda")
@login_required
def add_agenda_item(occurrence_id: int):
    occurrence = _load_occurrence(occurrence_id)
    policy.require_manage_group(current_user, occurrence.group)
    form = AgendaItemForm()
    if form.validate_on_submit():
        try:
            services.add_agenda_item(current_user, occurrence, title=form.title.data, body=form.body.data or "",
                                     rationale=form.rationale.data or "")
        except rules.GroupError as error:
            flash_refusal(error)
        else:
            flash(_("Added to the agenda."), "info")
    else:
        flash(_("An agenda item needs a title."), "error")
    return redirect(url_for("groups.session_page", occurrence_id=occurrence_id, _anchor="agenda"))


def _load_agenda_item(occurrence, item_id: int):
    for item in occurrence.agenda_items:
        if item.id == item_id:
            return item
    abort(404)


@bp.post("/sessions/<int:occurrence_id>/agenda/<int:item_id>/edit")
@login_required
def edit_agenda_item(occurrence_id: int, item_id: int):
    occurrence = _load_occurrence(occurrence_id)
    policy.require_manage_group(current_user, occurrence.group)
    item = _load_agenda_item(occurrence, item_id)
    # One form per item on the page, told apart by the prefix; the app-wide CSRF check has already run.
    form = AgendaItemForm(prefix=f"item-{item.id}", meta={"csrf": False})
    if form.validate_on_submit():
        try:
            services.update_agenda_item(current_user, item, title=form.title.data, body=form.body.data or "",
                                        rationale=form.rationale.data or "")
        except rules.GroupError as error:
            flash_refusal(error)
        else:
            flash(_("The agenda item is saved."), "info")
    else:
        flash(_("An agenda item needs a title."), "error")
    return redirect(url_for("groups.session_page", occurrence_id=occurrence_id, _anchor=f"agenda-item-{item_id}"))


@bp.post("/sessions/<int:occurrence_id>/agenda/<int:item_id>/delete")
@login_required
def delete_agenda_item(occurrence_id: int, item_id: int):
    occurrence = _load_occurrence(occurrence_id)
    policy.require_manage_group(current_user, occurrence.group)
    item = _load_agenda_item(occurrence, item_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.delete_agenda_item(current_user, item)
    except rules.GroupError as error:
        flash_refusal(error)
    return redirect(url_for("groups.session_page", occurrence_id=occurrence_id, _anchor="agenda"))


@bp.post("/sessions/<int:occurrence_id>/agenda/<int:item_id>/move/<direction>")
@login_required
def move_agenda_item(occurrence_id: int, item_id: int, direction: str):
    occurrence = _load_occurrence(occurrence_id)
    policy.require_manage_group(current_user, occurrence.group)
    item = _load_agenda_item(occurrence, item_id)
    if direction not in ("up", "down") or not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.move_agenda_item(current_user, item, 1 if direction == "down" else -1)
    except rules.GroupError as error:
        flash_refusal(error)
    return redirect(url_for("groups.session_page", occurrence_id=occurrence_id, _anchor="agenda"))


@bp.route("/sessions/<int:occurrence_id>/notes", methods=["GET", "POST"])
@login_required
def notes(occurrence_id: int):
    occurrence = _load_occurrence(occurrence_id)
    group = occurrence.group
    policy.require_read_facilitator_notes(current_user, group)
    members = queries.active_members(group)
    # The choices are the active members: the form refuses anyone else ("Not a valid choice") before this runs.
    form = NoteForm(members=members)
    if form.validate_on_submit():
        member = next((m.user for m in members if m.user_id == form.member_id.data), None)
        try:
            services.add_note(current_user, group, form.body.data, occurrence=occurrence, member=member)
        except rules.GroupError as error:
            show_error(form, error)
        else:
            flash(_("The note is saved. Only this group's facilitators can read it."), "info")
            return redirect(url_for("groups.notes", occurrence_id=occurrence_id))
    return render_template("groups/notes.html", occurrence=occurrence, group=group, form=form,
                           notes=services.read_notes(current_user, group, occurrence=occurrence)), \
        422 if form.errors else 200
