"""SECURITY.md 3: a supporter reads a patient's data only while a consent is active, inside its period, for the data
classes in its scope, and only data from inside its data period.

A hypothesis state machine grants, reads (through the policy, through GET /api/v1/patients/{id}/shared and through
the supporter's page), sends encouragement, lets the patient set goals and note small wins, moves time past the end,
holds the supporter (a facilitator of the patient's group), lifts the hold, revokes, stops sharing in one tap,
re-grants and renews, over at least 500 sequences, against a model of what each consent allows. A clinical hold is
the supporter's, not one consent's: while it lasts the model allows nothing and refuses every grant and renewal,
whatever the patient revokes or lets run out.
The app and its people are made once per test; each sequence starts from the same data at the same moment.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload
from supporter_fixtures import *  # noqa: F403
from supporter_fixtures import NOW, add_checkin, link_supporter, past_sessions
from test_supporters import assert_access_ended_without_reason

from app import policy
from app.extensions import db, limiter
from app.groups.attendance import AttendanceEntry, record_attendance
from app.groups.models import Attendance, AttendanceStatus, Membership, SessionOccurrence
from app.measures import queries as measure_queries
from app.measures import services as measure_services
from app.measures.models import Measure
from app.models_base import utcnow
from app.progress import queries as progress_queries
from app.progress import services as progress_services
from app.progress.models import Goal, SmallWin
from app.rooms.models import CheckIn
from app.supporters import queries, services
from app.supporters.models import AccessLog, ClinicalHold, Consent, ConsentEvent, DataClass, Encouragement

ALL_CLASSES = [c.value for c in DataClass]
#: Where a consent's data period may start, from the test's start: before, between and after the check-ins and
#: sessions the patient has, and "from now".
DATA_FROM_OFFSETS = [timedelta(days=-60), timedelta(days=-30), timedelta(days=-14), timedelta(days=-8),
                     timedelta(days=-1), timedelta(hours=-3), None]
#: When the patient checked in before the test's start, with the mood (the supporter may see only weekly averages of
#: whole weeks with three check-ins or more). Weeks (Berlin time) with one, two, three and four check-ins, some cut
#: by a data period's start, and one check-in at 00:30 on a Monday in Berlin, still Sunday in UTC: bucketed in UTC, the
#: weeks of 23 February and 2 March would come out otherwise.
BASELINE_CHECKINS = [(timedelta(days=-58), 3), (timedelta(days=-57), 5), (timedelta(days=-56), 4),
                     (timedelta(days=-40), 9), (timedelta(days=-39), 7),
                     (timedelta(days=-29), 4), (timedelta(days=-28), 6), (timedelta(days=-27), 8),
                     (timedelta(days=-26), 2),
                     (timedelta(days=-20), 8), (timedelta(days=-19), 5),
                     (timedelta(days=-18, hours=-12, minutes=-30), 7),
                     (timedelta(days=-16), 6), (timedelta(days=-15), 4), (timedelta(days=-13), 5),
                     (timedelta(days=-9), 7), (timedelta(days=-8), 3), (timedelta(days=-6), 6),
                     (timedelta(days=-4), 6), (timedelta(days=-2), 3), (timedelta(hours=-5), 9),
                     (timedelta(hours=-1), 6)]
#: Goals the patient set before the test's start (offset, title), and small wins (offset, text, index of the goal or
#: None): on both sides of every data period's start, and wins inside a period on a goal set before it (they show
#: without the goal's title).
BASELINE_GOALS = [(timedelta(days=-45), "Goal from February"), (timedelta(days=-20), "Goal from four weeks ago"),
                  (timedelta(days=-9), "Goal from last week"), (timedelta(hours=-2), "Goal from this morning")]
BASELINE_WINS = [(timedelta(days=-50), "Win long ago", 0), (timedelta(days=-25), "Win on its own", None),
                 (timedelta(days=-12), "Win on the February goal", 0), (timedelta(days=-5), "Win last week", 2),
                 (timedelta(days=-2), "Win on its own again", None), (timedelta(minutes=-30), "Win this morning", 3)]
#: Questionnaires the patient completed before the test's start (offset, PHQ-9 answers): on both sides of every data
#: period's start, one with item 9 answered (its words and its number must never reach a supporter).
BASELINE_MEASURES = [(timedelta(days=-50), [2, 2, 1, 1, 1, 1, 1, 0, 0]),
                     (timedelta(days=-20), [1, 1, 1, 1, 1, 1, 0, 0, 2]),
                     (timedelta(days=-9), [1, 1, 1, 1, 0, 0, 0, 0, 0]),
                     (timedelta(hours=-4), [1, 0, 0, 0, 0, 0, 0, 0, 0])]
#: The patient's time zone (the fixtures' patient lives in Berlin): their weeks run Monday to Sunday there.
ZONE = ZoneInfo("Europe/Berlin")
#: Classes a supporter reads with something behind them (the rest are not in Momentum yet).
READABLE = {DataClass.MOOD.value, DataClass.SESSIONS.value, DataClass.GOALS.value, DataClass.MEASURES.value,
            DataClass.ENCOURAGEMENT.value}
GOALS = DataClass.GOALS.value
#: The supporter's page shows the classes in this order, each under its own heading.
PAGE_ORDER = [c.value for c in queries.DATA_CLASS_ORDER]


@dataclass
class ModelConsent:
    """What the test believes about one consent: its terms, and the last change of state it made."""

    id: int
    classes: frozenset[str]
    starts_at: datetime
    ends_at: datetime
    data_from: datetime
    state: str  # active, on_hold, revoked, renewed
    #: A consent is renewed once; an ended one too.
    has_renewal: bool = False

    def state_at(self, now: datetime) -> str:
        if self.state in ("active", "on_hold") and now >= self.ends_at:
            return "expired"
        return self.state

    def allows_now(self, now: datetime) -> bool:
        return self.state_at(now) == "active" and self.starts_at <= now < self.ends_at


def _monday(moment: datetime) -> date:
    """The Monday of the patient's week (in their time zone) that a moment falls in."""
    day = moment.astimezone(ZONE).date()
    return day - timedelta(days=day.weekday())


