"""Pages of the check-in circles: a group's circles (scheduled by its facilitators, joined by its members) and the
circle itself, the live room's page with no facilitator controls (app/static/js/room.js makes it live)."""

from __future__ import annotations

from datetime import datetime

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import policy
from app.accounts.forms import EmptyForm
from app.extensions import account_or_address, limiter
from app.groups import queries as group_queries
from app.groups.models import SessionOccurrence, TherapyGroup
from app.groups.rules import GroupError
from app.models_base import utcnow
from app.peers import bp, circles
from app.peers.circle_forms import CircleForm, MembersStartForm
from app.rooms.routes import room_texts
from app.web import flash_refusal, show_error


@bp.app_context_processor
def circle_helpers():
    return {"circle_on_now": lambda group: next((c for c in circles.circles_on_now(current_user)
                                                  if c.group_id == group.id), None)}


def _group(group_id: int) -> TherapyGroup:
    group = (group_queries.group_in_organisation(group_id, current_user.organisation_id)
             or policy.hidden(TherapyGroup, group_id))
    policy.require_enter_live_room(current_user, group)
    return group


def _circle(circle_id: int) -> SessionOccurrence:
    circle = (circles.circle_in_organisation(circle_id, current_user.organisation_id)
              or policy.hidden(SessionOccurrence, circle_id))
    policy.require_enter_live_room(current_user, circle.group)
    return circle


def _circles_page(group: TherapyGroup, form: CircleForm, status: int = 200):
    return render_template("peers/circles.html", group=group, form=form, empty_form=EmptyForm(),
                           circles=circles.circles_to_come(group), is_on=circles.is_on,
                           may_start=circles.may_start_circle(current_user, group),
                           switch_form=MembersStartForm(allowed=group.members_start_circles),
                           facilitator=policy.can_manage_group(current_user, group)), status


@bp.get("/groups/<int:group_id>/circles")
@login_required
def group_circles(group_id: int):
    return _circles_page(_group(group_id), CircleForm())


@bp.post("/groups/<int:group_id>/circles")
@login_required
@limiter.limit("60 per hour", key_func=account_or_address)
def schedule_circle(group_id: int):
    group = _group(group_id)
    policy.require_manage_group(current_user, group)
    form = CircleForm()
    if form.validate_on_submit():
        try:
            circles.schedule_circle(current_user, group, start_local=datetime.combine(form.date.data, form.time.data),
                                    duration_minutes=form.duration_minutes.data)
        except GroupError as error:
            show_error(form, error)
        else:
            flash(_("The check-in circle is scheduled."), "info")
            return redirect(url_for("peers.group_circles", group_id=group.id))
    return _circles_page(group, form, 422)


@bp.post("/groups/<int:group_id>/circles/members-start")
@login_required
def members_start(group_id: int):
    """The facilitator's switch: members may start a circle now, or only join the scheduled ones."""
    group = _group(group_id)
    policy.require_manage_group(current_user, group)
    form = MembersStartForm()
    if form.validate_on_submit():
        try:
            circles.set_members_start(current_user, group, form.allowed.data)
        except GroupError as error:
            flash_refusal(error)
        else:
            flash(_("Members can now start a check-in circle.") if form.allowed.data
                  else _("Members join the scheduled check-in circles only."), "info")
    return redirect(url_for("peers.group_circles", group_id=group.id))


@bp.post("/groups/<int:group_id>/circles/start")
@login_required
@limiter.limit("20 per hour", key_func=account_or_address)
def start_circle(group_id: int):
    group = _group(group_id)
    if not circles.may_start_circle(current_user, group):
        raise policy.Denied()
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("peers.group_circles", group_id=group.id))
    circle = circles.start_circle(current_user, group)
    return redirect(url_for("peers.circle", circle_id=circle.id))


@bp.post("/circles/<int:circle_id>/cancel")
@login_required
def cancel_circle(circle_id: int):
    circle = _circle(circle_id)
    policy.require_manage_group(current_user, circle.group)
    if EmptyForm().validate_on_submit():
        circles.cancel_circle(current_user, circle)
        flash(_("The check-in circle is cancelled."), "info")
    return redirect(url_for("peers.group_circles", group_id=circle.group_id))


@bp.get("/circles/<int:circle_id>")
@login_required
def circle(circle_id: int):
    """The circle, from its start to its end; before or after, the group's circles with the reason."""
    circle = _circle(circle_id)
    try:
        # A circle's way in is its time alone (no room to open): the page makes no room, the socket does on entering.
        policy.require_enter_room(current_user, circle, None, utcnow())
    except policy.RoomNotOpen as error:
        flash_refusal(error)
        return redirect(url_for("peers.group_circles", group_id=circle.group_id))
    return render_template("peers/circle.html", occurrence=circle, group=circle.group,
                           looking_in=policy.can_manage_group(current_user, circle.group), i18n=room_texts())
