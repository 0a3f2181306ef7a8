"""Pages: a member's pairs and the pair space; a group's pairs for its facilitators (suggestions, proposals,
engagement) and the items of a reported concern."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import policy
from app.accounts.forms import EmptyForm
from app.groups import queries as group_queries
from app.groups.models import MembershipStatus, TherapyGroup
from app.peers import bp, queries, services
from app.peers.forms import PeerCheckInForm, ProposeForm, RhythmForm, ShareGoalForm
from app.peers.labels import (
    WEEKDAYS,
    concern_kind_label,
    end_reason_label,
    facilitator_status_label,
    free_together_label,
    member_status_label,
    reaction_label,
)
from app.peers.models import ConcernKind, PeerConcern, PeerPair, ReactionKind
from app.peers.risk import DEFAULT_RISK_PHRASES
from app.progress import queries as progress_queries
from app.progress.models import Goal
from app.refusal import Refusal
from app.web import flash_refusal, show_error


@bp.app_context_processor
def peer_helpers():
    return {"peer_status_label": member_status_label, "pair_status_label": facilitator_status_label,
            "end_reason_label": end_reason_label, "reaction_label": reaction_label,
            "concern_kind_label": concern_kind_label, "weekday_label": lambda i: str(WEEKDAYS[i]),
            "peer_alert_url": peer_alert_url, "default_risk_phrases": DEFAULT_RISK_PHRASES,
            "free_together_label": free_together_label}


def peer_alert_url(alert) -> str:
    """Where a peer alert leads a facilitator: straight to its concern (the group's pairs if it has none)."""
    found = queries.concern_of_alert(alert.id)
    if found is None:
        return url_for("peers.group_pairs", group_id=alert.group_id)
    return url_for("peers.concern", concern_id=found.id)


def patient_panel(user) -> dict:
    pairs = [p for p in queries.pairs_of(user) if p.status.value != "ended"]
    return {"pairs": pairs, "names": {p.id: _peer_name(p, user) for p in pairs},
            "statuses": {p.id: queries.status_for(p, user.id) for p in pairs},
            "nudges": {p.id for p in pairs if queries.needs_nudge(p, user)}}


def _peer_name(pair: PeerPair, user) -> str:
    other = pair.other(user.id)
    return queries.shown_name(other.user_id, pair.group_id) if other else ""


def _my_pair(pair_id: int) -> PeerPair:
    pair = queries.pair_in_organisation(pair_id, current_user.organisation_id)
    if pair is None:
        policy.hidden(PeerPair, pair_id)
    policy.require_pair_member(current_user, pair)
    return pair


def _facilitated_group(group_id: int) -> TherapyGroup:
    group = group_queries.group_in_organisation(group_id, current_user.organisation_id)
    if group is None:
        policy.hidden(TherapyGroup, group_id)
    policy.require_manage_group(current_user, group)
    return group


def _back(pair: PeerPair):
    return redirect(url_for("peers.pair", pair_id=pair.id))


@bp.get("/peers")
@login_required
def index():
    policy.require_use(current_user, "peers")
    pairs = queries.pairs_of(current_user)
    return render_template("peers/index.html", pairs=pairs,
                           names={p.id: _peer_name(p, current_user) for p in pairs},
                           statuses={p.id: queries.status_for(p, current_user.id) for p in pairs})


def _space(pair: PeerPair, checkin_form=None, show_crisis=False, status=200):
    user = current_user
    shares = queries.shared_goals(pair) if pair.is_open else []
    share_form = ShareGoalForm()
    share_form.goal_id.choices = [(g.id, g.title) for g in queries.shareable_goals(user, pair)]
    _last, upcoming = queries.rhythm_times(pair)
    rhythm = None
    if upcoming is not None:
        local = upcoming.astimezone(ZoneInfo(user.zone))
        rhythm = {"day": str(WEEKDAYS[local.weekday()]), "time": local.strftime("%H:%M"), "next": upcoming}
    rhythm_form = RhythmForm(weekday=str(pair.rhythm_weekday) if pair.rhythm_weekday is not None else "",
                             time=pair.rhythm_time or "")
    checkins = queries.checkins(pair) if pair.is_open else []
    return render_template(
        "peers/pair.html", pair=pair, peer_name=_peer_name(pair, user), status=queries.status_for(pair, user.id),
        checkins=checkins, checkin_form=checkin_form or PeerCheckInForm(), shares=shares,
        wins=queries.recent_wins([s.goal_id for s in shares]), share_form=share_form, rhythm_form=rhythm_form,
        rhythm=rhythm, nudge=queries.needs_nudge(pair, user), show_crisis=show_crisis,
        reactions=list(ReactionKind), form=EmptyForm(),
        peer_checkins=[c for c in checkins if c.author_id != user.id]), status


@bp.get("/peers/<int:pair_id>")
@login_required
def pair(pair_id: int):
    return _space(_my_pair(pair_id))


@bp.post("/peers/<int:pair_id>/answer")
@login_required
def answer(pair_id: int):
    pair = _my_pair(pair_id)
    accept = request.form.get("accept") == "yes"
    try:
        services.respond(current_user, pair, accept)
    except Refusal as error:
        flash_refusal(error)
    else:
        flash(_("Thank you. You can start when your peer says yes too.") if accept
              else _("Thank you for letting us know."), "info")
    return _back(pair) if accept else redirect(url_for("peers.index"))


def _simple(pair_id: int, action, done: str):
    pair = _my_pair(pair_id)
    try:
        action(current_user, pair)
    except Refusal as error:
        flash_refusal(error)
    else:
        flash(done, "info")
    return pair


@bp.post("/peers/<int:pair_id>/pause")
@login_required
def pause(pair_id: int):
    return _back(_simple(pair_id, services.pause, _("Paused. Resume whenever you like.")))


@bp.post("/peers/<int:pair_id>/resume")
@login_required
def resume(pair_id: int):
    return _back(_simple(pair_id, services.resume, _("Welcome back.")))


@bp.post("/peers/<int:pair_id>/leave")
@login_required
def leave(pair_id: int):
    _simple(pair_id, services.leave, _("You have left this pair."))
    return redirect(url_for("peers.index"))


@bp.post("/peers/<int:pair_id>/block")
@login_required
def block(pair_id: int):
    _simple(pair_id, services.block, _("Blocked. This pair has ended and you will not be paired again."))
    return redirect(url_for("peers.index"))


@bp.post("/peers/<int:pair_id>/rhythm")
@login_required
def rhythm(pair_id: int):
    pair = _my_pair(pair_id)
    form = RhythmForm()
    weekday = form.weekday.data
    try:
        services.set_rhythm(current_user, pair, int(weekday) if weekday and weekday.isdigit() else weekday,
                            form.time.data or "")
    except Refusal as error:
        flash_refusal(error)
    else:
        flash(_("Your check-in rhythm is saved."), "info")
    return _back(pair)


@bp.post("/peers/<int:pair_id>/checkins")
@login_required
def checkin(pair_id: int):
    pair = _my_pair(pair_id)
    form = PeerCheckInForm()
    if form.validate_on_submit():
        try:
            _checkin, risky = services.add_checkin(
                current_user, pair, tried=form.tried.data or "", how_it_went=form.how_it_went.data or "",
                whats_next=form.whats_next.data or "", client_id=request.form.get("client_id") or None)
        except Refusal as error:
            show_error(form, error)
        else:
            if risky:
                return _space(pair, show_crisis=True)
            flash(_("Shared with your peer."), "info")
            return _back(pair)
    return _space(pair, checkin_form=form, status=422)


@bp.post("/peers/<int:pair_id>/checkins/<int:checkin_id>/reactions/<kind>")
@login_required
def react(pair_id: int, checkin_id: int, kind: str):
    pair = _my_pair(pair_id)
    if kind not in {k.value for k in ReactionKind}:
        abort(404)
    found = queries.checkin_in_pair(pair, checkin_id)
    if found is None:
        flash(_("This check-in is no longer here."), "error")
        return _back(pair)
    try:
        services.react(current_user, found, ReactionKind(kind))
    except Refusal as error:
        flash_refusal(error)
    return _back(pair)


@bp.post("/peers/<int:pair_id>/goals")
@login_required
def share_goal(pair_id: int):
    pair = _my_pair(pair_id)
    form = ShareGoalForm()
    goal = progress_queries.goal_of(current_user, form.goal_id.data) if form.validate_on_submit() else None
    try:
        if goal is None:
            raise services.PeerRefusal(_("Choose one of your active goals."), field="goal_id", code="invalid_goal")
        services.share_goal(current_user, pair, goal)
    except Refusal as error:
        flash_refusal(error)
    else:
        flash(_("Your peer can see this goal and its small wins now."), "info")
    return _back(pair)


@bp.post("/peers/<int:pair_id>/goals/<int:share_id>/stop")
@login_required
def stop_sharing(pair_id: int, share_id: int):
    pair = _my_pair(pair_id)
    share = queries.shared_goal_in_pair(pair, share_id)
    if share is None:
        policy.hidden(Goal, share_id)
    try:
        services.stop_sharing(current_user, share)
    except Refusal as error:
        flash_refusal(error)
    else:
        flash(_("Your peer no longer sees this goal."), "info")
    return _back(pair)


def _ids(name: str) -> list[int]:
    return [int(v) for v in request.form.getlist(name) if v.isdigit() and len(v) < 10]


@bp.post("/peers/<int:pair_id>/concerns")
@login_required
def report(pair_id: int):
    pair = _my_pair(pair_id)
    kind = ConcernKind.WORRIED if request.form.get("kind") == "worried" else ConcernKind.CONCERN
    try:
        services.report_concern(current_user, pair, kind, checkin_ids=_ids("checkin_id"),
                                message_ids=_ids("message_id"))
    except Refusal as error:
        flash_refusal(error)
    else:
        flash(_("Thank you. The group's facilitators have been told; your peer is not told who told them."), "info")
    return _back(pair)


# Facilitators --------------------------------------------------------------------------------------------------------


def _propose_form(group: TherapyGroup, **kwargs) -> ProposeForm:
    form = ProposeForm(**kwargs)
    choices = [(m.user_id, m.shown_name) for m in group_queries.active_members(group)
               if m.status == MembershipStatus.ACTIVE]
    form.first_id.choices = form.second_id.choices = choices
    if not form.is_submitted() and len(choices) >= 2:
        # Two different people from the start: the same member twice is a proposal the check must refuse.
        form.first_id.data = form.first_id.data or choices[0][0]
        form.second_id.data = form.second_id.data or choices[1][0]
    return form


def _group_page(group: TherapyGroup, form=None, status=200):
    pairs = queries.pairs_of_group(group)
    names = {m.user_id: m.shown_name for m in group.memberships}
    return render_template("peers/group.html", group=group, pairs=pairs, names=names,
                           engagement=queries.engagement(pairs),
                           suggestions=queries.suggestions(group, current_user.zone),
                           concerns=queries.concerns_of_group(group), form=form or _propose_form(group),
                           end_form=EmptyForm()), status


@bp.get("/groups/<int:group_id>/peers")
@login_required
def group_pairs(group_id: int):
    return _group_page(_facilitated_group(group_id))


@bp.post("/groups/<int:group_id>/peers")
@login_required
def propose(group_id: int):
    group = _facilitated_group(group_id)
    form = _propose_form(group)
    if form.validate_on_submit():
        weekday = form.weekday.data
        try:
            services.propose_pair(current_user, group, form.first_id.data, form.second_id.data,
                                  weekday=int(weekday) if weekday and weekday.isdigit() else None,
                                  at=form.time.data or None)
        except Refusal as error:
            show_error(form, error)
        else:
            flash(_("Proposed. Each member answers privately."), "info")
            return redirect(url_for("peers.group_pairs", group_id=group.id))
    return _group_page(group, form=form, status=422)


@bp.post("/peers/<int:pair_id>/end")
@login_required
def end(pair_id: int):
    pair = queries.pair_in_organisation(pair_id, current_user.organisation_id)
    if pair is None:
        policy.hidden(PeerPair, pair_id)
    policy.require_manage_group(current_user, pair.group)
    try:
        services.end_pair(current_user, pair)
    except Refusal as error:
        flash_refusal(error)
    else:
        flash(_("The pair has ended."), "info")
    return redirect(url_for("peers.group_pairs", group_id=pair.group_id))


@bp.get("/peers/concerns/<int:concern_id>")
@login_required
def concern(concern_id: int):
    found = queries.concern_in_organisation(concern_id, current_user.organisation_id)
    if found is None:
        policy.hidden(PeerConcern, concern_id)
    policy.require_manage_group(current_user, found.pair.group)
    checkins, messages = services.read_concern(current_user, found)
    return render_template("peers/concern.html", concern=found, checkins=checkins, messages=messages,
                           names={m.user_id: m.shown_name for m in found.pair.group.memberships})
