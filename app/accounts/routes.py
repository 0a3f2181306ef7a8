"""Pages: sign-in and out, passwords, profile and tokens, invitations, the home page per role, organisation admin."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app import audit, policy
from app.accounts import bp, passwords, queries, second_factor, services
from app.accounts.forms import (
    AcceptInvitationForm,
    ApiTokenForm,
    ChangePasswordForm,
    CrisisResourcesForm,
    EmptyForm,
    FinishJoiningForm,
    ForgotPasswordForm,
    InviteStaffForm,
    JoinByEmailForm,
    LanguageForm,
    LoginForm,
    OrganisationForm,
    PeopleFilterForm,
    ProfileForm,
    ResetPasswordForm,
)
from app.accounts.labels import DAY_LABELS
from app.accounts.models import ApiToken, Invitation, RoleName, User
from app.accounts.security_routes import begin_second_step, login_limits
from app.extensions import account_or_address, limiter
from app.links import external_url
from app.models_base import utcnow
from app.web import flash_refusal, is_safe_next, panels_for, redirect_next, show_error

NOTIFICATION_FIELDS = ("email_reminders", "email_messages", "in_app")


def _login_limit_key() -> str:
    return "login-email:" + (request.form.get("email") or "").strip().lower()[:254]


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    role = current_user.role
    if role is None:
        abort(403)
    return render_template(f"accounts/home_{role.value}.html", organisation=current_user.organisation,
                           panels=panels_for(current_user))


@bp.route("/login", methods=["GET", "POST"])
@login_limits(_login_limit_key)
def login():
    if current_user.is_authenticated:
        return redirect_next(request.args.get("next"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None and second_factor.has_second_factor(user):
            return begin_second_step(user, form.next.data)
        if user is not None:
            services.start_login_session(user, request.headers.get("User-Agent", ""))
            session.clear()
            login_user(user)
            return redirect_next(form.next.data)
        # The account that was tried, if there is one, so that guessing against an account shows in its trail.
        audit.record("login", outcome="failure", subject=queries.account_with_email(form.email.data),
                     details={"reason": "credentials"})
        flash(_("That email and password do not match an active account."), "error")
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    if current_user.login_session is not None:
        services.end_login_session(current_user.login_session, "logout")
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    response = redirect(url_for("accounts.login"))
    # What the pages kept in the browser (a check-in waiting to be sent, its note) goes with the login: on a shared
    # computer the next person must not find it, or send it as their own.
    response.headers["Clear-Site-Data"] = '"storage"'
    return response


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("5 per 15 minutes", methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        passwords.request_password_reset(form.email.data)
        return render_template("accounts/reset_sent.html")
    return render_template("accounts/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit("10 per 15 minutes", methods=["POST"])
def reset_password(token: str):
    reset = passwords.find_password_reset(token)
    if reset is None:
        return render_template("accounts/reset_invalid.html"), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            passwords.reset_password(reset, form.password.data)
        except services.AccountError as error:
            show_error(form, error)
        else:
            flash(_("Your password is changed. Sign in with the new one."), "info")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form)


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    prefs = current_user.notification_prefs or {}
    if request.method == "GET":
        form = ProfileForm(obj=current_user, **{k: prefs.get(k, True) for k in NOTIFICATION_FIELDS})
    else:
        form = ProfileForm(timezone=current_user.timezone)  # the stored zone, which may stay as it is
    if form.validate_on_submit():
        try:
            services.update_profile(
                current_user,
                display_name=form.display_name.data,
                pronouns=form.pronouns.data or "",
                timezone=form.timezone.data,
                locale=form.locale.data,
                low_energy=form.low_energy.data,
                notification_prefs={k: getattr(form, k).data for k in NOTIFICATION_FIELDS},
                availability=form.availability.data or [],
            )
        except services.AccountError as error:
            show_error(form, error)
        else:
            flash(_("Your profile is saved."), "info")
            return redirect(url_for("accounts.profile"))
    return _render_profile(form=form)


def _render_profile(**forms):
    forms.setdefault("form", ProfileForm(obj=current_user))
    forms.setdefault("password_form", ChangePasswordForm())
    forms.setdefault("token_form", ApiTokenForm())
    return render_template("accounts/profile.html", tokens=queries.tokens_of(current_user), now=utcnow(),
                           day_labels=DAY_LABELS,
                           empty_form=EmptyForm(), new_token=session.pop("new_token", None), **forms)


@bp.route("/profile/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        organisation_id, factor = user.organisation_id, user.login_session.second_factor
        try:
            passwords.change_password(user, form.current_password.data, form.password.data)
        except services.AccountError as error:
            show_error(form, error)
        else:
            # The old login ended with the change; this device continues on a new one (session rotation).
            services.start_login_session(user, request.headers.get("User-Agent", ""), organisation_id=organisation_id,
                                         second_factor=factor)
            session.clear()
            login_user(user)
            flash(_("Your password is changed. Other devices have been signed out."), "info")
            return redirect(url_for("accounts.profile"))
    return render_template("accounts/change_password.html", form=form)


@bp.post("/profile/tokens")
@login_required
@limiter.limit("10 per hour", key_func=account_or_address)
def create_token():
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _render_profile(token_form=form), 422
    if not second_factor.login_has_both_factors(current_user):
        form.name.errors.append(_("Sign out and in again with your second factor to create a token."))
        return _render_profile(token_form=form), 403
    _token, raw = services.create_api_token(current_user, form.name.data)
    # Shown once, on the next page, then only its prefix remains.
    session["new_token"] = raw
    return redirect(url_for("accounts.profile", _anchor="tokens"))


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    token = queries.token_of(current_user, token_id) or policy.hidden(ApiToken, token_id)
    services.revoke_api_token(current_user, token)
    flash(_("The token is revoked."), "info")
    return redirect(url_for("accounts.profile", _anchor="tokens"))


@bp.post("/language")
def set_language():
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    session["lang"] = form.locale.data
    if current_user.is_authenticated:
        current_user.locale = form.locale.data
    return redirect_next(form.next.data)


def _unusable_invitation(invitation):
    """The page for an invitation that cannot be taken up (unknown, used, expired, withdrawn), or None."""
    try:
        services.check_invitation_usable(invitation)
    except services.AccountError as error:
        status = 404 if invitation is None else 410
        return render_template("accounts/invitation_unusable.html", message=error.message), status
    return None


def _joined(invitation, user):
    services.start_login_session(user, request.headers.get("User-Agent", ""),
                                 organisation_id=invitation.organisation_id)
    session.clear()
    login_user(user)
    flash(_("Welcome to %(organisation)s.", organisation=invitation.organisation.name), "info")
    return redirect(url_for("accounts.home"))


@bp.route("/invitations/<code>", methods=["GET", "POST"])
@limiter.limit("20 per 15 minutes", methods=["POST"])
def accept_invitation(code: str):
    invitation = services.find_invitation(code)
    unusable = _unusable_invitation(invitation)
    if unusable is not None:
        return unusable
    if current_user.is_authenticated:
        form = EmptyForm()
        if form.validate_on_submit():
            try:
                services.accept_invitation(invitation, user=current_user)
            except services.AccountError as error:
                flash_refusal(error)
            else:
                flash(_("Welcome to %(organisation)s.", organisation=invitation.organisation.name), "info")
                return redirect(url_for("accounts.home"))
        return render_template("accounts/accept_invitation.html", invitation=invitation, form=form, signed_in=True)
    login_next = request.path if is_safe_next(request.path) else None
    if not invitation.email:
        # A code to share: whoever holds it learns nothing about which addresses have accounts. The address gets a
        # link, to finish joining or to sign in and accept, and this page says the same either way.
        form = JoinByEmailForm()
        if form.validate_on_submit():
            services.send_joining_email(invitation, code, form.email.data)
            return render_template("accounts/joining_email_sent.html", invitation=invitation,
                                   email=services.normalise_email(form.email.data))
        return render_template("accounts/accept_invitation.html", invitation=invitation, form=form, signed_in=False,
                               ask_email=True, login_next=login_next)
    form = AcceptInvitationForm(email=invitation.email)
    if form.validate_on_submit():
        try:
            user = services.accept_invitation(
                invitation, email=form.email.data, password=form.password.data,
                display_name=form.display_name.data, timezone=form.timezone.data,
                locale=str(get_locale()),
            )
        except services.AccountError as error:
            show_error(form, error)
        else:
            return _joined(invitation, user)
    return render_template("accounts/accept_invitation.html", invitation=invitation, form=form, signed_in=False,
                           login_next=login_next)


@bp.route("/invitations/<code>/join/<token>", methods=["GET", "POST"])
@limiter.limit("20 per 15 minutes", methods=["POST"])
def finish_joining(code: str, token: str):
    """The link send_joining_email sends to an address without an account: the account to create, for that address."""
    invitation = services.find_invitation(code)
    unusable = _unusable_invitation(invitation)
    if unusable is not None:
        return unusable
    email = services.read_join_token(invitation, token)
    if email is None:
        return render_template("accounts/invitation_unusable.html",
                               message=_("This invitation link is not valid.")), 404
    if current_user.is_authenticated:
        return redirect(url_for("accounts.accept_invitation", code=code))
    form = FinishJoiningForm()
    if form.validate_on_submit():
        try:
            user = services.accept_invitation(
                invitation, email=email, password=form.password.data, display_name=form.display_name.data,
                timezone=form.timezone.data, locale=str(get_locale()), email_confirmed=True,
            )
        except services.AccountError as error:
            show_error(form, error)
        else:
            return _joined(invitation, user)
    return render_template("accounts/accept_invitation.html", invitation=invitation, form=form, signed_in=False,
                           fixed_email=email)


@bp.get("/crisis")
def crisis():
    organisation = current_user.organisation if current_user.is_authenticated else None
    return render_template("accounts/crisis.html", organisation=organisation)


# Organisation admin --------------------------------------------------------------------------------------------------


PEOPLE_PER_PAGE = 25


@bp.get("/admin/people")
@login_required
def people():
    policy.require_see_organisation_people(current_user, current_user.organisation)
    return _render_people(InviteStaffForm())


def _render_people(invite_form, status: int = 200):
    """Everyone in the organisation, found by name or email and narrowed to a role, a page at a time."""
    organisation = current_user.organisation
    search = PeopleFilterForm(request.args)
    valid = search.validate()
    term = (search.q.data or "") if valid else ""
    role = RoleName(search.role.data) if valid and search.role.data else None
    page = search.page.number
    people, total = queries.people_page(organisation.id, search=term, role=role, page=page,
                                        per_page=PEOPLE_PER_PAGE)
    # Who is a member of the clinic is itself health information: each look at the list is in the trail.
    audit.record("people_viewed", actor=current_user, target=f"organisation:{organisation.id}",
                 details={"role": role.value if role else "", "searched": bool(term), "page": page,
                          "shown": len(people)})
    pages = max(1, -(-total // PEOPLE_PER_PAGE))
    args = {name: value for name, value in (("q", term), ("role", role.value if role else "")) if value}
    return render_template(
        "accounts/people.html", organisation=organisation, people=people, total=total, page=page, pages=pages,
        search=search, filtered=bool(args), staff_roles=queries.STAFF_ROLES,
        previous_url=url_for("accounts.people", **args, page=page - 1) if page > 1 else None,
        next_url=url_for("accounts.people", **args, page=page + 1) if page < pages else None,
        invitations=queries.staff_invitations(organisation.id), form=invite_form, empty_form=EmptyForm(),
        now=utcnow(), new_invitation=session.pop("new_invitation", None) if status == 200 else None), status


@bp.post("/admin/invitations")
@login_required
@limiter.limit("30 per hour", key_func=account_or_address)
def invite_staff():
    organisation = current_user.organisation
    policy.require_see_organisation_people(current_user, organisation)
    form = InviteStaffForm()
    if not form.validate_on_submit():
        return _render_people(form, 422)
    role = RoleName(form.role.data)
    policy.require_invite(current_user, organisation, role)
    _invitation, raw = services.create_invitation(current_user, organisation, role, email=form.email.data)
    session["new_invitation"] = external_url("accounts.accept_invitation", code=raw)
    flash(_("Invitation sent to %(email)s.", email=form.email.data), "info")
    return redirect(url_for("accounts.people"))


@bp.post("/invitations/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(invitation_id: int):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    invitation = (queries.invitation_in_organisation(invitation_id, current_user.organisation_id)
                  or policy.hidden(Invitation, invitation_id))
    policy.require_revoke_invitation(current_user, invitation)
    try:
        services.revoke_invitation(current_user, invitation)
    except services.AccountError as error:
        flash_refusal(error)
    else:
        flash(_("The invitation is withdrawn."), "info")
    return redirect_next(request.args.get("next"), "accounts.home")


def _set_active(user_id: int, active: bool):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    account = queries.account_in_organisation(user_id, current_user.organisation_id) or policy.hidden(User, user_id)
    policy.require_manage_account(current_user, account)
    services.set_account_active(current_user, account, active)
    if active:
        flash(_("%(name)s can sign in again.", name=account.display_name), "info")
    else:
        flash(_("%(name)s is deactivated and signed out everywhere.", name=account.display_name), "info")
    return redirect_next(request.args.get("next"), "accounts.people")


@bp.post("/admin/people/<int:user_id>/deactivate")
@login_required
def deactivate(user_id: int):
    return _set_active(user_id, False)


@bp.post("/admin/people/<int:user_id>/reactivate")
@login_required
def reactivate(user_id: int):
    return _set_active(user_id, True)


@bp.route("/admin/organisation", methods=["GET", "POST"])
@login_required
def organisation_settings():
    organisation = current_user.organisation
    policy.require_manage_organisation(current_user, organisation)
    form = OrganisationForm(obj=organisation)
    required = second_factor.staff_must_use_second_factor(organisation)
    if not form.is_submitted():
        form.staff_second_factor.data = required
    if form.validate_on_submit():
        chosen = form.staff_second_factor.data
        try:
            services.update_organisation(current_user, organisation, name=form.name.data, locale=form.locale.data,
                                         timezone=form.timezone.data,
                                         staff_second_factor=chosen if chosen != required else None,
                                         peer_message_retention_days=form.peer_message_retention_days.data,
                                         risk_phrases=form.risk_phrases.data or "")
        except services.AccountError as error:
            show_error(form, error)
        else:
            flash(_("The organisation is saved."), "info")
            return redirect(url_for("accounts.organisation_settings"))
    return render_template("accounts/organisation.html", form=form, organisation=organisation)


@bp.route("/admin/crisis-resources", methods=["GET", "POST"])
@login_required
def crisis_resources():
    organisation = current_user.organisation
    policy.require_manage_organisation(current_user, organisation)
    form = CrisisResourcesForm(obj=organisation)
    if form.validate_on_submit():
        services.update_crisis_resources(current_user, organisation, **{
            name: getattr(form, name).data for name in
            ("crisis_name", "crisis_phone", "crisis_text", "crisis_url", "crisis_note")
        })
        flash(_("Crisis resources are saved."), "info")
        return redirect(url_for("accounts.crisis_resources"))
    return render_template("accounts/crisis_resources.html", form=form, organisation=organisation)