def _week_over_at(monday: date) -> datetime:
    """The moment a week is over where the patient lives: the next Monday at midnight there."""
    return datetime.combine(monday + timedelta(weeks=1), time(0, 0), tzinfo=ZONE)


def _day_month(day: date) -> str:
    """A week's Monday as the supporter's page shows a day ("Mon 19 Jan 2026")."""
    return f"{day.strftime('%a')} {day.day} {day.strftime('%b %Y')}"


@pytest.fixture
def world(app, clock, sharing_group, patient, supporter, facilitator, make_member, api_token, login):
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
    goals = []
    for offset, title in BASELINE_GOALS:
        clock.move_to(NOW + offset)
        goals.append(progress_services.create_goal(patient, title=title, why=f"Why: {title}"))
    for offset, text, goal in BASELINE_WINS:
        clock.move_to(NOW + offset)
        progress_services.add_win(patient, text, goals[goal] if goal is not None else None)
    clock.move_to(NOW - timedelta(days=1))
    someone_elses = progress_services.create_goal(other_member, title="Someone else's goal")
    progress_services.add_win(other_member, "Someone else's win", someone_elses)
    for offset, answers in BASELINE_MEASURES:
        for member in (patient, other_member):
            clock.move_to(NOW + offset)
            measure_services.create_schedule(facilitator, sharing_group, instrument="phq9", frequency="once",
                                             starts_at=NOW + offset, patient_id=member.id)
            measure = db.session.scalars(select(Measure).where(Measure.patient_id == member.id)
                                         .order_by(Measure.id.desc())).first()
            measure_services.save_answers(member, measure, answers, 2, complete=True)
    db.session.commit()
    clock.move_to(NOW)
    for occurrence in past_sessions(sharing_group):
        record_attendance(facilitator, occurrence, [AttendanceEntry(user_id=patient.id,
                                                                    status=AttendanceStatus.PRESENT_ONLINE)])
    db.session.commit()
    link_supporter(patient, supporter)
    page_client = app.test_client()
    return {
        # The supporter's browser: signed in afresh before each page read (logins end after 30 idle minutes, and
        # the clock moves by days).
        "page_client": page_client, "sign_in": lambda: login(page_client, supporter),
        "group": sharing_group, "patient": patient, "supporter": supporter, "facilitator": facilitator,
        "clock": clock, "supporter_token": api_token(supporter), "patient_token": api_token(patient),
        "baseline_checkins": set(db.session.scalars(select(CheckIn.id))),
        "baseline_attendance": set(db.session.scalars(select(Attendance.id))),
        "baseline_goals": set(db.session.scalars(select(Goal.id))),
        "baseline_wins": set(db.session.scalars(select(SmallWin.id))),
        "first_goal": goals[0],
    }


