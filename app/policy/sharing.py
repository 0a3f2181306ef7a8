"""Supporters and consent, goals and small wins, and a facilitator's view of a member's supporters."""

from __future__ import annotations

from werkzeug.exceptions import Forbidden

from app.accounts.models import RoleName
from app.groups import queries as group_queries
from app.models_base import utcnow
from app.policy.core import Denied, _denied_consent, _signed_in, role_of
from app.supporters import queries as supporter_queries
from app.supporters.models import ConsentState, DataClass

# Supporters and consent ----------------------------------------------------------------------------------------------
# A supporter reads patient data only while a consent is active, the time is inside its period, the data class is in
# its scope, and the data falls inside its data period (SECURITY.md 3). Item answers, alerts and facilitator notes
# never reach a supporter, whatever a consent says (CLINICAL.md safety rule 3): no data class carries them.


def can_manage_sharing(user) -> bool:
    return role_of(user) == RoleName.PATIENT


def require_manage_sharing(user) -> None:
    if not can_manage_sharing(user):
        raise Forbidden()


def owns_consent(user, consent) -> bool:
    return _signed_in(user) and consent is not None and consent.patient_id == user.id


def require_own_consent(user, consent) -> None:
    if not owns_consent(user, consent):
        raise _denied_consent(consent)


def can_view_consent(user, consent) -> bool:
    """The patient who gave it, the supporter it was given to, and the facilitators who may hold it."""
    return consent is not None and (
        owns_consent(user, consent)
        or is_consent_grantee(user, consent)
        or _facilitates_patient(user, consent.patient_id)
    )


def is_consent_grantee(user, consent) -> bool:
    """The supporter a consent was given to: they learn that access has ended, never why."""
    return consent is not None and role_of(user) == RoleName.SUPPORTER and consent.supporter_id == user.id


def require_view_consent(user, consent) -> None:
    if not can_view_consent(user, consent):
        raise _denied_consent(consent)


def grantee_sees_terms(user, consent) -> bool:
    """The terms (purpose, classes) reach the supporter only while the consent is in force for them: once it has
    ended, or while a clinical hold is in force, they are the patient's alone again."""
    if not is_consent_grantee(user, consent):
        return False
    return (
        consent.state_at(utcnow()) == ConsentState.ACTIVE
        and supporter_queries.open_hold(consent.patient_id, user.id) is None
    )


def can_export_consent(user, consent) -> bool:
    """The FHIR export carries the terms: the patient and their facilitators always, the supporter while it is in
    force for them."""
    return consent is not None and (
        owns_consent(user, consent)
        or _facilitates_patient(user, consent.patient_id)
        or grantee_sees_terms(user, consent)
    )


def require_export_consent(user, consent) -> None:
    if not can_export_consent(user, consent):
        raise _denied_consent(consent)


def allowed_data_classes(user, patient_id: int) -> dict:
    """Data class -> the consent allowing it, for a supporter now; empty for anyone else, and while a clinical hold
    on this supporter is in force."""
    if role_of(user) != RoleName.SUPPORTER:
        return {}
    return supporter_queries.permitting_consents(user, patient_id, utcnow())


def can_read_patient_data(user, patient_id: int, data_class: str) -> bool:
    return data_class in allowed_data_classes(user, patient_id)


# Goals and small wins ---------------------------------------------------------------------------------------------


def can_keep_goals(user) -> bool:
    return role_of(user) == RoleName.PATIENT


def require_keep_goals(user) -> None:
    if not can_keep_goals(user):
        raise Forbidden()


def owns_goal(user, goal) -> bool:
    return _signed_in(user) and goal is not None and goal.patient_id == user.id


def require_own_goal(user, goal) -> None:
    if not owns_goal(user, goal):
        raise Denied(subject_id=getattr(goal, "patient_id", None))


def goals_consent(user, patient_id: int):
    """The consent under which a supporter sees this patient's goals and small wins now, or None."""
    return allowed_data_classes(user, patient_id).get(DataClass.GOALS.value)


def supporter_sees_goal(user, goal) -> bool:
    """A supporter sees a goal while a consent allows goals and small wins, when the goal was set inside its data
    period."""
    consent = goals_consent(user, goal.patient_id) if goal is not None else None
    return consent is not None and goal.created_at >= consent.data_from


def can_comment_on_goal(user, goal) -> bool:
    """Only a supporter the patient asked, for as long as they see the goal and the patient has not stopped it."""
    return supporter_sees_goal(user, goal) and any(
        c.supporter_id == user.id and c.ended_at is None for c in goal.commenters
    )


def require_comment_on_goal(user, goal):
    """Returns the consent the comment is written under."""
    if not can_comment_on_goal(user, goal):
        raise Denied(subject_id=getattr(goal, "patient_id", None))
    return goals_consent(user, goal.patient_id)


def _facilitates_patient(user, patient_id: int) -> bool:
    if role_of(user) != RoleName.FACILITATOR:
        return False
    return group_queries.facilitates_member(user.id, patient_id, user.organisation_id)


def can_hold_supporter(user, link) -> bool:
    """A facilitator of a group the patient belongs to may place (and lift) a clinical hold on a supporter's
    involvement with that patient."""
    return link is not None and _facilitates_patient(user, link.patient_id)


def require_hold_supporter(user, link) -> None:
    if not can_hold_supporter(user, link):
        raise Denied(subject_id=getattr(link, "patient_id", None))


def can_view_patient_supporters(user, patient_id: int) -> bool:
    return _facilitates_patient(user, patient_id)


def require_view_patient_supporters(user, patient_id: int) -> None:
    if not can_view_patient_supporters(user, patient_id):
        raise Denied(subject_id=patient_id)
