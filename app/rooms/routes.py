"""Pages of the live room, of check-ins between sessions and of safety alerts."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import policy
from app.accounts.forms import EmptyForm
from app.extensions import account_or_address, limiter
from app.groups import queries as group_queries
from app.groups import services as group_services
from app.groups.models import SessionOccurrence
from app.refusal import Refusal
from app.rooms import alerts, attention, bp, labels, queries, services
from app.rooms.forms import AlertNoteForm, CheckInForm
from app.rooms.models import ALERT_NOTE_MAX, SafetyAlert
from app.web import flash_refusal, redirect_next


def _load_occurrence(occurrence_id: int):
    return (group_queries.occurrence_in_organisation(occurrence_id, current_user.organisation_id)
            or policy.hidden(SessionOccurrence, occurrence_id))


@bp.app_context_processor
def room_helpers():
    return {"room_label": labels.label}


# The facilitator's home page ------------------------------------------------------------------------------------------


def facilitator_now_panel(user) -> dict:
    """What is on now, with its live room, and the rest of today's sessions."""
    return queries.facilitator_day(user, group_queries.groups_for_facilitator(user))


def facilitator_attention_panel(user) -> dict:
    """Members who may need a word. Their moods are a read of their check-ins, so it is audited; the missed sessions
    come from the attendance records the groups panel on the same page reads and audits (engagement_read)."""
    groups = [g for g in group_queries.groups_for_facilitator(user) if not g.is_closed_for_changes]
    concerns = attention.members_to_contact(groups)
    group_services.record_facilitator_read(
        user, "checkin_read", target="dashboard", member_ids=[c.user_id for c in concerns if c.low_moods],
        details={"low_moods": {"at_most": attention.LOW_MOOD_AT_MOST, "days": attention.LOW_MOOD_DAYS}})
    return {"concerns": concerns, "low_mood_at_most": attention.LOW_MOOD_AT_MOST,
            "low_mood_days": attention.LOW_MOOD_DAYS}


@bp.get("/sessions/<int:occurrence_id>/room")
@login_required
def live_room(occurrence_id: int):
    occurrence = _load_occurrence(occurrence_id)
    if occurrence.is_circle:
        return redirect(url_for("peers.circle", circle_id=occurrence.id))
    group = occurrence.group
    policy.require_enter_live_room(current_user, group)
    facilitator = policy.can_manage_group(current_user, group)
    return render_template("rooms/room.html", occurrence=occurrence, group=group, facilitator=facilitator,
                           i18n=room_texts())


def room_texts() -> dict:
    """Words the room's script shows, translated here so the script carries none."""
    return {
        "connected": _("Connected"), "reconnecting": _("Reconnecting… your check-in is kept and will be sent."),
        "closed": _("The room is closed."), "open": _("The room is open."),
        "saved": _("Your check-in is saved."), "pending": _("Sending your check-in…"),
        "passed": _("Passed"), "checked_in": _("Checked in"), "mood": _("Mood"), "energy": _("Energy"),
        "low": _("low"), "medium": _("medium"), "high": _("high"), "speaker": _("Speaking now"),
        "nobody": _("Nobody yet"), "hand_up": _("Raise my hand"), "hand_down": _("Lower my hand"),
        "support_sent": _("Your facilitator has been told privately. You are not alone."),
        "support_sending": _("Letting your facilitator know…"), "signed_out": _("You are signed out."),
        "acknowledge": _("Acknowledge"), "acknowledged": _("Acknowledged"), "need_support": _("needs support now"),
        "low_mood": _("checked in with a very low mood"), "left_early": _("Mark as left early"),
        "lower_hand": _("Lower hand"), "you": _("you"), "skipped": _("skipped"), "error": _("Something went wrong."),
        "facilitator": _("facilitator"),
        "mood_line": _("Mood %(mood)s/10, %(word)s", mood="{mood}", word="{word}"),
        "mood_words": [labels.mood_word(n) for n in range(11)],
        "support_seen": _("%(name)s has seen your message and will be in touch.", name="{name}"),
        "here": _("Here"), "away": _("Not here"), "left_early_badge": _("Left early"),
        "not_checked_in": _("Not checked in yet"), "hand_raised": _("Hand raised"),
        "alert_need_support": _("Needs support now"), "alert_low_mood": _("Very low mood"),
        "members_here": _("%(here)s of %(all)s here", here="{here}", all="{all}"),
        "turn": _("Turn %(n)s in the round", n="{n}"),
    }


