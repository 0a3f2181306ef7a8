"""Pages: the patient's Sharing page, the supporter's view, the facilitator's view of a patient's supporters."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import audit, policy
from app.accounts.forms import EmptyForm
from app.accounts.models import User
from app.api_base import MAX_ID
from app.errors import record_denial
from app.extensions import account_or_address, db, limiter
from app.links import external_url
from app.measures.instruments import definition
from app.measures.labels import severity_label
from app.models_base import utcnow
from app.supporters import bp, queries, services
from app.supporters.forms import (
    ConsentTermsForm,
    EncouragementForm,
    HoldForm,
    InviteSupporterForm,
    RenewForm,
    SharePreviewForm,
)
from app.supporters.labels import data_class_label, shared_heading, shared_kind, state_label
from app.supporters.models import DataClass, SupporterLink
from app.web import flash_refusal, show_error


@bp.app_context_processor
def sharing_helpers():
    return {"data_class_label": data_class_label, "consent_state_label": state_label, "format_date": format_date,
            "shared_heading": shared_heading, "shared_kind": shared_kind, "severity_label": severity_label,
            "instrument_code": lambda instrument: definition(instrument).code}


def _terms(form: ConsentTermsForm) -> dict:
    now = utcnow()
    data_from = None
    if form.data_from.data:
        # The start of that day where the patient lives; a day still to come is refused by the service, not moved.
        local_midnight = datetime.combine(form.data_from.data, time(0, 0), tzinfo=ZoneInfo(current_user.zone))
        data_from = local_midnight.astimezone(now.tzinfo)
    return {"data_classes": form.data_classes.data or [], "ends_at": now + timedelta(days=form.days.data),
            "data_from": data_from, "purpose": form.purpose.data or ""}


# The patient ----------------------------------------------------------------------------------------------------------


def _sharing_page(invite_form=None, status=200):
    # A read: a consent past its end shows as ended whether or not the sweep has written its expiry down yet.
    links = queries.links_for_patient(current_user)
    consents = queries.consents_for_patient(current_user)
    before = request.args.get("log_before", type=int)
    access_log, older = queries.access_log_page(current_user, before=before if before and 0 < before <= MAX_ID
                                                else None)
    return render_template(
        "supporters/sharing.html", links=links, consents=consents, now=utcnow(),
        access_log=access_log, older_log=older, paged="log_before" in request.args,
        renewals=queries.renewals_due(current_user), unavailable=queries.UNAVAILABLE_CLASSES,
        pending=queries.pending_invitations(current_user),
        invite_form=invite_form or InviteSupporterForm(), terms_form=ConsentTermsForm(), renew_form=RenewForm(),
        empty_form=EmptyForm(), new_invitation=session.pop("new_supporter_invitation", None),
        encouragement=queries.recent_encouragement(current_user),
    ), status


@bp.get("/sharing")
@login_required
def sharing():
    policy.require_manage_sharing(current_user)
    return _sharing_page()


@bp.post("/sharing/encouragement/read")
@login_required
def encouragement_read():
    """The notes on the home page are read: they leave it (the Sharing page keeps the latest)."""
    policy.require_manage_sharing(current_user)
    if EmptyForm().validate_on_submit():
        services.mark_encouragement_read(current_user)
    return redirect(url_for("accounts.home"))


@bp.post("/sharing/invite")
@login_required
@limiter.limit("20 per hour", key_func=account_or_address)
def invite():
    policy.require_manage_sharing(current_user)
    form = InviteSupporterForm()
    if form.validate_on_submit():
        try:
            _consent, raw = services.invite_supporter(current_user, email=form.email.data,
                                                      relationship=form.relationship.data, **_terms(form))
        except services.ConsentError as error:
            show_error(form, error)
        else:
            session["new_supporter_invitation"] = external_url("accounts.accept_invitation", code=raw)
            flash(_("Invitation sent to %(email)s. Nothing is shared until they accept.", email=form.email.data),
                  "info")
            return redirect(url_for("supporters.sharing"))
    return _sharing_page(invite_form=form, status=422)


@bp.post("/sharing/supporters/<int:link_id>/preview")
@login_required
def preview(link_id: int):
    """Before anything is shared: the page the supporter would see under these terms, with Confirm and Change.
    Nothing is granted here, and the patient's look is not a supporter's look (no access-log row)."""
    policy.require_manage_sharing(current_user)
    link = queries.link_of_patient(current_user, link_id) or policy.hidden(SupporterLink, link_id)
    form = SharePreviewForm()
    if form.change.data:
        return _share_page(link, form)
    if not form.validate_on_submit():
        return _share_page(link, form, status=422)
    terms = _terms(form)
    try:
        services.check_grant(current_user, link, **terms)
    except services.ConsentError as error:
        show_error(form, error)
        return _share_page(link, form, status=422)
    now = utcnow()
    since = terms["data_from"] or now
    data = queries.shared_data(link.supporter, current_user, {c: since for c in terms["data_classes"]}, now)
    shared = [queries.SharedTerm(c, since, terms["ends_at"]) for c in queries.in_page_order(terms["data_classes"])]
    return _share_page(link, form, preview=data, terms=shared, since=since, now=now)


def _share_page(link: SupporterLink, form: SharePreviewForm, status: int = 200, preview: dict | None = None,
                **shown):
    return render_template("supporters/share.html", link=link, form=form, preview=preview, data=preview or {},
                           patient=current_user, supporter=link.supporter, unavailable=queries.UNAVAILABLE_CLASSES,
                           encouragement_form=EncouragementForm(), DataClass=DataClass,
                           mood_min_checkins=queries.MOOD_MIN_CHECKINS, **shown), status


@bp.post("/sharing/supporters/<int:link_id>/consents")
@login_required
def grant(link_id: int):
    policy.require_manage_sharing(current_user)
    link = queries.link_of_patient(current_user, link_id) or policy.hidden(SupporterLink, link_id)
    form = ConsentTermsForm()
    if form.validate_on_submit():
        try:
            services.grant_consent(current_user, link, **_terms(form))
        except services.ConsentError as error:
            flash_refusal(error)
        else:
            flash(_("You are now sharing with %(name)s.", name=link.supporter.display_name), "info")
    else:
        flash(_("Choose at least one thing to share."), "error")
    return redirect(url_for("supporters.sharing"))


@bp.post("/sharing/supporters/<int:link_id>/stop")
@login_required
def stop(link_id: int):
    policy.require_manage_sharing(current_user)
    link = queries.link_of_patient(current_user, link_id) or policy.hidden(SupporterLink, link_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.stop_sharing_with(current_user, link)
    flash(_("You stopped sharing with %(name)s. They no longer see anything.", name=link.supporter.display_name),
          "info")
    return redirect(url_for("supporters.sharing"))


def _own_consent(consent_id: int):
    consent = queries.consent_in_organisation(consent_id, current_user.organisation_id)
    policy.require_own_consent(current_user, consent)
    return consent


@bp.post("/sharing/consents/<int:consent_id>/revoke")
@login_required
def revoke(consent_id: int):
    consent = _own_consent(consent_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.revoke_consent(consent, current_user)
    flash(_("Sharing stopped."), "info")
    return redirect(url_for("supporters.sharing"))


@bp.post("/sharing/consents/<int:consent_id>/renew")
@login_required
def renew(consent_id: int):
    consent = _own_consent(consent_id)
    form = RenewForm()
    if not form.validate_on_submit():
        flash(_("Choose for how many days."), "error")
        return redirect(url_for("supporters.sharing"))
    try:
        services.renew_consent(consent, current_user, utcnow() + timedelta(days=form.days.data))
    except services.ConsentError as error:
        flash_refusal(error)
    else:
        flash(_("Sharing renewed."), "info")
    return redirect(url_for("supporters.sharing"))


def patient_panel(user) -> dict:
    return {"renewals": queries.renewals_due(user), "read_form": EmptyForm(),
            "encouragement": queries.recent_encouragement(user, unread_only=True, limit=3)}


# The supporter --------------------------------------------------------------------------------------------------------


def supporter_panel(user) -> dict:
    return {"patients": [(patient, queries.shared_terms(allowed))
                         for patient, allowed in queries.patients_sharing_with(user)]}


@bp.get("/shared/<int:patient_id>")
@login_required
def shared(patient_id: int):
    policy.require_use(current_user, "shared")
    allowed = policy.allowed_data_classes(current_user, patient_id)
    fragment = request.headers.get("X-Momentum-Fragment") == "1"
    if not allowed:
        # Revoked, expired, on hold or never granted: the same words, without saying why.
        record_denial(404, subject_id=patient_id)
        return render_template("supporters/access_ended.html", fragment=fragment), 404
    patient = db.session.get(User, patient_id)
    now = utcnow()
    data = queries.shared_data(current_user, patient, queries.data_periods(allowed), now)
    # One look per page load or live refresh, whatever it showed; the access log is the patient's record of it.
    services.record_access(current_user, patient_id, allowed)
    template = "supporters/_shared_content.html" if fragment else "supporters/shared.html"
    return render_template(template, patient=patient, data=data, terms=queries.shared_terms(allowed), now=now,
                           encouragement_form=EncouragementForm(), DataClass=DataClass,
                           mood_min_checkins=queries.MOOD_MIN_CHECKINS)


@bp.post("/shared/<int:patient_id>/encouragement")
@login_required
@limiter.limit("30 per hour", key_func=account_or_address)
def encourage(patient_id: int):
    consent = policy.allowed_data_classes(current_user, patient_id).get(DataClass.ENCOURAGEMENT.value)
    if consent is None:
        raise policy.Denied(subject_id=patient_id)
    form = EncouragementForm()
    if form.validate_on_submit():
        try:
            services.send_encouragement(current_user, consent, form.body.data)
        except services.ConsentError as error:
            flash_refusal(error)
        else:
            flash(_("Your note is sent."), "info")
    else:
        flash(_("Write a short note (up to %(n)d characters).", n=500), "error")
    return redirect(url_for("supporters.shared", patient_id=patient_id))


# The facilitator ------------------------------------------------------------------------------------------------------


@bp.get("/patients/<int:patient_id>/supporters")
@login_required
def patient_supporters(patient_id: int):
    policy.require_view_patient_supporters(current_user, patient_id)
    patient = db.session.get(User, patient_id) or abort(404)
    links = queries.links_for_patient(patient)
    consents = [c for c in queries.consents_for_patient(patient) if c.supporter_id is not None]
    # A facilitator's look at who is in a patient's circle, and what each may see, is a read of patient data.
    audit.record("patient_supporters_read", actor=current_user, subject=patient.id,
                 target=f"patient:{patient.id}:supporters")
    return render_template("supporters/patient_supporters.html", patient=patient, consents=consents, links=links,
                           now=utcnow(), hold_form=HoldForm(), empty_form=EmptyForm())


def _link_to_hold(link_id: int):
    link = queries.link_in_organisation(link_id, current_user.organisation_id)
    policy.require_hold_supporter(current_user, link)
    return link


@bp.post("/supporter-links/<int:link_id>/hold")
@login_required
def hold(link_id: int):
    link = _link_to_hold(link_id)
    form = HoldForm()
    if form.validate_on_submit():
        try:
            services.hold_supporter(link, current_user, form.reason.data)
        except services.ConsentError as error:
            flash_refusal(error)
        else:
            flash(_("Sharing is on hold. The patient sees your reason."), "info")
    else:
        flash(_("Give the reason for the hold; the patient will see it."), "error")
    return redirect(url_for("supporters.patient_supporters", patient_id=link.patient_id))


@bp.post("/supporter-links/<int:link_id>/lift-hold")
@login_required
def lift(link_id: int):
    link = _link_to_hold(link_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.lift_hold(link, current_user)
    except services.ConsentError as error:
        flash_refusal(error)
    else:
        flash(_("The hold is lifted."), "info")
    return redirect(url_for("supporters.patient_supporters", patient_id=link.patient_id))