def make_machine(app, client, world, post, stats: dict | None = None):
    """The machine class, bound to this test's app and people; `stats` counts sequences and reads."""
    patient, supporter, facilitator = world["patient"], world["supporter"], world["facilitator"]
    page_client = world["page_client"]
    clock, group = world["clock"], world["group"]
    stats = stats if stats is not None else {}
    numbers = itertools.count(1)

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
            db.session.execute(delete(ClinicalHold))
            db.session.execute(delete(CheckIn).where(CheckIn.id.not_in(world["baseline_checkins"])))
            db.session.execute(delete(Attendance).where(Attendance.id.not_in(world["baseline_attendance"])))
            db.session.execute(delete(SmallWin).where(SmallWin.id.not_in(world["baseline_wins"])))
            db.session.execute(delete(Goal).where(Goal.id.not_in(world["baseline_goals"])))
            db.session.commit()
            db.session.expire_all()
            limiter.reset()
            self.model: dict[int, ModelConsent] = {}
            #: The facilitator's hold on this supporter: on the person, not on any one consent.
            self.hold_open = False

        def teardown(self):
            """At the end of each sequence: a read through the API, no consent's terms edited, and each one's
            state the model's."""
            stats["sequences"] = stats.get("sequences", 0) + 1
            db.session.rollback()
            self.supporter_reads_through_the_api()
            now = utcnow()
            for consent in db.session.scalars(select(Consent).options(selectinload(Consent.events))):
                model = self.model.get(consent.id)
                assert model is not None, f"consent {consent.id} exists, and the model refused it"
                assert (frozenset(consent.data_classes), consent.starts_at, consent.ends_at, consent.data_from) == \
                    (model.classes, model.starts_at, model.ends_at, model.data_from)
                assert consent.state_at(now).value == model.state_at(now)
            assert (queries.open_hold(patient.id, supporter.id) is not None) == self.hold_open

        # What the model allows ---------------------------------------------------------------------------------

        def expected(self, now: datetime) -> dict[str, datetime]:
            """Class -> the widest data period among the consents allowing it now; nothing while held."""
            allowed: dict[str, datetime] = {}
            if self.hold_open:
                return allowed
            for consent in self.model.values():
                if consent.allows_now(now):
                    for data_class in consent.classes:
                        if data_class not in allowed or consent.data_from < allowed[data_class]:
                            allowed[data_class] = consent.data_from
            return allowed

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
                if self.hold_open:
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
                    assert self.hold_open
                    return None
                assert not self.hold_open
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

        @rule()
        def facilitator_holds(self):
            link = link_supporter(patient, supporter)
            assert policy.can_hold_supporter(facilitator, link)
            try:
                services.hold_supporter(link, facilitator, "A concern about the relationship")
            except services.ConsentError:
                db.session.rollback()
                assert self.hold_open
                return
            db.session.commit()
            assert not self.hold_open
            self.hold_open = True
            now = utcnow()
            for model in self.model.values():
                if model.state_at(now) == "active":
                    model.state = "on_hold"

        @rule()
        def facilitator_lifts_the_hold(self):
            try:
                services.lift_hold(link_supporter(patient, supporter), facilitator)
            except services.ConsentError:
                db.session.rollback()
                assert not self.hold_open
                return
            db.session.commit()
            assert self.hold_open
            self.hold_open = False
            now = utcnow()
            for model in self.model.values():
                if model.state_at(now) == "on_hold":  # what ran out meanwhile stays over
                    model.state = "active"

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
                assert before not in ("active", "expired") or self.hold_open or model.has_renewal
                return None
            db.session.commit()
            assert before in ("active", "expired") and not self.hold_open and not model.has_renewal
            model.has_renewal = True
            if before == "active":
                model.state = "renewed"
            self.model[renewal.id] = ModelConsent(renewal.id, model.classes, now, now + timedelta(days=days),
                                                  model.data_from, "active")
            return renewal.id

        @rule(on=st.sampled_from(["the new goal", "the first goal", "no goal"]))
        def patient_sets_a_goal_and_notes_a_win(self, on):
            """Both at the frozen time; the win on the goal just set, on the oldest one (set before most data
            periods start), or on none."""
            n = next(numbers)
            goal = progress_services.create_goal(patient, title=f"Goal {n}", why=f"Why {n}")
            target = {"the new goal": goal, "the first goal": world["first_goal"], "no goal": None}[on]
            progress_services.add_win(patient, f"Win {n}", target)
            db.session.commit()

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
            self._check_look(new_log, expected, now)
            for data_class in set(expected) - READABLE:
                assert body["data"][data_class] == {"available": False}
            if DataClass.MOOD.value in expected:
                self._check_mood(body["data"][DataClass.MOOD.value], expected[DataClass.MOOD.value], now)
            if DataClass.SESSIONS.value in expected:
                self._check_attendance(body["data"][DataClass.SESSIONS.value], expected[DataClass.SESSIONS.value],
                                       now)
            if GOALS in expected:
                self._check_goals(body["data"][GOALS], expected[GOALS], now)
            if DataClass.MEASURES.value in expected:
                self._check_measures(body["data"][DataClass.MEASURES.value], expected[DataClass.MEASURES.value], now)
            if DataClass.ENCOURAGEMENT.value in expected:
                sent = [(n["body"], n["created_at"]) for n in body["data"][DataClass.ENCOURAGEMENT.value]["sent"]]
                assert sent == [(n.body, n.created_at.isoformat())
                                for n in self._notes_sent(expected[DataClass.ENCOURAGEMENT.value])]
            stats["api_allowed"] = stats.get("api_allowed", 0) + 1

        def _check_measures(self, shared, data_from, now):
            """The patient's own questionnaires completed inside the data period: date, band and total, never an
            answer (CLINICAL.md safety rule 3)."""
            done = db.session.scalars(select(Measure).where(Measure.patient_id == patient.id,
                                                            Measure.completed_at.is_not(None))
                                      .order_by(Measure.completed_at)).all()
            inside = [m for m in done if data_from <= m.completed_at <= now]
            scores = [score for instrument in shared["instruments"] for score in instrument["scores"]]
            assert [(s["completed_at"], s["total"]) for s in scores] == [
                (m.completed_at.isoformat(), m.total) for m in inside]
            assert all(set(score) == {"completed_at", "severity", "severity_label", "total"} for score in scores)
            assert "More than half the days" not in str(shared)
            if inside and len(inside) < len(done):
                stats["measures_cut"] = stats.get("measures_cut", 0) + 1

        def _check_look(self, new_log, expected, now):
            """One look: a row per consent it read under, each allowing now what it lists; together, every class
            with something behind it, once (classes not in Momentum yet are not a look)."""
            assert sorted(c for entry in new_log for c in entry.data_classes) == sorted(set(expected) & READABLE)
            assert len({entry.consent_id for entry in new_log}) == len(new_log)
            for entry in new_log:
                assert self.model[entry.consent_id].allows_now(now)
                assert set(entry.data_classes) <= self.model[entry.consent_id].classes

        def _notes_sent(self, data_from):
            return list(db.session.scalars(select(Encouragement).where(
                Encouragement.supporter_id == supporter.id, Encouragement.created_at >= data_from)
                .order_by(Encouragement.created_at.desc()).limit(20)))

        def _expected_weeks(self, data_from, now) -> list[tuple[date, float]]:
            """The patient's weeks (Berlin), among the last eight that are over, with at least three check-ins
            inside the data period: their averages. One check-in from before the data period, from a week not yet
            over, or bucketed by UTC would change a week."""
            rows = db.session.execute(select(CheckIn.created_at, CheckIn.mood).where(
                CheckIn.user_id == patient.id, CheckIn.mood.is_not(None)))
            latest_shown = _monday(now) - timedelta(weeks=1)
            weeks: dict[date, list[int]] = {}
            for created_at, mood in rows:
                week = _monday(created_at)
                if (data_from <= created_at <= now and _week_over_at(week) <= now
                        and latest_shown - week < timedelta(weeks=queries.MOOD_WEEKS)):
                    weeks.setdefault(week, []).append(mood)
            return [(week, round(sum(moods) / len(moods), 1)) for week, moods in sorted(weeks.items())
                    if len(moods) >= 3]

        def _expected_goals(self, data_from, now):
            """Goals set and wins noted inside the data period, newest first (a sequence makes fewer than the 20 of
            each a supporter is shown); a win's goal named only when that goal was set inside the period too."""
            goals = sorted((g for g in db.session.scalars(select(Goal).where(Goal.patient_id == patient.id))
                            if data_from <= g.created_at <= now), key=lambda g: (g.created_at, g.id), reverse=True)
            wins = sorted((w for w in db.session.scalars(select(SmallWin).where(SmallWin.patient_id == patient.id))
                           if data_from <= w.created_at <= now), key=lambda w: (w.created_at, w.id), reverse=True)
            return ([(g.id, g.title, g.created_at) for g in goals],
                    [(w.text, w.created_at, w.goal.title if w.goal and w.goal.created_at >= data_from else None)
                     for w in wins])

        def _check_goals(self, shared, data_from, now):
            goals, wins = self._expected_goals(data_from, now)
            assert [(g["id"], g["title"], g["created_at"]) for g in shared["goals"]] == [
                (i, title, at.isoformat()) for i, title, at in goals]
            assert [(w["text"], w["created_at"], w["goal"]) for w in shared["wins"]] == [
                (text, at.isoformat(), title) for text, at, title in wins]
            assert all(datetime.fromisoformat(row["created_at"]) >= data_from
                       for row in shared["goals"] + shared["wins"])
            # The supporter was never asked for their thoughts here: no goal says so, none has a comment.
            assert all(row["asked"] is False and row["comments"] == [] for row in shared["goals"])
            if any(title is None for _text, _at, title in wins) and any(title for _text, _at, title in wins):
                stats["goals_cut"] = stats.get("goals_cut", 0) + 1

        @rule()
        def supporter_reads_the_page(self):
            """The supporter's page: the same classes under their headings, the same weekly averages, the notes
            from inside the data period, one look in the access log; the same "access has ended" otherwise."""
            now = utcnow()
            expected = self.expected(now)
            world["sign_in"]()
            logged_before = db.session.scalar(select(func.max(AccessLog.id))) or 0
            response = page_client.get(f"/shared/{patient.id}")
            db.session.expire_all()
            new_log = list(db.session.scalars(select(AccessLog).where(AccessLog.id > logged_before)))
            if not expected:
                assert_access_ended_without_reason(response)
                assert new_log == []
                return
            assert response.status_code == 200
            html = response.get_data(as_text=True)
            assert re.findall(r'<h2 id="class-([a-z_]+)">', html) == [c for c in PAGE_ORDER if c in expected]
            self._check_look(new_log, expected, now)
            assert html.count("This part is not available in Momentum yet.") == len(set(expected) - READABLE)
            if DataClass.MOOD.value in expected:
                shown = re.findall(r"<tr><td>(\w+ \d+ \w+ \d+)</td><td>(\d+\.\d)</td></tr>", html)
                assert shown == [(_day_month(week), f"{average:.1f}")
                                 for week, average in self._expected_weeks(expected[DataClass.MOOD.value], now)]
            if GOALS in expected:
                goals, wins = self._expected_goals(expected[GOALS], now)
                assert [int(n) for n in re.findall(r'<li class="card" id="goal-(\d+)">', html)] == [
                    i for i, _title, _at in goals]
                shown = re.findall(r'<li>[^:<]+: (Win [^<]+?)(?: <span class="muted">\(([^<]*)\)</span>)?</li>', html)
                assert shown == [(text, title or "") for text, _at, title in wins]
                assert 'action="/shared/' not in html.replace(f'action="/shared/{patient.id}/encouragement"', "")
            if DataClass.ENCOURAGEMENT.value in expected:
                listed = re.findall(r"<li>(Note [^<]*)</li>", html)
                assert listed == [n.body for n in self._notes_sent(expected[DataClass.ENCOURAGEMENT.value])]
            stats["page_allowed"] = stats.get("page_allowed", 0) + 1

        @rule(n=st.integers(1, 99))
        def supporter_sends_encouragement(self, n):
            allowed = DataClass.ENCOURAGEMENT.value in self.expected(utcnow())
            world["sign_in"]()
            response = post(page_client, f"/shared/{patient.id}/encouragement", {"body": f"Note {n}"})
            assert response.status_code == (302 if allowed else 404)

        def _check_mood(self, summary, data_from, now):
            """Exactly the model's weeks, by their Monday's date (no count, no time of day)."""
            expected = self._expected_weeks(data_from, now)
            assert summary["weeks"] == [{"week_start": week.isoformat(), "average": average}
                                        for week, average in expected]
            trend = None
            if len(expected) >= 2 and expected[-1][0] - expected[-2][0] == timedelta(weeks=1):
                change = expected[-1][1] - expected[-2][1]
                trend = "up" if change >= 0.5 else "down" if change <= -0.5 else "steady"
            assert summary["trend"] == trend

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
            for goal in db.session.scalars(select(Goal).where(Goal.patient_id == patient.id)):
                sees = GOALS in expected and goal.created_at >= expected[GOALS]
                assert policy.supporter_sees_goal(supporter, goal) == sees
                assert not policy.can_comment_on_goal(supporter, goal)  # never asked

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


