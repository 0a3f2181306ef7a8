"""JSON API for consents, their FHIR export, and what a supporter may see of a patient."""

from __future__ import annotations

from datetime import timedelta

from flask import abort as flask_abort
from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_smorest import abort

from app import policy
from app.accounts.models import User
from app.api_base import ApiBlueprint, document_errors
from app.extensions import account_or_address, db, limiter
from app.measures.instruments import definition
from app.measures.labels import severity_label
from app.models_base import utcnow
from app.supporters import queries, services
from app.supporters.fhir import consent_resource
from app.supporters.models import ConsentState, SupporterLink
from app.supporters.schemas import ConsentCreateSchema, ConsentSchema, SharedViewSchema

blp = ApiBlueprint("supporters_api", __name__, url_prefix="/api/v1", description="Consents and shared data")


def _consent_row(consent, *, for_grantee: bool = False, grantee_sees_terms: bool = False) -> dict:
    now = utcnow()
    state = consent.state_at(now)
    row = {
        "id": consent.id, "patient_id": consent.patient_id, "supporter_id": consent.supporter_id,
        "state": state.value, "data_classes": consent.data_classes, "starts_at": consent.starts_at,
        "ends_at": consent.ends_at, "data_from": consent.data_from, "purpose": consent.purpose,
        "renews_id": consent.renews_id,
        "history": [{"state": e.state.value, "at": e.at, "by_id": e.by_id, "reason": e.reason} for e in consent.events],
    }
    if for_grantee:
        # The supporter learns that access has ended, never why: a hold (and its reason), a revocation or an expiry
        # is between the patient and their facilitators.
        row["state"] = ConsentState.ACTIVE.value if grantee_sees_terms else "ended"
        row["history"] = []
        if not grantee_sees_terms:
            # Once access has ended, the terms the patient wrote are theirs alone again.
            row["purpose"], row["data_classes"] = "", []
    return row


def _consent(consent_id: int):
    consent = queries.consent_in_organisation(consent_id, current_user.organisation_id)
    policy.require_view_consent(current_user, consent)
    return consent


@blp.get("/consents")
@login_required
@blp.response(200, ConsentSchema(many=True))
@document_errors(blp, 401, 403, 429)
def list_consents():
    """Consents you gave (patients) or were given (supporters)."""
    if policy.can_manage_sharing(current_user):
        return [_consent_row(c) for c in queries.consents_for_patient(current_user)]
    if policy.can_use(current_user, "shared"):
        return [_consent_row(c, for_grantee=True, grantee_sees_terms=policy.grantee_sees_terms(current_user, c))
                for c in queries.consents_for_supporter(current_user)]
    flask_abort(403)


@blp.post("/consents")
@login_required
@limiter.limit("30 per hour", key_func=account_or_address)
@blp.arguments(ConsentCreateSchema)
@blp.response(201, ConsentSchema)
@document_errors(blp, 400, 401, 403, 404, 409, 422, 429)
def create_consent(data):
    """Share with a supporter already in your circle (`supporter_id`), or invite one by `email`."""
    policy.require_manage_sharing(current_user)
    terms = {"data_classes": [c.value for c in data["data_classes"]],
             "ends_at": utcnow() + timedelta(days=data["days"]), "data_from": data["data_from"],
             "purpose": data["purpose"]}
    if data.get("supporter_id"):
        link = db.session.query(SupporterLink).filter_by(patient_id=current_user.id,
                                                         supporter_id=data["supporter_id"]).one_or_none()
        if link is None:
            policy.hidden(User, data["supporter_id"])
        consent = services.grant_consent(current_user, link, **terms)
    elif data.get("email"):
        consent, _raw = services.invite_supporter(current_user, email=data["email"],
                                                  relationship=data["relationship"], **terms)
    else:
        message = _("Give the supporter's id, or an email address to invite.")
        abort(422, message=message, errors={"json": {"supporter_id": [message]}})
    return _consent_row(consent)


@blp.get("/consents/<int:consent_id>")
@login_required
@blp.response(200, ConsentSchema)
@document_errors(blp, 401, 404, 429)
def get_consent(consent_id: int):
    """One consent with its full history (for its supporter: only whether it is active)."""
    consent = _consent(consent_id)
    return _consent_row(consent, for_grantee=policy.is_consent_grantee(current_user, consent),
                        grantee_sees_terms=policy.grantee_sees_terms(current_user, consent))


