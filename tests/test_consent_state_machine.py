"""SECURITY.md 3: a supporter reads a patient's data only while a consent is active, inside its period, for the data
classes in its scope, and only data from inside its data period.

A hypothesis state machine grants, reads (through the policy and through GET /api/v1/patients/{id}/shared), moves
time past the end, holds (a facilitator of the patient's group), lifts the hold, revokes, re-grants and renews, over
at least 500 sequences, against a model of what each consent allows. The app and its people are made once per test;
each sequence starts from the same data at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload
from supporter_fixtures import *  # noqa: F403
from supporter_fixtures import NOW, add_checkin, link_supporter, past_sessions

from app import policy
from app.extensions import db, limiter
from app.groups.models import Attendance, AttendanceStatus, CheckIn, Membership, SessionOccurrence
from app.groups.services import AttendanceEntry, record_attendance
from app.models_base import utcnow
from app.supporters import queries, services
from app.supporters.models import AccessLog, Consent, ConsentEvent, DataClass, Encouragement

ALL_CLASSES = [c.value for c in DataClass]
#: Where a consent's data period may start, from the test's start: before, between and after the check-ins and
#: sessions the patient has, and "from now".
DATA_FROM_OFFSETS = [timedelta(days=-60), timedelta(days=-30), timedelta(days=-14), timedelta(days=-8),
                     timedelta(days=-1), timedelta(hours=-3), None]
#: When the patient checked in before the test's start, with the mood (the supporter may see only weekly averages).
BASELINE_CHECKINS = [(timedelta(days=-58), 3), (timedelta(days=-40), 9), (timedelta(days=-29), 4),
                     (timedelta(days=-20), 8), (timedelta(days=-13), 5), (timedelta(days=-9), 7),
                     (timedelta(days=-4), 6), (timedelta(days=-2), 3), (timedelta(hours=-5), 9),
                     (timedelta(hours=-1), 6)]


@dataclass
class ModelConsent:
    """What the test believes about one consent: its terms, and the last change of state it made."""

    id: int
    classes: frozenset[str]
    starts_at: datetime
    ends_at: datetime
    data_from: datetime
    state: str  # active, on_hold, revoked, renewed

    def state_at(self, now: datetime) -> str:
        if self.state in ("active", "on_hold") and now >= self.ends_at:
            return "expired"
        return self.state

    def allows_now(self, now: datetime) -> bool:
        return self.state_at(now) == "active" and self.starts_at <= now < self.ends_at


def _monday(moment: datetime) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


@pytest.fixture
def world(app, clock, sharing_group, patient, supporter, facilitator, make_member, api_token):
    """The patient's history before NOW (check-ins over two months, attendance at three sessions), another member's
    check-ins that must never show, and bearer tokens that outlast every move of the clock."""
    app.config["API_TOKEN_DAYS"] = 3650
    other_member = db.session.scalar(select(Membership).where(Membership.group_id == sharing_group.id,
                                                              Membership.user_id != patient.id)).user
    for offset, mood in BASELINE_CHECKINS:
        clock.move_to(NOW + offset)
        add_checkin(patient, mood, note=f"private words {mood}")
        add_checkin(other_member, 10 - mood, note="someone else's words")
    clock.move_to(NOW)
    for occurrence in past_sessions(sharing_group):
        record_attendance(facilitator, occurrence, [AttendanceEntry(user_id=patient.id,
                                                                    status=AttendanceStatus.PRESENT_ONLINE)])
    db.session.commit()
    link_supporter(patient, supporter)
    return {
        "group": sharing_group, "patient": patient, "supporter": supporter, "facilitator": facilitator,
        "clock": clock, "supporter_token": api_token(supporter), "patient_token": api_token(patient),
        "baseline_checkins": set(db.session.scalars(select(CheckIn.id))),
        "baseline_attendance": set(db.session.scalars(select(Attendance.id))),
    }


def make_machine(app, client, world, stats: dict | None = None):
    """The machine class, bound to this test's app and people; `stats` counts sequences and reads."""
    patient, supporter, facilitator = world["patient"], world["supporter"], world["facilitator"]
    clock, group = world["clock"], world["group"]
    stats = stats if stats is not None else {}

    class ConsentMachine(RuleBasedStateMachine):
        consents = Bundle("consents")

        def __init__(self):
            super().__init__()
            db.session.rollback()
            clock.move_to(NOW)
            # Every sequence starts from the same history, with no consent.
            db.session.execute(delete(AccessLog))
            db.session.execute(delete(Encouragement))
            db.session.execute(delete(ConsentEvent))
            db.session.execute(delete(Consent))
            db.session.execute(delete(CheckIn).where(CheckIn.id.not_in(world["baseline_checkins"])))
            db.session.execute(delete(Attendance).where(Attendance.id.not_in(world["baseline_attendance"])))
            db.session.commit()
            db.session.expire_all()
            limiter.reset()
            self.model: dict[int, ModelConsent] = {}

        def teardown(self):
            """At the end of each sequence: a read through the API, no consent's terms edited, and each one's
            state the model's."""
            stats["sequences"] = stats.get("sequences", 0) + 1
            db.session.rollback()
            self.supporter_reads_through_the_api()
            now = utcnow()
            for consent in db.session.scalars(select(Consent).options(selectinload(Consent.events))):
                model = self.model[consent.id]
                assert (frozenset(consent.data_classes), consent.starts_at, consent.ends_at, consent.data_from) == \
                    (model.classes, model.starts_at, model.ends_at, model.data_from)
                assert consent.state_at(now).value == model.state_at(now)

        # What the model allows ---------------------------------------------------------------------------------

        def expected(self, now: datetime) -> dict[str, datetime]:
            """Class -> the widest data period among the consents allowing it now."""
            allowed: dict[str, datetime] = {}
            for consent in self.model.values():
                if consent.allows_now(now):
                    for data_class in consent.classes:
                        if data_class not in allowed or consent.data_from < allowed[data_class]:
                            allowed[data_class] = consent.data_from
            return allowed

        def pair_on_hold(self, now: datetime) -> bool:
            return any(c.state_at(now) == "on_hold" for c in self.model.values())

        # Rules -------------------------------------------------------------------------------------------------

        @initialize(target=consents, classes=st.sets(st.sampled_from(ALL_CLASSES), min_size=1),
                    days=st.sampled_from([1, 10, 30, 90]), data_from=st.sampled_from(DATA_FROM_OFFSETS))
        def first_grant(self, classes, days, data_from):
            return self._grant(classes, days, data_from, via_api=False)

        @rule(target=consents, classes=st.sets(st.sampled_from(ALL_CLASSES), min_size=1),
              days=st.sampled_from([1, 10, 30, 90, 365]), data_from=st.sampled_from(DATA_FROM_OFFSETS),
              via_api=st.booleans())
        def grant_again(self, classes, days, data_from, via_api):
            return self._grant(classes, days, data_from, via_api)

        def _grant(self, classes, days, offset, via_api):
            now = utcnow()
            data_from = None if offset is None else min(NOW + offset, now)
            if via_api:
                body = {"supporter_id": supporter.id, "data_classes": sorted(classes), "days": days}
                if data_from is not None:
                    body["data_from"] = data_from.isoformat()
                response = client.post("/api/v1/consents", json=body, headers=world["patient_token"])
                if self.pair_on_hold(now):
                    assert response.status_code == 409, response.get_json()
                    return None
                assert response.status_code == 201, response.get_json()
                consent_id = response.get_json()["id"]
            else:
                try:
                    consent = services.grant_consent(patient, link_supporter(patient, supporter),
                                                     data_classes=sorted(classes),
                                                     ends_at=now + timedelta(days=days), data_from=data_from)
                except services.ConsentError:
                    db.session.rollback()
                    assert self.pair_on_hold(now)
                    return None
                assert not self.pair_on_hold(now)
                db.session.commit()
                consent_id = consent.id
            self.model[consent_id] = ModelConsent(consent_id, frozenset(classes), now, now + timedelta(days=days),
                                                  data_from or now, "active")
            return consent_id

        @rule(hours=st.sampled_from([1, 24 * 3, 24 * 13, 24 * 29, 24 * 91]))
        def time_passes(self, hours):
            clock.shift(timedelta(hours=hours))

        @rule(consent_id=consents, after=st.sampled_from([timedelta(0), timedelta(seconds=1), timedelta(days=2)]))
        def time_passes_the_end_of(self, consent_id, after):
            if consent_id is None:
                return
            target = self.model[consent_id].ends_at + after
            if target > utcnow():
                clock.move_to(target)

        @rule(consent_id=consents)
        def facilitator_holds(self, consent_id):
            if consent_id is None:
                return
            consent = db.session.get(Consent, consent_id)
            assert policy.can_hold_consent(facilitator, consent)
            expected = self.model[consent_id].state_at(utcnow())
            try:
                services.hold_consent(consent, facilitator, "A concern about the relationship")
            except services.ConsentError:
                db.session.rollback()
                assert expected != "active"
                return
            db.session.commit()
            assert expected == "active"
            self.model[consent_id].state = "on_hold"

        @rule(consent_id=consents)
        def facilitator_lifts_the_hold(self, consent_id):
            if consent_id is None:
                return
            consent = db.session.get(Consent, consent_id)
            expected = self.model[consent_id].state_at(utcnow())
            try:
                services.lift_hold(consent, facilitator)
            except services.ConsentError:
                db.session.rollback()
                assert expected != "on_hold"
                return
            db.session.commit()
            assert expected == "on_hold"
            self.model[consent_id].state = "active"

        @rule(consent_id=consents)
        def patient_revokes(self, consent_id):
            if consent_id is None:
                return
            response = client.post(f"/api/v1/consents/{consent_id}/revoke", headers=world["patient_token"])
            assert response.status_code == 200
            model = self.model[consent_id]
            if model.state_at(utcnow()) in ("active", "on_hold"):
                model.state = "revoked"
            assert response.get_json()["state"] == model.state_at(utcnow())

        @rule()
        def patient_stops_sharing_in_one_tap(self):
            services.stop_sharing_with(patient, link_supporter(patient, supporter))
            db.session.commit()
            for model in self.model.values():
                if model.state_at(utcnow()) in ("active", "on_hold"):
                    model.state = "revoked"

        @rule(target=consents, consent_id=consents, days=st.sampled_from([1, 30, 90]))
        def patient_renews(self, consent_id, days):
            if consent_id is None:
                return None
            now = utcnow()
            model = self.model[consent_id]
            before = model.state_at(now)
            try:
                renewal = services.renew_consent(db.session.get(Consent, consent_id), patient,
                                                 now + timedelta(days=days))
            except services.ConsentError:
                db.session.rollback()
                assert before not in ("active", "expired") or self.pair_on_hold(now)
                return None
            db.session.commit()
            assert before in ("active", "expired") and not self.pair_on_hold(now)
            if before == "active":
                model.state = "renewed"
            self.model[renewal.id] = ModelConsent(renewal.id, model.classes, now, now + timedelta(days=days),
                                                  model.data_from, "active")
            return renewal.id

        @rule(mood=st.integers(3, 10))
        def patient_checks_in(self, mood):
            add_checkin(patient, mood, note="words only the patient and facilitator read")

        @rule()
        def facilitator_records_the_last_session(self):
            sessions = past_sessions(group)
            if not sessions:
                return
            record_attendance(facilitator, sessions[-1], [AttendanceEntry(
                user_id=patient.id, status=AttendanceStatus.EXCUSED, previous_status=self._status(sessions[-1]))])
            db.session.commit()

        def _status(self, occurrence):
            return db.session.scalar(select(Attendance.status).where(Attendance.occurrence_id == occurrence.id,
                                                                     Attendance.user_id == patient.id))

        @rule()
        def supporter_reads_through_the_api(self):
            now = utcnow()
            expected = self.expected(now)
            logged_before = db.session.scalar(select(func.max(AccessLog.id))) or 0
            response = client.get(f"/api/v1/patients/{patient.id}/shared", headers=world["supporter_token"])
            db.session.expire_all()
            new_log = list(db.session.scalars(select(AccessLog).where(AccessLog.id > logged_before)))
            if not expected:
                assert response.status_code == 404
                assert new_log == []
                stats["api_refused"] = stats.get("api_refused", 0) + 1
                return
            assert response.status_code == 200, response.get_json()
            body = response.get_json()
            assert set(body["classes"]) == set(expected)
            assert set(body["data"]) == set(expected)
            # The access log has one look per class, each under a consent the model says allows it now.
            assert sorted(entry.data_class for entry in new_log) == sorted(expected)
            for entry in new_log:
                assert self.model[entry.consent_id].allows_now(now)
                assert entry.data_class in self.model[entry.consent_id].classes
            if DataClass.MOOD.value in expected:
                self._check_mood(body["data"][DataClass.MOOD.value], expected[DataClass.MOOD.value], now)
            if DataClass.SESSIONS.value in expected:
                self._check_attendance(body["data"][DataClass.SESSIONS.value], expected[DataClass.SESSIONS.value],
                                       now)
            stats["api_allowed"] = stats.get("api_allowed", 0) + 1

        def _check_mood(self, summary, data_from, now):
            """Exactly the weekly averages of the patient's own check-ins inside the data period (and the last
            eight weeks): one from before the data period would change a count."""
            start = max(data_from, now - timedelta(weeks=queries.MOOD_WEEKS))
            rows = db.session.execute(select(CheckIn.created_at, CheckIn.mood).where(
                CheckIn.user_id == patient.id, CheckIn.mood.is_not(None)))
            weeks: dict[datetime, list[int]] = {}
            for created_at, mood in rows:
                if start <= created_at <= now:
                    weeks.setdefault(_monday(created_at), []).append(mood)
            expected = [{"week_start": w.date().isoformat(), "average": round(sum(v) / len(v), 1), "count": len(v)}
                        for w, v in sorted(weeks.items())]
            assert summary["weeks"] == expected
            assert all(week["week_start"] >= _monday(data_from).date().isoformat() for week in summary["weeks"])

        def _check_attendance(self, sessions, data_from, now):
            rows = db.session.execute(select(SessionOccurrence.starts_at).join(
                Attendance, Attendance.occurrence_id == SessionOccurrence.id).where(Attendance.user_id == patient.id))
            expected = sorted((s for (s,) in rows if data_from <= s <= now), reverse=True)[:12]
            assert [row["starts_at"] for row in sessions["attendance"]] == [s.isoformat() for s in expected]
            assert all(datetime.fromisoformat(row["starts_at"]) >= data_from for row in sessions["attendance"])
            assert all(datetime.fromisoformat(row["starts_at"]) >= now for row in sessions["upcoming"])

        @rule()
        def supporter_reads_each_class_through_the_policy(self):
            now = utcnow()
            expected = self.expected(now)
            db.session.expire_all()
            # Held here so that the session's identity map keeps them (and their loaded history) between reads.
            everything = list(db.session.scalars(select(Consent)))  # noqa: F841
            for data_class in ALL_CLASSES:
                assert policy.can_read_patient_data(supporter, patient.id, data_class) == (data_class in expected)

        # Invariants --------------------------------------------------------------------------------------------

        @invariant()
        def the_policy_allows_exactly_what_the_model_allows(self):
            """After every step: the classes allowed now, each under a consent the model says is active now, with
            the data period the model expects."""
            now = utcnow()
            db.session.expire_all()
            allowed = policy.allowed_data_classes(supporter, patient.id)
            assert {c: consent.data_from for c, consent in allowed.items()} == self.expected(now)
            assert all(self.model[consent.id].allows_now(now) and c in self.model[consent.id].classes
                       for c, consent in allowed.items())

    return ConsentMachine


