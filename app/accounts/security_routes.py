"""Pages: the second step of signing in, the "Sign-in security" page where people manage their second factors, and
an admin's reset of a staff member's factors."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user

from app import policy
from app.accounts import bp, queries, second_factor, services
from app.accounts.forms import (
    EmptyForm,
    NewPasskeyForm,
    PasskeySignInForm,
    RecoveryCodeForm,
    TotpCodeForm,
)
from app.accounts.models import Passkey, SecondFactorMethod, User
from app.errors import json_error
from app.extensions import account_or_address, db, limiter
from app.models_base import utcnow
from app.web import flash_refusal, is_safe_next, redirect_next, show_error

#: The half-signed-in state in the Flask session: the account that gave the right password, and until when (epoch
#: seconds) it may give its second factor. Nothing else: no login session exists before both factors.
PENDING_KEY = "second_step"
#: The WebAuthn challenge of the passkey ceremony this browser was last given.
CHALLENGE_KEY = "webauthn_challenge"
#: Recovery codes just made, shown once on the next page.
NEW_CODES_KEY = "new_recovery_codes"
#: What someone who must set up a second factor may still reach.
OPEN_WHILE_ENROLLING = frozenset({
    "static", "accounts.security", "accounts.start_totp", "accounts.enrol_totp", "accounts.add_passkey",
    "accounts.recovery_codes", "accounts.logout", "accounts.crisis", "accounts.set_language",
})


def _login_limit():
    return current_app.config["LOGIN_FAILURE_LIMIT"]


def _failed(response) -> bool:
    return response.status_code != 302


def _pending_account_key() -> str:
    """The key of the sign-in form's per-account limit, for the account half signed in."""
    user = pending_user()
    return "login-email:" + (user.email if user is not None else "")


def login_limits(account_key):
    """The limits of signing in, shared by both steps: per address and per account, counting failures only, so that a
    failed second step uses up the same attempts as a wrong password."""
    address = limiter.shared_limit(_login_limit, scope="login-address", methods=["POST"], deduct_when=_failed)
    account = limiter.shared_limit(_login_limit, scope="login-account", methods=["POST"], deduct_when=_failed,
                                   key_func=account_key)

    def decorate(view):
        return address(account(view))

    return decorate


_limited = login_limits(_pending_account_key)


# The second step of signing in ----------------------------------------------------------------------------------------


def begin_second_step(user: User, next_path: str | None):
    """The password was right and the account has a second factor: remember who, for a few minutes, and ask."""
    session.clear()
    until = utcnow() + timedelta(minutes=current_app.config["SECOND_FACTOR_STEP_MINUTES"])
    session[PENDING_KEY] = {"user": user.id, "until": int(until.timestamp())}
    return redirect(url_for("accounts.second_step", next=next_path if is_safe_next(next_path) else None))


def pending_user() -> User | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("until"), int) \
            or pending["until"] < utcnow().timestamp() or not isinstance(pending.get("user"), int):
        return None
    user = db.session.get(User, pending["user"])
    return user if user is not None and user.active else None


def _start_again():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    session.pop(PENDING_KEY, None)
    flash(_("Sign in again: the time for the second step ran out."), "error")
    return redirect(url_for("accounts.login"))


def _finish(user: User, method: SecondFactorMethod):
    """Both factors given: now, and only now, the login session starts."""
    session.clear()
    services.start_login_session(user, request.headers.get("User-Agent", ""), second_factor=method.value)
    login_user(user)
    if method is SecondFactorMethod.RECOVERY_CODE:
        flash(_("You signed in with a recovery code; %(n)d left. Make new ones on the Sign-in security page if you "
                "are running low.", n=second_factor.recovery_codes_left(user)), "info")
    return redirect_next(request.args.get("next"))


def _passkey_options(user: User) -> dict | None:
    """The options for navigator.credentials.get(), with a new challenge kept for this browser, or None."""
    if not second_factor.passkeys_of(user) or second_factor.relying_party() is None:
        return None
    options, session[CHALLENGE_KEY] = second_factor.authentication_options(user)
    return options


