"""Pages: the patient's goals and small wins; a supporter's thoughts on a goal they were asked about."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app import policy
from app.accounts.forms import EmptyForm
from app.extensions import account_or_address, db, limiter
from app.progress import bp, queries, services
from app.progress.forms import AskForm, CommentForm, GoalForm, WinForm
from app.progress.labels import goal_status_label
from app.progress.models import Goal, GoalComment, GoalStatus, SmallWin
from app.web import flash_refusal, show_error

STATUS_FLASHES = {GoalStatus.DONE: _l("Marked as done. That took something."),
                  GoalStatus.SET_ASIDE: _l("Set aside for now; it is here when you want it."),
                  GoalStatus.ACTIVE: _l("Back among your goals.")}


@bp.app_context_processor
def progress_helpers():
    return {"goal_status_label": goal_status_label, "goal_comment_form": _comment_form}


def _comment_form(goal: Goal) -> CommentForm:
    # One form per goal on the supporter's page, told apart by the prefix; the app-wide CSRF check does the rest.
    return CommentForm(prefix=f"goal-{goal.id}", meta={"csrf": False})


def _win_form(goals: list[Goal], **kwargs) -> WinForm:
    form = WinForm(**kwargs)
    form.goal_id.choices = [(0, _("No particular goal"))] + [(g.id, g.title) for g in goals
                                                             if g.status == GoalStatus.ACTIVE]
    return form


def _own_goal(goal_id: int) -> Goal:
    return queries.own_goal(current_user, goal_id)


def patient_panel(user) -> dict:
    goals = queries.active_goals(user)
    return {"active_goals": goals[:3], "active_count": len(goals), "win_form": _win_form(goals),
            "unread": queries.unread_comments(user), "read_form": EmptyForm()}


def _goals_page(goal_form=None, win_form=None, status=200):
    goals = queries.goals_of(current_user)
    return render_template("progress/goals.html", goals=goals, wins=queries.recent_wins(current_user),
                           goal_form=goal_form or GoalForm(), win_form=win_form or _win_form(goals)), status


@bp.get("/goals")
@login_required
def goals():
    policy.require_keep_goals(current_user)
    return _goals_page()


@bp.post("/goals")
@login_required
def create_goal():
    policy.require_keep_goals(current_user)
    form = GoalForm()
    if form.validate_on_submit():
        try:
            goal = services.create_goal(current_user, title=form.title.data, why=form.why.data or "",
                                        next_step=form.next_step.data or "")
        except services.GoalError as error:
            show_error(form, error)
        else:
            flash(_("Your goal is saved."), "info")
            return redirect(url_for("progress.goal", goal_id=goal.id))
    return _goals_page(goal_form=form, status=422)


@bp.post("/goals/wins")
@login_required
def add_win():
    policy.require_keep_goals(current_user)
    goals = queries.goals_of(current_user)
    form = _win_form(goals)
    if form.validate_on_submit():
        goal = queries.goal_of(current_user, form.goal_id.data) if form.goal_id.data else None
        try:
            services.add_win(current_user, form.text.data, goal)
        except services.GoalError as error:
            show_error(form, error)
        else:
            flash(_("Noted. Well done."), "info")
            return redirect(url_for("progress.goal", goal_id=goal.id) if goal else url_for("progress.goals"))
    return _goals_page(win_form=form, status=422)


@bp.post("/goals/comments/read")
@login_required
def comments_read():
    """The thoughts on the home page are read: they leave it (each goal's page keeps them)."""
    policy.require_keep_goals(current_user)
    if EmptyForm().validate_on_submit():
        services.mark_comments_read(current_user)
    return redirect(url_for("accounts.home"))


@bp.post("/goals/wins/<int:win_id>/delete")
@login_required
def delete_win(win_id: int):
    policy.require_keep_goals(current_user)
    win = queries.win_of(current_user, win_id)
    if win is None:
        policy.hidden(SmallWin, win_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    goal_id = win.goal_id
    services.delete_win(current_user, win)
    flash(_("The small win is removed."), "info")
    return redirect(url_for("progress.goal", goal_id=goal_id) if goal_id else url_for("progress.goals"))


def _goal_page(goal: Goal, goal_form=None, ask_form=None, status=200):
    ask_form = ask_form or AskForm()
    ask_form.supporter_id.choices = [(s.id, s.display_name) for s in queries.askable_supporters(current_user, goal)]
    return render_template("progress/goal.html", goal=goal, goal_form=goal_form or GoalForm(obj=goal),
                           win_form=_win_form([goal], goal_id=goal.id), ask_form=ask_form,
                           asked=queries.asked_supporters(goal), empty_form=EmptyForm()), status


@bp.get("/goals/<int:goal_id>")
@login_required
def goal(goal_id: int):
    return _goal_page(_own_goal(goal_id))


@bp.post("/goals/<int:goal_id>")
@login_required
def update_goal(goal_id: int):
    goal = _own_goal(goal_id)
    form = GoalForm()
    if form.validate_on_submit():
        try:
            services.update_goal(current_user, goal, title=form.title.data, why=form.why.data or "",
                                 next_step=form.next_step.data or "")
        except services.GoalError as error:
            show_error(form, error)
        else:
            flash(_("Your goal is saved."), "info")
            return redirect(url_for("progress.goal", goal_id=goal.id))
    return _goal_page(goal, goal_form=form, status=422)


@bp.post("/goals/<int:goal_id>/status/<status>")
@login_required
def set_status(goal_id: int, status: str):
    goal = _own_goal(goal_id)
    if status not in {s.value for s in GoalStatus}:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.update_goal(current_user, goal, status=GoalStatus(status))
    flash(str(STATUS_FLASHES[GoalStatus(status)]), "info")
    return redirect(url_for("progress.goal", goal_id=goal.id))


@bp.post("/goals/<int:goal_id>/ask")
@login_required
@limiter.limit("60 per hour", key_func=account_or_address)
def ask(goal_id: int):
    goal = _own_goal(goal_id)
    form = AskForm()
    askable = {s.id: s for s in queries.askable_supporters(current_user, goal)}
    form.supporter_id.choices = [(s.id, s.display_name) for s in askable.values()]
    if form.validate_on_submit():
        # Anyone else (not in the circle, no longer seeing the goal, not a number the database holds) is None: the
        # service refuses it with words that say why.
        supporter = askable.get(form.supporter_id.data)
        try:
            services.ask_for_thoughts(current_user, goal, supporter)
        except services.GoalError as error:
            show_error(form, error)
        else:
            flash(_("%(name)s can now add their thoughts on this goal.", name=supporter.display_name), "info")
            return redirect(url_for("progress.goal", goal_id=goal.id))
    return _goal_page(goal, ask_form=form, status=422)


@bp.post("/goals/<int:goal_id>/ask/<int:supporter_id>/stop")
@login_required
def stop_asking(goal_id: int, supporter_id: int):
    goal = _own_goal(goal_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.stop_asking(current_user, goal, supporter_id)
    flash(_("They can no longer add thoughts on this goal."), "info")
    return redirect(url_for("progress.goal", goal_id=goal.id))


@bp.post("/goals/<int:goal_id>/comments/<int:comment_id>/delete")
@login_required
def delete_comment(goal_id: int, comment_id: int):
    goal = _own_goal(goal_id)
    comment = queries.comment_on(goal, comment_id)
    if comment is None:
        # A comment on another goal (another patient's, say) is a refusal in the audit trail, with whose it is.
        other = db.session.get(GoalComment, comment_id)
        if other is None:
            abort(404)
        raise policy.Denied(subject_id=other.goal.patient_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.delete_comment(current_user, comment)
    flash(_("The comment is removed."), "info")
    return redirect(url_for("progress.goal", goal_id=goal.id))


# The supporter --------------------------------------------------------------------------------------------------------


@bp.post("/shared/<int:patient_id>/goals/<int:goal_id>/comments")
@login_required
@limiter.limit("30 per hour", key_func=account_or_address)
def comment(patient_id: int, goal_id: int):
    goal = db.session.get(Goal, goal_id)
    if goal is None or goal.patient_id != patient_id:
        raise policy.Denied(subject_id=patient_id)
    policy.require_comment_on_goal(current_user, goal)
    form = _comment_form(goal)
    if form.validate_on_submit():
        try:
            services.add_comment(current_user, goal, form.body.data)
        except services.GoalError as error:
            flash_refusal(error)
        else:
            flash(_("Your thoughts are sent."), "info")
    else:
        flash(_("Write your thoughts in a few words (up to %(n)d characters).", n=500), "error")
    return redirect(url_for("supporters.shared", patient_id=patient_id, _anchor=f"goal-{goal.id}"))
