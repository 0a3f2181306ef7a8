"""Fixtures for the supporter and consent tests: a patient in a running group, supporters linked to them, consents
granted through the real services, check-ins and attendance that feed what a supporter may see, and sockets.

Import what a test module needs: `from supporter_fixtures import *  # noqa: F403` brings the fixtures into scope
(with the groups fixtures they build on: the clock frozen at NOW and the group with its members).
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from groups_fixtures import (  # noqa: F401  (fixtures, re-exported for the test modules)
    NOW,
    clock,
    group_with_members,
    make_group,
    make_member,
    occurrences_of,
)
from sqlalchemy import select

from app.accounts.models import RoleName
from app.audit import AuditEvent
from app.extensions import db, socketio
from app.groups import attendance as group_attendance
from app.groups.models import AttendanceStatus, SessionOccurrence
from app.models_base import utcnow
from app.rooms import services as room_services
from app.supporters import services
from app.supporters.models import Consent, ConsentEvent, SupporterLink

__all__ = ["NOW", "add_checkin", "attend", "consent_audit", "consent_history", "grant", "hold", "link_supporter",
           "other_facilitator", "past_sessions", "sharing_group", "sockets", "supporter_client", "patient_client",
           "facilitator_client", "clock", "make_group", "make_member", "group_with_members", "sweep"]

_client_ids = itertools.count(1)


def link_supporter(patient, supporter, relationship: str = "partner") -> SupporterLink:
    """The supporter in the patient's circle, as an accepted invitation leaves it."""
    link = db.session.scalar(select(SupporterLink).where(SupporterLink.patient_id == patient.id,
                                                         SupporterLink.supporter_id == supporter.id))
    if link is None:
        link = SupporterLink(organisation_id=patient.organisation_id, patient_id=patient.id,
                             supporter_id=supporter.id, relationship_label=relationship)
        db.session.add(link)
        db.session.commit()
    return link


def grant(patient, supporter, classes, *, days: int = 90, ends_at=None, data_from=None,
          purpose: str = "") -> Consent:
    """An active consent through the real service, committed: for `days`, or until `ends_at`."""
    link = link_supporter(patient, supporter)
    consent = services.grant_consent(patient, link, data_classes=[str(c) for c in classes],
                                     ends_at=ends_at or utcnow() + timedelta(days=days), data_from=data_from,
                                     purpose=purpose)
    db.session.commit()
    return consent


def hold(facilitator, patient, supporter, reason: str = "A concern about the relationship"):
    """A facilitator's clinical hold on the supporter's involvement with the patient, committed."""
    placed = services.hold_supporter(link_supporter(patient, supporter), facilitator, reason)
    db.session.commit()
    return placed


def sweep() -> list[Consent]:
    """One pass of the periodic sweep's expiry step (each app process runs it every CONSENT_SWEEP_SECONDS)."""
    expired = services.record_expiries()
    db.session.commit()
    return expired


def add_checkin(patient, mood: int, note: str = "", occurrence=None):
    """A check-in between sessions (or in one), committed as the API would."""
    result = room_services.record_checkin(patient, client_id=f"fixture-{next(_client_ids)}", mood=mood, note=note,
                                     occurrence=occurrence)
    db.session.commit()
    return result.checkin


def attend(facilitator, occurrence: SessionOccurrence, patient, status=AttendanceStatus.PRESENT_ONLINE) -> None:
    group_attendance.record_attendance(facilitator, occurrence, [group_attendance.AttendanceEntry(
        user_id=patient.id, status=status)])
    db.session.commit()


def past_sessions(group) -> list[SessionOccurrence]:
    return [o for o in occurrences_of(group) if o.starts_at < utcnow()]


def consent_history(consent: Consent) -> list[ConsentEvent]:
    return list(db.session.scalars(select(ConsentEvent).where(ConsentEvent.consent_id == consent.id)
                                   .order_by(ConsentEvent.id)))


def consent_audit(consent: Consent) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.consent_id == consent.id,
                                                            AuditEvent.action.like("consent_%"))
                                   .order_by(AuditEvent.seq)))


@pytest.fixture
def sharing_group(group_with_members):
    """The groups fixtures' Berlin group: `patient` and two more members, three sessions before NOW."""
    return group_with_members


@pytest.fixture
def other_facilitator(make_user, make_group, make_member):
    """A facilitator of the same organisation who runs another group, without the patient."""
    other = make_user(RoleName.FACILITATOR, display_name="Dr. Oz Other", timezone="Europe/Berlin")
    group = make_group(other, name="Another group")
    make_member(group, display_name="Quinn Quiet")
    return other


@pytest.fixture
def supporter_client(app, clock, login, supporter):
    client = app.test_client()
    login(client, supporter)
    return client


@pytest.fixture
def patient_client(app, clock, login, patient):
    client = app.test_client()
    login(client, patient)
    return client


@pytest.fixture
def facilitator_client(app, clock, login, facilitator):
    client = app.test_client()
    login(client, facilitator)
    return client


@pytest.fixture
def sockets(app):
    """sockets(http_client) -> a Socket.IO test client sharing that client's login; all closed at the end."""
    opened = []

    def connect(http_client):
        sio = socketio.test_client(app, flask_test_client=http_client)
        assert sio.is_connected()
        opened.append(sio)
        return sio

    yield connect
    for sio in opened:
        if sio.is_connected():
            sio.disconnect()