def _render_second_step(user: User, totp_form=None):
    has_totp = second_factor.confirmed_totp(user) is not None
    return render_template("accounts/second_step.html", totp_form=totp_form or TotpCodeForm(), has_totp=has_totp,
                           passkey_options=_passkey_options(user), passkey_form=PasskeySignInForm(),
                           next=request.args.get("next"))


@bp.route("/login/second-step", methods=["GET", "POST"])
@_limited
def second_step():
    user = pending_user()
    if user is None:
        return _start_again()
    form = TotpCodeForm()
    if form.validate_on_submit():
        if second_factor.verify_totp(user, form.code.data):
            return _finish(user, SecondFactorMethod.TOTP)
        form.code.errors.append(_("That code does not match, or was used already. Try the newest code."))
    return _render_second_step(user, totp_form=form)


@bp.post("/login/second-step/passkey")
@_limited
def second_step_passkey():
    user = pending_user()
    if user is None:
        return _start_again()
    form = PasskeySignInForm()
    challenge = session.pop(CHALLENGE_KEY, None)
    if form.validate_on_submit() and second_factor.relying_party() is not None \
            and second_factor.verify_passkey(user, form.credential.data, challenge):
        return _finish(user, SecondFactorMethod.PASSKEY)
    flash(_("The passkey did not sign you in. Try again, or use another way below."), "error")
    return _render_second_step(user)


@bp.route("/login/recovery", methods=["GET", "POST"])
@_limited
def second_step_recovery():
    user = pending_user()
    if user is None:
        return _start_again()
    form = RecoveryCodeForm()
    if form.validate_on_submit():
        if second_factor.use_recovery_code(user, form.recovery_code.data):
            return _finish(user, SecondFactorMethod.RECOVERY_CODE)
        form.recovery_code.errors.append(_("That code does not match an unused recovery code."))
    return render_template("accounts/recovery_sign_in.html", form=form, next=request.args.get("next"))


# Staff who must set up a second factor --------------------------------------------------------------------------------


@bp.before_app_request
def require_enrolment():
    if request.endpoint in OPEN_WHILE_ENROLLING or not current_user.is_authenticated:
        return None
    if not second_factor.must_enrol(current_user):
        return None
    message = _("Your organisation asks staff to sign in with a second factor. Set one up to continue.")
    if request.path.startswith("/api/"):
        return json_error(403, "second_factor_required", message)
    flash(message, "info")
    return redirect(url_for("accounts.security"))


# Sign-in security: each account its own -------------------------------------------------------------------------------


def _may_change_factors() -> bool:
    """Changing the factors takes a sign-in made with them: a password alone must not undo a second factor."""
    if second_factor.login_has_both_factors(current_user):
        return True
    flash(_("Sign out and in again with your second factor to change how you sign in."), "error")
    return False


def _first_factor_added():
    """The first factor is in: sign-ins made elsewhere with the password alone, and tokens made by them, end (they
    would carry on without the second factor); and the recovery codes are made now, while the person is here to keep
    them."""
    if second_factor.recovery_codes_left(current_user) == 0:
        services.end_all_sessions(current_user, "second_factor_enrolled", keep=current_user.login_session)
        session[NEW_CODES_KEY] = second_factor.new_recovery_codes(current_user)
        return redirect(url_for("accounts.recovery_codes"))
    return redirect(url_for("accounts.security"))


@bp.get("/profile/security")
@login_required
def security():
    user = current_user
    return render_template("accounts/security.html", totp=second_factor.confirmed_totp(user),
                           pending_totp=second_factor.pending_totp(user), passkeys=second_factor.passkeys_of(user),
                           codes_left=second_factor.recovery_codes_left(user),
                           has_factor=second_factor.has_second_factor(user),
                           both_factors=second_factor.login_has_both_factors(user),
                           must_enrol=second_factor.must_enrol(user),
                           passkeys_available=second_factor.relying_party() is not None, empty_form=EmptyForm())