@blp.post("/consents/<int:consent_id>/revoke")
@login_required
@blp.response(200, ConsentSchema)
@document_errors(blp, 400, 401, 404, 429)
def revoke_consent(consent_id: int):
    """Stop sharing, at once (the patient who gave it)."""
    consent = queries.consent_in_organisation(consent_id, current_user.organisation_id)
    policy.require_own_consent(current_user, consent)
    services.revoke_consent(consent, current_user)
    return _consent_row(consent)


@blp.get("/consents/<int:consent_id>/fhir")
@login_required
@blp.response(200, description="An HL7 FHIR R5 Consent resource (application/fhir+json).")
@document_errors(blp, 401, 404, 429)
def consent_fhir(consent_id: int):
    """The consent as an HL7 FHIR R5 Consent resource: for the patient and their facilitators, and for the supporter
    while it is in force for them (an ended consent's terms are the patient's alone)."""
    consent = queries.consent_in_organisation(consent_id, current_user.organisation_id)
    policy.require_export_consent(current_user, consent)
    link = queries.link_between(consent.patient_id, consent.supporter_id)
    response = jsonify(consent_resource(consent, utcnow(), link))
    response.mimetype = "application/fhir+json"
    return response


@blp.get("/patients/<int:patient_id>/shared")
@login_required
@blp.response(200, SharedViewSchema)
@document_errors(blp, 401, 404, 429)
def shared(patient_id: int):
    """What a supporter may see of a patient now: only the classes of active consents, only inside their data
    periods. Every read goes to the access log the patient sees."""
    allowed = policy.allowed_data_classes(current_user, patient_id)
    if not allowed:
        # Revoked, expired, on hold or never granted: the same answer, without saying why.
        raise policy.Denied(subject_id=patient_id, message=_("Access has ended."))
    patient = db.session.get(User, patient_id)
    data = queries.shared_data(current_user, patient, queries.data_periods(allowed), utcnow())
    services.record_access(current_user, patient_id, allowed)
    return {"patient_id": patient_id, "classes": sorted(allowed), "data": _jsonable(data)}


def _jsonable(data: dict) -> dict:
    out = {}
    for key, value in data.items():
        if key in queries.UNAVAILABLE_CLASSES:
            out[key] = value
        elif key == "mood_summary":
            out[key] = {"trend": value["trend"], "weeks": [
                {"week_start": w.week_start.isoformat(), "average": w.average} for w in value["weeks"]]}
        elif key == "sessions_attendance":
            out[key] = {"upcoming": [{"starts_at": o.starts_at.isoformat(), "ends_at": o.ends_at.isoformat(),
                                      "status": o.status.value} for o in value["upcoming"]],
                        "attendance": [{"starts_at": starts.isoformat(), "status": status.value}
                                       for status, starts, _name in value["attendance"]]}
        elif key == "goals_wins":
            out[key] = {"goals": [{"id": row["goal"].id, "title": row["goal"].title, "why": row["goal"].why,
                                   "next_step": row["goal"].next_step, "status": row["goal"].status.value,
                                   "created_at": row["goal"].created_at.isoformat(), "asked": row["asked"],
                                   "comments": [{"body": c.body, "created_at": c.created_at.isoformat()}
                                                for c in row["comments"]]}
                                  for row in value["goals"]],
                        "wins": [{"text": text, "created_at": at.isoformat(), "goal": title}
                                 for text, at, title in value["wins"]]}
        elif key == "measure_bands":
            out[key] = {"instruments": [
                {"instrument": shared.instrument.value, "code": definition(shared.instrument).code,
                 "trend": shared.trend,
                 "scores": [{"completed_at": score.completed_at.isoformat(), "severity": score.severity.value,
                             "severity_label": severity_label(score.severity), "total": score.total}
                            for score in shared.scores]}
                for shared in value["instruments"]]}
        elif key == "encouragement":
            out[key] = {"sent": [{"body": n.body, "created_at": n.created_at.isoformat()} for n in value["sent"]]}
        else:
            out[key] = value
    return out