def test_supporter_reads_only_inside_consent_period_scope_and_data_period(app, client, world, post):
    """Over 500 sequences of grant, read, new goals and wins, expiry, hold, lift, revoke, re-grant and renewal: 0 reads
    outside."""
    stats: dict[str, int] = {}
    run_state_machine_as_test(make_machine(app, client, world, post, stats),
                              settings=settings(max_examples=500, **SETTINGS))
    # The sequences did read, both while a consent allowed it and after it had ended.
    assert stats["sequences"] >= 500
    # Each run draws new sequences: the floors sit far below what a run reads, so chance alone does not fail them.
    assert stats["api_allowed"] > 100 and stats["api_refused"] > 100 and stats["page_allowed"] > 20
    # Reads of goals and small wins that cut through them: some wins named after their goal, some not.
    assert stats["goals_cut"] > 20
    # Reads of questionnaire results that the data period cut through.
    assert stats["measures_cut"] > 20


def _catches(app, client, world, post, examples: int = 200) -> None:
    """The machine fails on the first sequence that shows the fault (no shrinking: only that it is found)."""
    with pytest.raises(AssertionError):
        run_state_machine_as_test(make_machine(app, client, world, post),
                                  settings=settings(max_examples=examples, phases=[Phase.generate], derandomize=True,
                                                    **SETTINGS))