@bp.get("/checkins")
@login_required
def my_checkins():
    if not policy.can_check_in_between_sessions(current_user):
        abort(403)
    return render_template("rooms/checkins.html", checkins=queries.history(current_user),
                           form=CheckInForm(), empty_form=EmptyForm())


@bp.post("/checkins")
@login_required
@limiter.limit("60 per hour", key_func=account_or_address)
def create_checkin():
    if not policy.can_check_in_between_sessions(current_user):
        abort(403)
    form = CheckInForm()
    if not form.validate_on_submit():
        flash(_("Choose a mood from 0 to 10, or pass."), "error")
        return redirect(url_for("accounts.home"))
    try:
        result = services.record_checkin(
            current_user, client_id=form.client_id.data, passed=form.passed.data == "1",
            mood=form.mood.data if form.passed.data != "1" else None, energy=form.energy.data or None,
            note=form.note.data or "")
    except services.CheckInError as error:
        flash_refusal(error)
        return redirect(url_for("accounts.home"))
    if result.distress:  # the crisis resources, whether or not a facilitator could be alerted
        session["show_support"] = "alerted" if result.alerts else "resources"
    flash(_("Thank you for checking in."), "info")
    return redirect(url_for("accounts.home"))


def _alert(alert_id: int) -> SafetyAlert:
    alert = (queries.alert_in_organisation(alert_id, current_user.organisation_id)
             or policy.hidden(SafetyAlert, alert_id))
    policy.require_acknowledge_alert(current_user, alert)
    return alert


def _note_form() -> AlertNoteForm | None:
    """The submitted note, or None (with the reason flashed) when it is too long: nothing is written then."""
    form = AlertNoteForm()
    if form.validate_on_submit():
        return form
    if "csrf_token" in form.errors or not form.is_submitted():
        abort(400)
    flash(_("Keep the note to %(n)d characters.", n=ALERT_NOTE_MAX), "error")
    return None


@bp.get("/alerts")
@login_required
def alerts_history():
    """The safety alerts of the groups one runs, newest first: who raised them and when, who acknowledged them and
    when, and what was done."""
    policy.require_follow_alerts(current_user)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    found, names, more = queries.alert_history(current_user, page)
    return render_template("rooms/alerts.html", alerts=found, names=names, page=page, more=more,
                           form=AlertNoteForm(), note_max=ALERT_NOTE_MAX)


@bp.post("/alerts/<int:alert_id>/acknowledge")
@login_required
def acknowledge_alert(alert_id: int):
    alert = _alert(alert_id)
    form = _note_form()
    if form is None:
        return redirect_next(request.args.get("next"))
    try:
        alerts.acknowledge_alert(current_user, alert, form.note.data)
    except Refusal as error:
        flash_refusal(error)
        return redirect_next(request.args.get("next"))
    flash(_("The alert is acknowledged."), "info")
    return redirect_next(request.args.get("next"))


@bp.post("/alerts/<int:alert_id>/note")
@login_required
def note_alert(alert_id: int):
    """A note of what was done, added to an acknowledged alert that has none."""
    alert = _alert(alert_id)
    form = _note_form()
    back = url_for("rooms.alerts_history", _anchor=f"alert-{alert.id}")
    if form is None:
        return redirect(back)
    try:
        alerts.add_note(current_user, alert, form.note.data)
    except Refusal as error:
        flash_refusal(error)
        return redirect(back)
    flash(_("The note is saved."), "info")
    return redirect(back)
