"""Measures: a member answers their own, a group's facilitators schedule them and read their members' results, and a
supporter whose consent covers questionnaire results sees bands and the trend of totals, never items or item 9
(CLINICAL.md safety rule 3). Peers never see a measure."""

from __future__ import annotations

from app.accounts.models import RoleName
from app.policy.core import Denied, role_of
from app.policy.groups import is_group_facilitator
from app.policy.sharing import _facilitates_patient, can_read_patient_data
from app.supporters.models import DataClass


def can_keep_measures(user) -> bool:
    """A member answers, pauses and reads their own measures."""
    return role_of(user) == RoleName.PATIENT


def require_keep_measures(user) -> None:
    if not can_keep_measures(user):
        raise Denied()


def can_answer_measure(user, measure) -> bool:
    return measure is not None and can_keep_measures(user) and measure.patient_id == user.id


def require_answer_measure(user, measure) -> None:
    if not can_answer_measure(user, measure):
        raise Denied(subject_id=getattr(measure, "patient_id", None))


def can_schedule_measures(user, group) -> bool:
    return is_group_facilitator(user, group)


def require_schedule_measures(user, group) -> None:
    if not can_schedule_measures(user, group):
        raise Denied()


can_view_group_outcomes = can_schedule_measures
require_view_group_outcomes = require_schedule_measures


def can_view_member_measures(user, patient_id: int) -> bool:
    """Items, scores and change: the member themself, or a facilitator of a group the member belongs to."""
    if role_of(user) == RoleName.PATIENT:
        return user.id == patient_id
    return _facilitates_patient(user, patient_id)


def require_view_member_measures(user, patient_id: int) -> None:
    if not can_view_member_measures(user, patient_id):
        raise Denied(subject_id=patient_id)


def can_view_measure_bands(user, patient_id: int) -> bool:
    """A supporter sees bands and the trend of totals inside the consent's data period; never items."""
    return role_of(user) == RoleName.SUPPORTER and can_read_patient_data(user, patient_id, DataClass.MEASURES)


def can_view_member_page(user, group, membership) -> bool:
    """A member's page in a group (measures, mood, attendance, alerts): the group's facilitators, for a member of
    that group whose measures they may read."""
    return (
        membership is not None
        and membership.group_id == group.id
        and is_group_facilitator(user, group)
        and can_view_member_measures(user, membership.user_id)
    )


def require_view_member_page(user, group, membership) -> None:
    if not can_view_member_page(user, group, membership):
        raise Denied(subject_id=getattr(membership, "user_id", None))
def can_read_measure(user, measure) -> bool:
    """One questionnaire with its item answers: the member who answers it, or a facilitator of its group."""
    if measure is None:
        return False
    if role_of(user) == RoleName.PATIENT:
        return measure.patient_id == user.id
    return is_group_facilitator(user, measure.group)


def require_read_measure(user, measure) -> None:
    if not can_read_measure(user, measure):
        raise Denied(subject_id=getattr(measure, "patient_id", None))