@pytest.mark.self_check
def test_the_model_catches_a_read_outside_the_period(app, client, world, post, monkeypatch):
    """The machine can fail: a consent that forgets its end is caught."""
    from app.supporters.models import ConsentState

    def forgetful_permits(self, data_class, now):
        return self.last_event.state == ConsentState.ACTIVE and str(data_class) in self.data_classes

    monkeypatch.setattr(Consent, "permits", forgetful_permits)
    _catches(app, client, world, post)


@pytest.mark.self_check
def test_the_model_catches_data_from_before_the_data_period(app, client, world, post, monkeypatch):
    """The machine can fail: a summary that ignores the data period is caught."""
    original = queries.mood_summary
    monkeypatch.setattr(queries, "mood_summary",
                        lambda patient, since, now: original(patient, since - timedelta(days=60), now))
    _catches(app, client, world, post)


@pytest.mark.self_check
def test_the_model_catches_goals_from_before_the_data_period(app, client, world, post, monkeypatch):
    """The machine can fail: goals and small wins read from before the data period are caught."""
    original = progress_queries.shared_goals
    monkeypatch.setattr(progress_queries, "shared_goals",
                        lambda supporter, patient, since: original(supporter, patient, since - timedelta(days=60)))
    _catches(app, client, world, post)