SETTINGS = dict(deadline=None, database=None, stateful_step_count=6,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def test_supporter_reads_only_inside_consent_period_scope_and_data_period(app, client, world):
    """Over 500 sequences of grant, read, expiry, hold, lift, revoke, re-grant and renewal: 0 reads outside."""
    stats: dict[str, int] = {}
    run_state_machine_as_test(make_machine(app, client, world, stats), settings=settings(max_examples=500, **SETTINGS))
    # The sequences did read, both while a consent allowed it and after it had ended.
    assert stats["sequences"] >= 500
    assert stats["api_allowed"] > 100 and stats["api_refused"] > 100


def test_the_model_catches_a_read_outside_the_period(app, client, world, monkeypatch):
    """The machine can fail: a consent that forgets its end is caught."""
    from app.supporters.models import ConsentState

    def forgetful_permits(self, data_class, now):
        return self.last_event.state == ConsentState.ACTIVE and str(data_class) in self.data_classes

    monkeypatch.setattr(Consent, "permits", forgetful_permits)
    machine = make_machine(app, client, world)
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=settings(max_examples=200, phases=[Phase.generate], **SETTINGS))


def test_the_model_catches_data_from_before_the_data_period(app, client, world, monkeypatch):
    """The machine can fail: a summary that ignores the data period is caught."""
    original = queries.mood_summary
    monkeypatch.setattr(queries, "mood_summary",
                        lambda patient_id, since, now: original(patient_id, since - timedelta(days=60), now))
    machine = make_machine(app, client, world)
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=settings(max_examples=200, phases=[Phase.generate], **SETTINGS))

