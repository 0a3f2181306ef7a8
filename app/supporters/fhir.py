"""A consent as an HL7 FHIR R5 Consent resource (https://hl7.org/fhir/R5/consent.html)."""

from __future__ import annotations

from datetime import datetime

from app.supporters.models import Consent, ConsentState, SupporterLink

# FHIR R5 Consent.status: draft | active | inactive | not-done | entered-in-error | unknown.
STATUS = {
    ConsentState.PROPOSED: "draft",
    ConsentState.ACTIVE: "active",
    ConsentState.ON_HOLD: "inactive",
    ConsentState.REVOKED: "inactive",
    ConsentState.EXPIRED: "inactive",
    ConsentState.RENEWED: "inactive",
}
DATA_CLASS_SYSTEM = "urn:momentum:fhir:CodeSystem:data-class"
PURPOSE_EXTENSION = "urn:momentum:fhir:StructureDefinition:consent-purpose"


def _instant(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def consent_resource(consent: Consent, now: datetime, link: SupporterLink | None) -> dict:
    """`link` is the supporter's place in the patient's circle: a FHIR RelatedPerson is one person's relation to one
    patient, so it is the link's id (the supporter's account may support several patients)."""
    patient_ref = {"reference": f"Patient/{consent.patient_id}", "display": consent.patient.display_name}
    grantee = ({"reference": f"RelatedPerson/{link.id}", "display": consent.supporter.display_name}
               if link is not None else {"display": "invited supporter"})
    period = {"start": _instant(consent.starts_at), "end": _instant(consent.ends_at)}
    resource = {
        "resourceType": "Consent",
        "id": str(consent.id),
        "status": STATUS[consent.state_at(now)],
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "subject": patient_ref,
        "date": consent.created_at.date().isoformat(),
        "period": period,
        "grantor": [patient_ref],
        "grantee": [grantee],
        "decision": "permit",
        "provision": [{
            "period": period,
            "actor": [{
                "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                     "code": "IRCP", "display": "information recipient"}]},
                "reference": grantee,
            }],
            "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access",
                                    "display": "Access"}]}],
            "code": [{"coding": [{"system": DATA_CLASS_SYSTEM, "code": data_class}]}
                     for data_class in consent.data_classes],
            "dataPeriod": {"start": _instant(consent.data_from)},
        }],
    }
    if consent.purpose:
        resource["extension"] = [{"url": PURPOSE_EXTENSION, "valueString": consent.purpose}]
    return resource