@pytest.mark.self_check
def test_the_model_catches_questionnaires_from_before_the_data_period(app, client, world, post, monkeypatch):
    """The machine can fail: questionnaire results read from before the data period are caught."""
    original = measure_queries.shared_bands
    monkeypatch.setattr(measure_queries, "shared_bands",
                        lambda patient_id, since, now: original(patient_id, since - timedelta(days=60), now))
    _catches(app, client, world, post)


@pytest.mark.self_check
def test_the_model_catches_a_win_named_after_a_goal_outside_the_data_period(app, client, world, post, monkeypatch):
    """The machine can fail: a win that names its goal when the goal was set before the data period is caught."""
    original = progress_queries.shared_goals

    def naming_every_goal(supporter, patient, since):
        data = original(supporter, patient, since)
        titles = {w.text: w.goal.title for w in db.session.scalars(select(SmallWin)) if w.goal is not None}
        data["wins"] = [(text, at, titles.get(text)) for text, at, _title in data["wins"]]
        return data

    monkeypatch.setattr(progress_queries, "shared_goals", naming_every_goal)
    _catches(app, client, world, post)


@pytest.mark.self_check
def test_the_model_catches_weeks_cut_in_utc(app, client, world, post, monkeypatch):
    """The machine can fail: weeks bucketed in UTC rather than the patient's time zone are caught."""
    monkeypatch.setattr(queries, "ZoneInfo", lambda name: ZoneInfo("UTC"))
    _catches(app, client, world, post)


@pytest.mark.self_check
def test_the_model_catches_a_grant_that_sidesteps_a_hold(app, client, world, post, monkeypatch):
    """The machine can fail: a hold that only covers the consents it found (a revocation and a new grant, or a
    renewal, get round it) is caught."""
    monkeypatch.setattr(services, "_refuse_while_on_hold", lambda patient_id, supporter_id: None)
    # It takes a hold and then a grant in one sequence: rarer than the other faults, so more sequences may be tried.
    _catches(app, client, world, post, examples=1000)
