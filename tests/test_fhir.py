"""GET /api/v1/consents/{id}/fhir: every consent, in every state, as an HL7 FHIR R5 Consent resource that the
fhir.resources package validates, with the status, parties, periods and provision the consent says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fhir.resources.consent import Consent as FhirConsent
from flask import current_app
from pydantic import ValidationError
from supporter_fixtures import *  # noqa: F403
from supporter_fixtures import NOW, grant, hold, link_supporter

from app.extensions import db
from app.supporters import services
from app.supporters.fhir import DATA_CLASS_SYSTEM, consent_resource
from app.supporters.models import Consent, DataClass

#: fhir.resources checks structure and types, not code bindings: the required value sets are checked here.
R5_CONSENT_STATUS = {"draft", "active", "inactive", "not-done", "entered-in-error", "unknown"}
R5_CONSENT_DECISION = {"deny", "permit"}
CLASSES = [DataClass.MOOD, DataClass.SESSIONS, DataClass.ENCOURAGEMENT]
DATA_FROM = NOW - timedelta(days=10)


@pytest.fixture(autouse=True)
def at_now(clock):
    return clock


def _active(patient, supporter, facilitator):
    return grant(patient, supporter, CLASSES, days=30, data_from=DATA_FROM, purpose="Family support")


def _held(patient, supporter, facilitator):
    consent = _active(patient, supporter, facilitator)
    hold(facilitator, patient, supporter, "A concern")
    return consent


def _revoked(patient, supporter, facilitator):
    consent = _active(patient, supporter, facilitator)
    services.revoke_consent(consent, patient)
    db.session.commit()
    return consent


def _expired(patient, supporter, facilitator):
    return grant(patient, supporter, CLASSES, ends_at=NOW + timedelta(seconds=1), data_from=DATA_FROM)


def _renewed(patient, supporter, facilitator):
    consent = _active(patient, supporter, facilitator)
    services.renew_consent(consent, patient, NOW + timedelta(days=60))
    db.session.commit()
    return consent


def _proposed(patient, supporter, facilitator):
    with current_app.test_request_context():  # the invitation email carries an absolute link
        consent, _raw = services.invite_supporter(patient, email="new@example.org", relationship="friend",
                                                  data_classes=[c.value for c in CLASSES],
                                                  ends_at=NOW + timedelta(days=30), data_from=DATA_FROM)
        db.session.commit()
    return consent


#: How each consent state is reported (FHIR R5 Consent.status: draft | active | inactive | ...).
CASES = {"active": (_active, "active"), "held": (_held, "inactive"), "revoked": (_revoked, "inactive"),
         "expired": (_expired, "inactive"), "renewed": (_renewed, "inactive"), "proposed": (_proposed, "draft")}


def _fetch(client, consent_id, headers):
    response = client.get(f"/api/v1/consents/{consent_id}/fhir", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+json"
    return response


@pytest.mark.parametrize("case", list(CASES))
def test_consent_exports_as_a_valid_fhir_r5_consent(case, client, clock, patient, supporter, facilitator,
                                                    sharing_group, api_token):
    make, status = CASES[case]
    consent = make(patient, supporter, facilitator)
    if case == "expired":
        clock.shift(timedelta(seconds=2))
    response = _fetch(client, consent.id, api_token(patient))
    body = response.get_json()

    resource = FhirConsent.model_validate(body)
    assert FhirConsent.model_validate_json(response.get_data()) == resource
    assert resource.get_resource_type() == "Consent"
    assert resource.id == str(consent.id)
    assert resource.status == status and resource.status in R5_CONSENT_STATUS
    assert resource.decision == "permit" and resource.decision in R5_CONSENT_DECISION
    assert resource.subject.reference == f"Patient/{patient.id}"
    assert [g.reference for g in resource.grantor] == [f"Patient/{patient.id}"]
    if case == "proposed":
        assert resource.grantee[0].reference is None and resource.grantee[0].display
    else:
        # A RelatedPerson is one person's relation to one patient: the supporter's link, not their account.
        link = link_supporter(patient, supporter)
        assert [g.reference for g in resource.grantee] == [f"RelatedPerson/{link.id}"]
    assert (resource.period.start, resource.period.end) == (consent.starts_at, consent.ends_at)

    [provision] = resource.provision
    [actor] = provision.actor
    assert actor.reference == resource.grantee[0]
    assert [(c.system, c.code) for c in actor.role.coding] == [
        ("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP")]
    assert [(c.system, c.code) for a in provision.action for c in a.coding] == [
        ("http://terminology.hl7.org/CodeSystem/consentaction", "access")]
    assert sorted((c.system, c.code) for cc in provision.code for c in cc.coding) == sorted(
        (DATA_CLASS_SYSTEM, c.value) for c in CLASSES)
    assert provision.dataPeriod.start == DATA_FROM
    assert provision.period.start == consent.starts_at and provision.period.end == consent.ends_at


def test_the_status_follows_the_consent_through_hold_and_lift(client, patient, supporter, facilitator,
                                                              sharing_group, api_token):
    consent = _active(patient, supporter, facilitator)
    headers = api_token(patient)
    seen = [_fetch(client, consent.id, headers).get_json()["status"]]
    hold(facilitator, patient, supporter, "A concern")
    seen.append(_fetch(client, consent.id, headers).get_json()["status"])
    services.lift_hold(link_supporter(patient, supporter), facilitator)
    db.session.commit()
    seen.append(_fetch(client, consent.id, headers).get_json()["status"])
    assert seen == ["active", "inactive", "active"]


def test_the_export_carries_neither_the_hold_reason_nor_anything_but_the_terms(client, patient, supporter,
                                                                               facilitator, sharing_group, api_token):
    consent = _held(patient, supporter, facilitator)
    for user in (patient, facilitator):
        text = _fetch(client, consent.id, api_token(user)).get_data(as_text=True)
        assert "A concern" not in text


@pytest.mark.parametrize("case", ["held", "revoked", "expired", "renewed"])
def test_a_supporter_gets_the_export_only_while_the_consent_is_in_force(case, client, clock, patient, supporter,
                                                                        facilitator, sharing_group, api_token):
    """The export carries the purpose and the classes, which an ended consent's supporter no longer sees anywhere."""
    consent = CASES[case][0](patient, supporter, facilitator)
    if case == "expired":
        clock.shift(timedelta(seconds=2))
    response = client.get(f"/api/v1/consents/{consent.id}/fhir", headers=api_token(supporter))
    assert response.status_code == 404
    assert "Family support" not in response.get_data(as_text=True)
    assert DataClass.MOOD.value not in response.get_data(as_text=True)
    _fetch(client, consent.id, api_token(patient))