@bp.post("/profile/security/totp/start")
@login_required
def start_totp():
    if not EmptyForm().validate_on_submit():
        abort(400)
    if not _may_change_factors():
        return redirect(url_for("accounts.security"))
    try:
        second_factor.start_totp(current_user)
    except services.AccountError as error:
        flash_refusal(error)
        return redirect(url_for("accounts.security"))
    return redirect(url_for("accounts.enrol_totp"))


@bp.route("/profile/security/totp", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per 15 minutes", methods=["POST"], key_func=account_or_address)
def enrol_totp():
    totp = second_factor.pending_totp(current_user)
    if totp is None:
        return redirect(url_for("accounts.security"))
    form = TotpCodeForm()
    if form.validate_on_submit() and _may_change_factors():
        try:
            second_factor.confirm_totp(current_user, form.code.data)
        except services.AccountError as error:
            show_error(form, error)
        else:
            flash(_("Your authenticator app is set up."), "info")
            return _first_factor_added()
    return render_template("accounts/enrol_totp.html", form=form, secret=totp.secret,
                           qr=second_factor.totp_qr_svg(totp, _("QR code to set up an authenticator app")))


@bp.post("/profile/security/totp/remove")
@login_required
def remove_totp():
    if not EmptyForm().validate_on_submit():
        abort(400)
    if _may_change_factors():
        try:
            second_factor.remove_totp(current_user, current_user)
        except services.AccountError as error:
            flash_refusal(error)
        else:
            flash(_("The authenticator app no longer signs you in."), "info")
    return redirect(url_for("accounts.security"))


@bp.route("/profile/security/passkeys/new", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per 15 minutes", methods=["POST"], key_func=account_or_address)
def add_passkey():
    if second_factor.relying_party() is None:
        abort(404)
    form = NewPasskeyForm()
    if form.validate_on_submit() and _may_change_factors():
        try:
            second_factor.register_passkey(current_user, form.name.data or "", form.credential.data,
                                           session.pop(CHALLENGE_KEY, None))
        except services.AccountError as error:
            flash_refusal(error)
        else:
            flash(_("Your passkey is added."), "info")
            return _first_factor_added()
    options, session[CHALLENGE_KEY] = second_factor.registration_options(current_user)
    return render_template("accounts/add_passkey.html", form=form, passkey_options=options)


@bp.post("/profile/security/passkeys/<int:passkey_id>/remove")
@login_required
def remove_passkey(passkey_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    passkey = second_factor.passkey_of(current_user, passkey_id) or policy.hidden(Passkey, passkey_id)
    if _may_change_factors():
        try:
            second_factor.remove_passkey(current_user, passkey)
        except services.AccountError as error:
            flash_refusal(error)
        else:
            flash(_("The passkey “%(name)s” no longer signs you in.", name=passkey.name), "info")
    return redirect(url_for("accounts.security"))


@bp.route("/profile/security/recovery-codes", methods=["GET", "POST"])
@login_required
def recovery_codes():
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        if _may_change_factors() and second_factor.has_second_factor(current_user):
            session[NEW_CODES_KEY] = second_factor.new_recovery_codes(current_user)
            flash(_("New recovery codes are made; the old ones no longer work."), "info")
        return redirect(url_for("accounts.recovery_codes"))
    codes = session.pop(NEW_CODES_KEY, None)
    if not codes:
        return redirect(url_for("accounts.security"))
    return render_template("accounts/recovery_codes.html", codes=codes)


# Organisation admin ---------------------------------------------------------------------------------------------------


@bp.post("/admin/people/<int:user_id>/reset-second-factor")
@login_required
def reset_second_factor(user_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    account = queries.account_in_organisation(user_id, current_user.organisation_id) or policy.hidden(User, user_id)
    policy.require_reset_second_factor(current_user, account)
    second_factor.reset_second_factors(current_user, account)
    flash(_("%(name)s's second factors are removed; they set up a new one at their next sign-in. They have been "
            "told by email.", name=account.display_name), "info")
    return redirect(url_for("accounts.people"))


@bp.app_context_processor
def second_factor_helpers():
    return {"has_second_factor": second_factor.has_second_factor}