def test_the_validator_refuses_a_broken_export(patient, supporter, facilitator, sharing_group):
    """The validation can fail: R4's shape (scope, provision.type, a single provision) or a bad date is refused."""
    resource = consent_resource(_active(patient, supporter, facilitator), NOW, link_supporter(patient, supporter))
    FhirConsent.model_validate(resource)
    provision = resource["provision"][0]
    for broken in ({**resource, "scope": {"text": "patient-privacy"}},
                   {**resource, "provision": provision},
                   {**resource, "provision": [{**provision, "type": "permit"}]},
                   {**resource, "provision": [{**provision, "dataPeriod": {"start": "last week"}}]}):
        with pytest.raises(ValidationError):
            FhirConsent.model_validate(broken)


def test_only_the_patient_the_supporter_and_the_patients_facilitators_get_the_export(
        client, patient, other_patient, supporter, facilitator, other_facilitator, sharing_group, make_user,
        api_token):
    from app.accounts.models import RoleName

    consent = _active(patient, supporter, facilitator)
    for user in (patient, supporter, facilitator):
        _fetch(client, consent.id, api_token(user))
    for user in (other_patient, other_facilitator, make_user(RoleName.SUPPORTER), make_user(RoleName.ADMIN)):
        assert client.get(f"/api/v1/consents/{consent.id}/fhir", headers=api_token(user)).status_code == 404
    assert client.get(f"/api/v1/consents/{consent.id}/fhir").status_code == 401
    assert db.session.get(Consent, consent.id) is not None
