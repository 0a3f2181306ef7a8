"""Supporters and consent (issue 5): the patient's Sharing page, the supporter's page, the facilitator's view and
clinical hold, the consent API, and SECURITY.md 4 (revocation, expiry and hold end HTTP reads, socket answers and
pushes at once)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from conftest import PASSWORD
from sqlalchemy import func, select
from supporter_fixtures import *  # noqa: F403
from supporter_fixtures import (
    NOW,
    add_checkin,
    attend,
    consent_audit,
    consent_history,
    grant,
    hold,
    link_supporter,
    past_sessions,
    sweep,
)

from app.accounts.models import Invitation, RoleName, User
from app.audit import AuditEvent
from app.extensions import db, mail, socketio
from app.groups.models import AttendanceStatus
from app.groups.services import add_note
from app.models_base import utcnow
from app.supporters import queries, services
from app.supporters.models import AccessLog, Consent, ConsentState, DataClass, Encouragement, SupporterLink
from app.supporters.services import shared_room

MOOD, SESSIONS, ENCOURAGEMENT = DataClass.MOOD, DataClass.SESSIONS, DataClass.ENCOURAGEMENT
_client_ids = iter(range(10_000, 99_999))


def states(consent: Consent) -> list[str]:
    return [e.state.value for e in consent_history(consent)]


def fresh(consent: Consent) -> Consent:
    db.session.expire_all()
    return db.session.get(Consent, consent.id)


def api_checkin(client, headers, mood: int, note: str = ""):
    response = client.post("/api/v1/checkins", headers=headers,
                           json={"client_id": f"between-{next(_client_ids)}", "mood": mood, "note": note})
    assert response.status_code == 201, response.get_json()
    return response


def api_attendance(client, headers, occurrence, patient, status: str):
    entry = {"user_id": patient.id, "status": status, "previous_status": _current_status(occurrence, patient)}
    response = client.put(f"/api/v1/sessions/{occurrence.id}/attendance", headers=headers, json={"entries": [entry]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["conflicts"] == []


def _current_status(occurrence, patient):
    from app.groups.models import Attendance

    db.session.expire_all()
    return db.session.scalar(select(Attendance.status).where(Attendance.occurrence_id == occurrence.id,
                                                             Attendance.user_id == patient.id))


def shared_updates(sio) -> list:
    return [m for m in sio.get_received() if m["name"] == "shared_update"]


def until(html: str) -> list[str]:
    """The end dates the Sharing page shows, in the order it shows them."""
    return re.findall(r'until <time datetime="[^"]+">([^<]+)</time>', html)


def assert_access_ended_without_reason(response, *secrets: str) -> None:
    """404, "access has ended", and nothing that says why."""
    assert response.status_code == 404
    text = response.get_data(as_text=True)
    assert "Access has ended" in text
    for word in ("revoked", "Stopped", "expired", "on hold", "On hold", "hold", "reason", *secrets):
        assert word not in text, word


HOLD_REASON = "A safety concern about the relationship"


@pytest.fixture(autouse=True)
def at_now(clock):
    """Every test starts at NOW with the clock stopped: logins, consents and check-ins happen inside it."""
    return clock


# The patient's side ---------------------------------------------------------------------------------------------------


def test_patient_invites_a_supporter_by_email_who_accepts_and_then_sees_what_was_granted(
        app, client, post, login, patient, sharing_group):
    login(client, patient)
    with mail.record_messages() as outbox:
        response = post(client, "/sharing/invite", {
            "email": "sam@example.org", "relationship": "partner", "days": "30",
            "data_classes": [MOOD.value, SESSIONS.value], "purpose": "So Sam knows how I am doing"})
    assert response.status_code == 302
    assert [m.recipients for m in outbox] == [["sam@example.org"]]
    code = re.search(r"/invitations/([A-Za-z0-9_-]+)", outbox[0].body).group(1)

    consent = db.session.scalar(select(Consent))
    assert consent.supporter_id is None
    assert consent.state_at(utcnow()) == ConsentState.PROPOSED
    assert states(consent) == ["proposed"]
    terms = (sorted(consent.data_classes), consent.starts_at, consent.ends_at, consent.data_from, consent.purpose)
    assert consent.ends_at == NOW + timedelta(days=30)
    assert db.session.scalar(select(SupporterLink)) is None

    invitee = app.test_client()
    page = invitee.get(f"/invitations/{code}")
    assert page.status_code == 200
    response = post(invitee, f"/invitations/{code}", {
        "display_name": "Sam", "email": "sam@example.org", "password": PASSWORD, "timezone": "Europe/London"})
    assert response.status_code == 302, response.get_data(as_text=True)

    sam = db.session.scalar(select(User).where(User.email == "sam@example.org"))
    assert sam.role == RoleName.SUPPORTER
    consent = fresh(consent)
    assert consent.supporter_id == sam.id
    assert consent.state_at(utcnow()) == ConsentState.ACTIVE
    assert states(consent) == ["proposed", "active"]
    assert [e.by_id for e in consent_history(consent)] == [patient.id, sam.id]
    # The grantee is bound; the terms the patient set are exactly as they were.
    assert (sorted(consent.data_classes), consent.starts_at, consent.ends_at, consent.data_from,
            consent.purpose) == terms
    link = db.session.scalar(select(SupporterLink).where(SupporterLink.supporter_id == sam.id))
    assert (link.patient_id, link.relationship_label) == (patient.id, "partner")
    assert [(a.action, a.actor_id, a.subject_id) for a in consent_audit(consent)] == [
        ("consent_proposed", patient.id, patient.id), ("consent_active", sam.id, patient.id)]

    page = invitee.get(f"/shared/{patient.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # Said of the patient, in the third person: what they share, until when, then each kind under its heading.
    assert "What Pat Patient shares with you" in html and "A weekly mood summary" in html
    assert "Pat Patient&#39;s sessions and attendance" in html and "Pat Patient&#39;s weekly mood" in html


def test_a_pending_invitation_shows_on_the_sharing_page_and_one_tap_withdraws_it(app, client, post, login, patient):
    login(client, patient)
    with mail.record_messages() as outbox:
        post(client, "/sharing/invite", {"email": "sam@example.org", "relationship": "brother", "days": "30",
                                         "data_classes": [MOOD.value]})
    code = re.search(r"/invitations/([A-Za-z0-9_-]+)", outbox[0].body).group(1)
    consent = db.session.scalar(select(Consent))
    html = client.get("/sharing").get_data(as_text=True)
    assert "sam@example.org" in html and "(brother)" in html and "Waiting for them to accept" in html
    assert "A weekly mood summary" in html and until(html) == ["Sun 19 Apr 2026"]
    assert f'action="/sharing/consents/{consent.id}/revoke"' in html

    assert post(client, f"/sharing/consents/{consent.id}/revoke").status_code == 302
    assert states(fresh(consent)) == ["proposed", "revoked"]
    assert "sam@example.org" not in client.get("/sharing").get_data(as_text=True)
    # The link no longer makes an account that joins the patient's circle.
    assert app.test_client().get(f"/invitations/{code}").status_code == 410
    assert db.session.scalar(select(SupporterLink)) is None


def test_invitation_needs_email_relationship_and_a_class_and_changes_nothing_when_invalid(
        client, post, login, patient):
    login(client, patient)
    with mail.record_messages() as outbox:
        response = post(client, "/sharing/invite", {"email": "not-an-email", "relationship": "", "days": "30"})
    assert response.status_code == 422
    assert outbox == []
    assert db.session.scalar(select(Consent)) is None
    assert db.session.scalar(select(Invitation)) is None


def test_sharing_page_lists_each_supporter_what_they_see_until_when_and_every_look_in_the_patients_time_zone(
        app, client, login, patient, supporter, make_user, clock, supporter_client):
    second = make_user(RoleName.SUPPORTER, display_name="Robin Relative")
    grant(patient, supporter, [MOOD, SESSIONS], days=30)
    link_supporter(patient, second, relationship="sister")
    grant(patient, second, [ENCOURAGEMENT], days=10)

    # Sol looks at 12:00 UTC, which is 13:00 in Berlin (the patient's zone) before summer time.
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 200
    clock.shift(timedelta(hours=2))

    login(client, patient)
    html = client.get("/sharing").get_data(as_text=True)
    assert "Sol Supporter" in html and "Robin Relative" in html and "(sister)" in html
    assert "A weekly mood summary" in html and "Upcoming sessions and my attendance" in html
    assert "They may send me short notes of encouragement" in html
    assert until(html) == ["Sun 19 Apr 2026", "Mon 30 Mar 2026"]
    log = html[html.index('id="log-heading"'):]
    looks = re.findall(r'<li><time datetime="([^"]+)">([^<]+)</time>\s*<span class="who">([^<]+)</span>\s*'
                       r'<span class="what">([^<]+)</span></li>', log)
    # One look, with both things it showed.
    assert looks == [("2026-03-20T12:00:00+00:00", "Fri 20 Mar 2026, 13:00", "Sol Supporter",
                      "A weekly mood summary (averages and trend, never what I write); "
                      "Upcoming sessions and my attendance")]


def test_one_tap_stops_sharing_with_a_supporter_at_once(client, post, login, patient, supporter, supporter_client,
                                                        make_user, sockets):
    other = make_user(RoleName.SUPPORTER, display_name="Kim Keep")
    first = grant(patient, supporter, [MOOD])
    second = grant(patient, supporter, [SESSIONS])
    kept = grant(patient, other, [MOOD])
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 200
    sio = sockets(supporter_client)
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is True
    sio.get_received()

    login(client, patient)
    link = link_supporter(patient, supporter)
    response = post(client, f"/sharing/supporters/{link.id}/stop")
    assert response.status_code == 302
    # Both consents end in one go: the page is told once that nothing is shared, without a last nudge after the
    # first of them, and closed.
    assert sio.get_received() == [{"name": "shared_ended", "args": [{"patient_id": patient.id}], "namespace": "/"}]
    assert list(socketio.server.manager.get_participants("/", shared_room(patient.id, supporter.id))) == []

    assert_access_ended_without_reason(supporter_client.get(f"/shared/{patient.id}"))
    assert states(first)[-1] == states(second)[-1] == "revoked"
    assert states(kept) == ["active"]
    assert all(e.by_id == patient.id for c in (first, second) for e in consent_history(c)[-1:])
    assert [a.action for a in consent_audit(first)][-1] == "consent_revoked"


def test_stop_needs_the_csrf_token_and_the_patients_own_link(client, login, patient, supporter, other_patient, post):
    grant(patient, supporter, [MOOD])
    link = link_supporter(patient, supporter)
    login(client, patient)
    assert client.post(f"/sharing/supporters/{link.id}/stop").status_code == 400
    login(client, other_patient)
    assert post(client, f"/sharing/supporters/{link.id}/stop").status_code == 404
    assert queries.permitting_consents(db.session.get(User, supporter.id), patient.id, utcnow())


def test_renewal_is_asked_two_weeks_before_the_end_and_never_happens_silently(
        client, post, login, patient, supporter, supporter_client, clock):
    """Logins last 30 idle minutes: each person signs in again after the clock moves by days."""
    consent = grant(patient, supporter, [MOOD], days=30)
    login(client, patient)
    assert queries.renewals_due(patient) == []
    assert "Would you like to keep sharing?" not in client.get("/sharing").get_data(as_text=True)

    clock.shift(timedelta(days=17))  # 13 days left
    login(client, patient)
    assert [c.id for c in queries.renewals_due(patient)] == [consent.id]
    assert "Would you like to keep sharing?" in client.get("/sharing").get_data(as_text=True)
    assert "Some sharing ends soon" in client.get("/", follow_redirects=True).get_data(as_text=True)

    clock.shift(timedelta(days=13))  # the end: nobody renewed
    login(client, patient)
    login(supporter_client, supporter)
    assert_access_ended_without_reason(supporter_client.get(f"/shared/{patient.id}"))
    assert db.session.scalar(select(Consent).where(Consent.renews_id.is_not(None))) is None
    # Reading the Sharing page shows the end but writes nothing; the periodic sweep writes the expiry down.
    assert "Ended" in client.get("/sharing").get_data(as_text=True)
    assert states(fresh(consent)) == ["active"]
    assert [c.id for c in sweep()] == [consent.id]
    assert sweep() == []
    consent = fresh(consent)
    assert states(consent) == ["active", "expired"]
    expired = consent_history(consent)[-1]
    assert (expired.by_id, expired.at) == (None, consent.ends_at)
    assert [a.action for a in consent_audit(consent)] == ["consent_active", "consent_expired"]
    assert [c.id for c in queries.renewals_due(patient)] == [consent.id]

    response = post(client, f"/sharing/consents/{consent.id}/renew", {"days": "60"})
    assert response.status_code == 302
    renewal = db.session.scalar(select(Consent).where(Consent.renews_id == consent.id))
    assert states(renewal) == ["active"] and consent_history(renewal)[0].by_id == patient.id
    assert (renewal.data_classes, renewal.data_from) == (consent.data_classes, consent.data_from)
    assert renewal.ends_at == utcnow() + timedelta(days=60)
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 200
    assert queries.renewals_due(patient) == []


def test_renewing_an_active_consent_records_renewed_then_active(client, post, login, patient, supporter, clock):
    consent = grant(patient, supporter, [MOOD], days=20)
    clock.shift(timedelta(days=10))
    assert [c.id for c in queries.renewals_due(patient)] == [consent.id]
    login(client, patient)
    post(client, f"/sharing/consents/{consent.id}/renew", {"days": "90"})
    renewal = db.session.scalar(select(Consent).where(Consent.renews_id == consent.id))
    assert states(fresh(consent)) == ["active", "renewed"]
    assert states(renewal) == ["active"]
    assert [a.action for a in consent_audit(consent)] == ["consent_active", "consent_renewed"]
    assert [a.consent_id for a in consent_audit(renewal)] == [renewal.id]


def test_only_the_patient_renews_or_revokes_on_the_sharing_page(app, login, post, patient, supporter,
                                                                supporter_client, other_patient):
    consent = grant(patient, supporter, [MOOD])
    assert post(supporter_client, f"/sharing/consents/{consent.id}/revoke").status_code == 404
    intruder = app.test_client()
    login(intruder, other_patient)
    assert post(intruder, f"/sharing/consents/{consent.id}/revoke").status_code == 404
    assert post(intruder, f"/sharing/consents/{consent.id}/renew", {"days": "30"}).status_code == 404
    assert states(fresh(consent)) == ["active"]


def test_every_change_is_a_new_consent_event_with_who_and_when_and_an_audit_row(
        client, post, login, patient, supporter, facilitator, facilitator_client, sharing_group, clock):
    consent = grant(patient, supporter, [MOOD, SESSIONS], purpose="Family")
    terms = (consent.data_classes, consent.starts_at, consent.ends_at, consent.data_from, consent.purpose,
             consent.supporter_id, consent.patient_id)

    login(client, patient)
    link = link_supporter(patient, supporter)
    clock.shift(timedelta(minutes=5))
    post(facilitator_client, f"/supporter-links/{link.id}/hold", {"reason": HOLD_REASON})
    clock.shift(timedelta(minutes=5))
    post(facilitator_client, f"/supporter-links/{link.id}/lift-hold")
    clock.shift(timedelta(minutes=5))
    post(client, f"/sharing/consents/{consent.id}/revoke")

    consent = fresh(consent)
    history = consent_history(consent)
    assert [(e.state.value, e.by_id, e.at) for e in history] == [
        ("active", patient.id, NOW), ("on_hold", facilitator.id, NOW + timedelta(minutes=5)),
        ("active", facilitator.id, NOW + timedelta(minutes=10)), ("revoked", patient.id, NOW + timedelta(minutes=15))]
    assert history[1].reason == HOLD_REASON
    assert (consent.data_classes, consent.starts_at, consent.ends_at, consent.data_from, consent.purpose,
            consent.supporter_id, consent.patient_id) == terms
    audit = consent_audit(consent)
    assert [(a.action, a.actor_id, a.subject_id, a.consent_id, a.occurred_at) for a in audit] == [
        (f"consent_{e.state.value}", e.by_id, patient.id, consent.id, e.at) for e in history]
    assert all(a.target == f"consent:{consent.id}" for a in audit)


def test_patient_sees_what_is_shared_on_the_api_with_the_hold_reason(client, patient, supporter, facilitator,
                                                                     sharing_group, api_token):
    consent = grant(patient, supporter, [MOOD])
    hold(facilitator, patient, supporter, HOLD_REASON)
    body = client.get(f"/api/v1/consents/{consent.id}", headers=api_token(patient)).get_json()
    assert body["state"] == "on_hold"
    assert body["history"][-1]["reason"] == HOLD_REASON


# The supporter's side -------------------------------------------------------------------------------------------------


@pytest.fixture
def sensitive_history(patient, facilitator, sharing_group, clock):
    """What never reaches a supporter: check-in words, a safety alert, a facilitator's note, other members. The
    check-ins fill two whole weeks (Berlin time) around the data period's start, NOW - 12 days (Sunday 8 March,
    noon), and one more in the week under way."""
    for offset, mood, note in [
            (timedelta(days=-13), 7, "OLD-NOTE before the data period"),  # Saturday 7 March
            (timedelta(days=-12, hours=-2), 9, "OLD-NOTE on the Sunday morning"),
            (timedelta(days=-12, hours=6), 2, "after the data period began, alone in its week"),
            (timedelta(days=-10), 6, "PRIVATE-NOTE I argued with my partner"),  # Tuesday 10 March
            (timedelta(days=-9), 1, "DISTRESS-NOTE everything is too much"),  # raises a low-mood alert
            (timedelta(days=-8), 5, "a calmer day"),
            (timedelta(days=-1), 8, "in the week under way")]:
        clock.move_to(NOW + offset)
        add_checkin(patient, mood, note=note)
    add_note(facilitator, sharing_group, "FACILITATOR-NOTE Pat seemed withdrawn", member=patient)
    db.session.commit()
    clock.move_to(NOW)
    for occurrence in past_sessions(sharing_group):
        attend(facilitator, occurrence, patient)
    return {"secrets": ["OLD-NOTE", "PRIVATE-NOTE", "DISTRESS-NOTE", "FACILITATOR-NOTE", "Zoe Zimmer", "Ben Berg",
                        "low_mood", "alert", "Alert", "withdrawn", "argued", "calmer", "under way"]}


def test_supporter_page_shows_only_granted_classes_inside_the_data_period_and_never_the_words(
        patient, supporter, supporter_client, api_token, sensitive_history, sharing_group):
    grant(patient, supporter, [MOOD], data_from=NOW - timedelta(days=12))
    html = supporter_client.get(f"/shared/{patient.id}").get_data(as_text=True)
    assert "Average mood per week" in html
    assert "Upcoming sessions and my attendance" not in html and "Next sessions" not in html
    assert "encouragement" not in html.lower()
    for secret in sensitive_history["secrets"]:
        assert secret not in html, secret
    # The week of 9 March (moods 6, 1 and 5). Not the week of 2 March: of its three check-ins only one falls inside
    # the data period. Not this week: it is not over.
    assert re.findall(r"<td>([^<]+)</td><td>(\d+\.\d)</td>", html) == [("Mon 9 Mar 2026", "4.0")]
    assert "only if Pat Patient checked in at least 3 times that week" in html

    body = supporter_client.get(f"/api/v1/patients/{patient.id}/shared", headers=api_token(supporter))
    text = body.get_data(as_text=True)
    for secret in sensitive_history["secrets"]:
        assert secret not in text, secret
    data = body.get_json()
    assert data["classes"] == [MOOD.value]
    # No count: an average with its count tells more than it should.
    assert data["data"][MOOD.value] == {"weeks": [{"week_start": "2026-03-09", "average": 4.0}], "trend": None}


def test_a_week_of_moods_shows_once_it_is_over_and_only_with_three_check_ins(
        patient, supporter, supporter_client, api_token, clock, sharing_group, login):
    grant(patient, supporter, [MOOD], data_from=NOW - timedelta(days=30))
    headers = api_token(supporter)

    def weeks():
        return supporter_client.get(f"/api/v1/patients/{patient.id}/shared", headers=headers).get_json()[
            "data"][MOOD.value]

    # Two check-ins in the week of 9 March, three in the week of 16 March (NOW is Friday 20 March).
    for offset, mood in [(-10, 4), (-9, 6), (-3, 5), (-2, 7), (0, 9)]:
        clock.move_to(NOW + timedelta(days=offset))
        add_checkin(patient, mood)
    clock.move_to(NOW)
    assert weeks() == {"weeks": [], "trend": None}
    html = supporter_client.get(f"/shared/{patient.id}").get_data(as_text=True)
    assert "No week to show yet." in html
    # Sunday 22 March, 23:30 in Berlin: the week is not over there yet, whatever UTC says.
    clock.move_to(datetime(2026, 3, 22, 22, 30, tzinfo=timezone.utc))
    login(supporter_client, supporter)
    assert weeks()["weeks"] == []
    clock.move_to(datetime(2026, 3, 22, 23, 0, tzinfo=timezone.utc))  # Monday 00:00 in Berlin
    login(supporter_client, supporter)
    assert weeks() == {"weeks": [{"week_start": "2026-03-16", "average": 7.0}], "trend": None}


def test_mood_weeks_are_the_patients_weeks_and_show_their_monday_to_a_supporter_anywhere(
        app, patient, make_user, login, clock, sharing_group):
    """A check-in late on Sunday evening in UTC is already Monday in Berlin; the supporter in Los Angeles, where it is
    still Sunday, sees the week under the patient's Monday."""
    far_away = make_user(RoleName.SUPPORTER, display_name="Lee Far", timezone="America/Los_Angeles")
    grant(patient, far_away, [MOOD], data_from=NOW - timedelta(days=30))
    # Berlin's Monday 9 March starts at 23:00 UTC on Sunday 8 March.
    for moment, mood in [(datetime(2026, 3, 8, 23, 30, tzinfo=timezone.utc), 2),
                         (datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc), 4),
                         (datetime(2026, 3, 12, 9, 0, tzinfo=timezone.utc), 6),
                         (datetime(2026, 3, 8, 22, 30, tzinfo=timezone.utc), 10)]:  # still Sunday in Berlin
        clock.move_to(moment)
        add_checkin(patient, mood)
    clock.move_to(NOW)
    client = app.test_client()
    login(client, far_away)
    html = client.get(f"/shared/{patient.id}").get_data(as_text=True)
    assert re.findall(r"<td>([^<]+)</td><td>(\d+\.\d)</td>", html) == [("Mon 9 Mar 2026", "4.0")]
    body = client.get(f"/api/v1/patients/{patient.id}/shared").get_json()
    assert body["data"][MOOD.value]["weeks"] == [{"week_start": "2026-03-09", "average": 4.0}]


def test_a_check_in_pushes_nothing_to_a_supporter_who_sees_the_mood_summary(
        client, patient, supporter, supporter_client, sockets, api_token, sharing_group):
    grant(patient, supporter, [MOOD])
    sio = sockets(supporter_client)
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is True
    sio.get_received()
    for mood in (3, 7, 5):
        api_checkin(client, api_token(patient), mood)
    assert shared_updates(sio) == []


def test_attendance_is_the_patients_own_and_only_from_the_data_period(patient, supporter, supporter_client,
                                                                       sensitive_history, sharing_group):
    sessions = past_sessions(sharing_group)
    grant(patient, supporter, [SESSIONS], data_from=sessions[1].starts_at)
    data = supporter_client.get(f"/api/v1/patients/{patient.id}/shared").get_json()["data"][SESSIONS.value]
    assert [row["starts_at"] for row in data["attendance"]] == [s.starts_at.isoformat() for s in sessions[:0:-1]]
    assert set(data["attendance"][0]) == {"starts_at", "status"}
    html = supporter_client.get(f"/shared/{patient.id}").get_data(as_text=True)
    for secret in sensitive_history["secrets"] + [sharing_group.video_link]:
        assert secret not in html, secret


def test_encouragement_only_when_granted(post, patient, supporter, supporter_client, client, login):
    grant(patient, supporter, [MOOD])
    assert post(supporter_client, f"/shared/{patient.id}/encouragement", {"body": "You can do it"}).status_code == 404
    assert "Send" not in supporter_client.get(f"/shared/{patient.id}").get_data(as_text=True)
    grant(patient, supporter, [ENCOURAGEMENT])
    response = post(supporter_client, f"/shared/{patient.id}/encouragement", {"body": "Proud of you"})
    assert response.status_code == 302
    note = db.session.scalar(select(Encouragement))
    assert (note.body, note.patient_id, note.supporter_id) == ("Proud of you", patient.id, supporter.id)
    login(client, patient)
    assert "Proud of you" in client.get("/sharing").get_data(as_text=True)


def test_new_encouragement_stays_on_the_home_page_until_the_patient_marks_it_read(
        post, patient, supporter, supporter_client, client, login):
    grant(patient, supporter, [ENCOURAGEMENT])
    post(supporter_client, f"/shared/{patient.id}/encouragement", {"body": "Proud of you"})
    login(client, patient)
    assert "Proud of you" in client.get("/sharing").get_data(as_text=True)
    assert db.session.scalar(select(Encouragement.read_at)) is None  # looking changes nothing
    assert "Proud of you" in client.get("/").get_data(as_text=True)

    assert post(client, "/sharing/encouragement/read").headers["Location"] == "/"

    db.session.expire_all()
    assert db.session.scalar(select(Encouragement.read_at)) is not None
    assert "Proud of you" not in client.get("/").get_data(as_text=True)
    assert "Proud of you" in client.get("/sharing").get_data(as_text=True)


def test_marking_encouragement_read_needs_the_form_token(patient, supporter, supporter_client, post, client, login):
    grant(patient, supporter, [ENCOURAGEMENT])
    post(supporter_client, f"/shared/{patient.id}/encouragement", {"body": "Proud of you"})
    login(client, patient)
    assert client.post("/sharing/encouragement/read").status_code == 400
    assert db.session.scalar(select(Encouragement.read_at)) is None


def test_supporter_page_says_access_ended_after_revocation_without_the_reason(
        patient, supporter, supporter_client, facilitator, sharing_group, api_token, client):
    consent = grant(patient, supporter, [MOOD], purpose="PURPOSE-ONLY-WHILE-ACTIVE")
    fhir = client.get(f"/api/v1/consents/{consent.id}/fhir", headers=api_token(supporter))
    assert fhir.status_code == 200 and "PURPOSE-ONLY-WHILE-ACTIVE" in fhir.get_data(as_text=True)
    hold(facilitator, patient, supporter, HOLD_REASON)
    assert_access_ended_without_reason(supporter_client.get(f"/shared/{patient.id}"), HOLD_REASON)
    # While held, and once ended, the export (which carries the purpose and the classes) is the patient's alone.
    assert client.get(f"/api/v1/consents/{consent.id}/fhir", headers=api_token(supporter)).status_code == 404
    services.lift_hold(link_supporter(patient, supporter), facilitator)
    services.revoke_consent(consent, patient)
    db.session.commit()
    assert_access_ended_without_reason(supporter_client.get(f"/shared/{patient.id}"), HOLD_REASON)
    api = client.get(f"/api/v1/patients/{patient.id}/shared", headers=api_token(supporter))
    assert_access_ended_without_reason(api, HOLD_REASON)
    # The supporter's own view of the consent says it has ended, not why or who.
    row = client.get(f"/api/v1/consents/{consent.id}", headers=api_token(supporter)).get_json()
    assert (row["state"], row["history"]) == ("ended", [])
    listed = client.get("/api/v1/consents", headers=api_token(supporter)).get_json()
    assert [(r["state"], r["history"], r["purpose"], r["data_classes"]) for r in listed] == [("ended", [], "", [])]
    fhir = client.get(f"/api/v1/consents/{consent.id}/fhir", headers=api_token(supporter))
    assert fhir.status_code == 404
    for secret in (HOLD_REASON, "PURPOSE-ONLY-WHILE-ACTIVE", MOOD.value):
        assert secret not in fhir.get_data(as_text=True)
    # The patient still exports it.
    assert client.get(f"/api/v1/consents/{consent.id}/fhir", headers=api_token(patient)).status_code == 200


def test_a_patient_who_never_shared_looks_the_same_as_one_who_stopped(patient, other_patient, supporter,
                                                                      supporter_client):
    consent = grant(patient, supporter, [MOOD])
    services.revoke_consent(consent, patient)
    db.session.commit()
    stopped = supporter_client.get(f"/shared/{patient.id}")
    never = supporter_client.get(f"/shared/{other_patient.id}")
    assert stopped.status_code == never.status_code == 404
    def page(response):
        return re.sub(r'(nonce|content)="[^"]*"', "", response.get_data(as_text=True))

    assert page(stopped) == page(never)


def test_each_look_is_one_row_in_the_access_log_and_the_audit_trail(patient, supporter, supporter_client):
    consent = grant(patient, supporter, [MOOD, SESSIONS])
    supporter_client.get(f"/shared/{patient.id}")
    supporter_client.get(f"/shared/{patient.id}", headers={"X-Momentum-Fragment": "1"})  # a live refresh
    supporter_client.get(f"/api/v1/patients/{patient.id}/shared")
    looks = list(db.session.scalars(select(AccessLog).order_by(AccessLog.id)))
    assert [(a.data_classes, a.consent_id, a.supporter_id) for a in looks] == [
        ([MOOD.value, SESSIONS.value], consent.id, supporter.id)] * 3
    reads = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "supporter_read")))
    assert len(reads) == 3
    assert {(a.actor_id, a.subject_id, a.consent_id) for a in reads} == {(supporter.id, patient.id, consent.id)}


def test_a_look_under_two_consents_is_one_row_for_each(patient, supporter, supporter_client):
    mood = grant(patient, supporter, [MOOD])
    sessions = grant(patient, supporter, [SESSIONS, ENCOURAGEMENT])
    supporter_client.get(f"/shared/{patient.id}")
    assert sorted((a.consent_id, a.data_classes) for a in db.session.scalars(select(AccessLog))) == [
        (mood.id, [MOOD.value]), (sessions.id, [ENCOURAGEMENT.value, SESSIONS.value])]


def test_the_access_log_is_paged_with_a_link_to_older_looks(client, login, patient, supporter, supporter_client):
    consent = grant(patient, supporter, [MOOD])
    db.session.add_all([AccessLog(consent_id=consent.id, patient_id=patient.id, supporter_id=supporter.id,
                                  data_classes=[MOOD.value], at=NOW - timedelta(minutes=n)) for n in range(120, 0, -1)])
    db.session.commit()
    login(client, patient)

    def rows(html):
        return re.findall(r'<li><time datetime="([^"]+)">', html[html.index('id="log-heading"'):])

    first = client.get("/sharing").get_data(as_text=True)
    assert len(rows(first)) == queries.ACCESS_LOG_PAGE
    assert rows(first)[0] == (NOW - timedelta(minutes=1)).isoformat()
    older = re.search(r'href="(/sharing\?log_before=\d+)#log-heading">Show older looks</a>', first).group(1)
    second = client.get(older).get_data(as_text=True)
    assert rows(second)[0] == (NOW - timedelta(minutes=51)).isoformat() and "Back to the latest looks" in second
    third = client.get(re.search(r'href="(/sharing\?log_before=\d+)#', second).group(1)).get_data(as_text=True)
    assert len(rows(third)) == 20 and rows(third)[-1] == (NOW - timedelta(minutes=120)).isoformat()
    assert "Show older looks" not in third
    seen = rows(first) + rows(second) + rows(third)
    assert len(set(seen)) == 120
    for bad in ("x", "-1", "0", str(2**70)):
        assert client.get(f"/sharing?log_before={bad}").status_code == 200


def test_what_is_not_in_momentum_yet_can_be_granted_but_is_said_honestly_and_never_logged(
        client, login, post, patient, supporter, supporter_client, api_token, sharing_group):
    login(client, patient)
    page = client.get("/sharing").get_data(as_text=True)
    # Goals and small wins arrived with app/progress, questionnaire results with app/measures: only the
    # relapse-prevention plan is still to come.
    assert page.count("(not available in Momentum yet: you can allow it now, and they will see it once it is)") == 1
    assert "My goals and small wins</label>" in page
    link = link_supporter(patient, supporter)
    later = [DataClass.RELAPSE_HELP]
    post(client, f"/sharing/supporters/{link.id}/consents", {"data_classes": [c.value for c in later], "days": "30"})
    consent = db.session.scalar(select(Consent))
    assert consent.data_classes == [DataClass.RELAPSE_HELP.value]

    html = supporter_client.get(f"/shared/{patient.id}").get_data(as_text=True)
    assert html.count("This part is not available in Momentum yet.") == 1
    assert "Nothing to show here yet" not in html
    body = supporter_client.get(f"/api/v1/patients/{patient.id}/shared", headers=api_token(supporter)).get_json()
    assert body["data"] == {c.value: {"available": False} for c in later}
    # Nothing was there to look at: no look in the access log, no supporter_read.
    assert db.session.scalars(select(AccessLog)).all() == []
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "supporter_read")).all() == []
    # Beside classes that have data (goals and small wins, questionnaire results among them now), only those
    # classes are a look.
    grant(patient, supporter, [SESSIONS, DataClass.GOALS, DataClass.MEASURES])
    html = supporter_client.get(f"/shared/{patient.id}").get_data(as_text=True)
    assert html.count("This part is not available in Momentum yet.") == 1
    assert [a.data_classes for a in db.session.scalars(select(AccessLog))] == [[DataClass.GOALS.value,
                                                                                 DataClass.MEASURES.value,
                                                                                 SESSIONS.value]]


# The facilitator's side -----------------------------------------------------------------------------------------------


def test_facilitator_sees_which_supporters_with_which_classes_but_not_the_notes_and_the_look_is_audited(
        facilitator_client, facilitator, post, patient, supporter, supporter_client, sharing_group):
    grant(patient, supporter, [MOOD, ENCOURAGEMENT])
    post(supporter_client, f"/shared/{patient.id}/encouragement", {"body": "SECRET-ENCOURAGEMENT"})
    html = facilitator_client.get(f"/patients/{patient.id}/supporters").get_data(as_text=True)
    assert "Sol Supporter" in html and "(partner)" in html
    assert "A weekly mood summary" in html and "They may send me short notes of encouragement" in html
    assert "SECRET-ENCOURAGEMENT" not in html
    # SECURITY.md 14: a facilitator's read of who supports a patient, and what each may see, is in the audit trail.
    reads = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "patient_supporters_read")))
    assert [(a.actor_id, a.subject_id, a.target, a.outcome) for a in reads] == [
        (facilitator.id, patient.id, f"patient:{patient.id}:supporters", "success")]


def _hold_url(patient, supporter, action: str = "hold") -> str:
    return f"/supporter-links/{link_supporter(patient, supporter).id}/{action}"


def test_clinical_hold_suspends_every_consent_at_once_the_patient_sees_why_and_lifting_restores(
        client, login, post, patient, supporter, supporter_client, facilitator_client, facilitator, sharing_group):
    first = grant(patient, supporter, [MOOD])
    second = grant(patient, supporter, [SESSIONS, ENCOURAGEMENT])
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 200

    response = post(facilitator_client, _hold_url(patient, supporter), {"reason": HOLD_REASON})
    assert response.status_code == 302
    # The hold is on the supporter, not on one consent: nothing at all reaches them.
    assert_access_ended_without_reason(supporter_client.get(f"/shared/{patient.id}"), HOLD_REASON)
    assert post(supporter_client, f"/shared/{patient.id}/encouragement", {"body": "Hi"}).status_code == 404
    assert states(fresh(first)) == states(fresh(second)) == ["active", "on_hold"]
    assert {e.reason for c in (first, second) for e in consent_history(c)[-1:]} == {HOLD_REASON}
    login(client, patient)
    html = client.get("/sharing").get_data(as_text=True)
    assert "On hold" in html and HOLD_REASON in html
    assert "Only your facilitator can lift the hold" in html
    assert f'action="/sharing/supporters/{link_supporter(patient, supporter).id}/consents"' not in html
    facilitator_page = facilitator_client.get(f"/patients/{patient.id}/supporters").get_data(as_text=True)
    assert HOLD_REASON in facilitator_page and "Lift the hold on Sol Supporter" in facilitator_page

    assert post(facilitator_client, _hold_url(patient, supporter, "lift-hold")).status_code == 302
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 200
    assert states(fresh(first)) == states(fresh(second)) == ["active", "on_hold", "active"]
    assert [a.action for a in db.session.scalars(select(AuditEvent).where(
        AuditEvent.target == f"supporter_link:{link_supporter(patient, supporter).id}").order_by(AuditEvent.seq))] == [
        "supporter_hold", "supporter_hold_lift"]


def test_the_patient_cannot_sidestep_a_hold_by_revoking_stopping_regranting_or_renewing(
        client, login, post, patient, supporter, supporter_client, facilitator, facilitator_client, sharing_group,
        api_token, clock):
    consent = grant(patient, supporter, [MOOD], days=1)
    hold(facilitator, patient, supporter, HOLD_REASON)
    login(client, patient)
    link = link_supporter(patient, supporter)

    # Revoking the held consent (the patient may always stop sharing) leaves the hold in force.
    assert post(client, f"/sharing/consents/{consent.id}/revoke").status_code == 302
    assert states(fresh(consent)) == ["active", "on_hold", "revoked"]
    response = post(client, f"/sharing/supporters/{link.id}/consents", {"data_classes": [MOOD.value], "days": "30"},
                    follow_redirects=True)
    assert "Sharing with this person is on hold" in response.get_data(as_text=True)
    assert HOLD_REASON in response.get_data(as_text=True)
    api = client.post("/api/v1/consents", headers=api_token(patient),
                      json={"supporter_id": supporter.id, "data_classes": [MOOD.value]})
    assert api.status_code == 409 and HOLD_REASON in api.get_json()["error"]["message"]
    # So does stopping in one tap.
    assert post(client, f"/sharing/supporters/{link.id}/stop").status_code == 302
    post(client, f"/sharing/supporters/{link.id}/consents", {"data_classes": [SESSIONS.value], "days": "30"})
    assert db.session.scalars(select(Consent.id)).all() == [consent.id]

    # And so does the end of a held consent's period: it cannot be renewed while the hold lasts.
    clock.shift(timedelta(days=2))
    login(client, patient)
    assert post(client, f"/sharing/consents/{consent.id}/renew", {"days": "30"}).status_code == 302
    assert db.session.scalars(select(Consent.id)).all() == [consent.id]
    assert queries.renewals_due(patient) == []
    login(supporter_client, supporter)
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 404

    # Only a facilitator's lift clears it.
    assert queries.open_hold(patient.id, supporter.id) is not None
    services.lift_hold(link, facilitator)
    db.session.commit()
    post(client, f"/sharing/supporters/{link.id}/consents", {"data_classes": [MOOD.value], "days": "30"})
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 200


def test_a_held_expired_consent_is_not_renewed_and_lifting_does_not_revive_it(
        client, login, post, patient, supporter, facilitator, sharing_group, clock, supporter_client):
    consent = grant(patient, supporter, [MOOD], days=1)
    hold(facilitator, patient, supporter)
    clock.shift(timedelta(days=2))
    with pytest.raises(services.ConsentError, match="on hold"):
        services.renew_consent(consent, patient, utcnow() + timedelta(days=30))
    db.session.rollback()
    assert [c.id for c in sweep()] == [consent.id]
    assert states(fresh(consent)) == ["active", "on_hold", "expired"]
    services.lift_hold(link_supporter(patient, supporter), facilitator)
    db.session.commit()
    # The lift restores what the hold suspended and is still inside its period: this one is over.
    assert states(fresh(consent)) == ["active", "on_hold", "expired"]
    login(supporter_client, supporter)
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 404


def test_an_invitation_cannot_sidestep_a_hold(app, client, login, post, patient, supporter, facilitator,
                                              sharing_group):
    grant(patient, supporter, [MOOD])
    login(client, patient)
    # While sharing with Sol is on hold, Sol is not invited by email either (the patient is told why).
    hold(facilitator, patient, supporter, HOLD_REASON)
    with mail.record_messages() as outbox:
        response = post(client, "/sharing/invite", {"email": supporter.email, "relationship": "partner",
                                                    "days": "30", "data_classes": [SESSIONS.value]})
    assert response.status_code == 422 and HOLD_REASON in response.get_data(as_text=True)
    assert outbox == [] and db.session.scalar(select(Invitation)) is None
    # An invitation sent before the hold cannot be accepted while it lasts, and the supporter is not told why.
    services.lift_hold(link_supporter(patient, supporter), facilitator)
    db.session.commit()
    with mail.record_messages() as outbox:
        post(client, "/sharing/invite", {"email": supporter.email, "relationship": "partner", "days": "30",
                                         "data_classes": [SESSIONS.value]})
    code = re.search(r"/invitations/([A-Za-z0-9_-]+)", outbox[0].body).group(1)
    hold(facilitator, patient, supporter, HOLD_REASON)
    invitee = app.test_client()
    login(invitee, supporter)
    page = post(invitee, f"/invitations/{code}")
    assert page.status_code == 200 and "This invitation cannot be used now" in page.get_data(as_text=True)
    assert HOLD_REASON not in page.get_data(as_text=True) and "hold" not in page.get_data(as_text=True)
    proposed = db.session.scalar(select(Consent).where(Consent.invitation_id.is_not(None)))
    assert (fresh(proposed).supporter_id, states(proposed)) == (None, ["proposed"])


def test_an_existing_account_accepting_an_invitation_is_linked_not_made_again(
        app, client, login, post, patient, supporter, sharing_group):
    login(client, patient)
    with mail.record_messages() as outbox:
        post(client, "/sharing/invite", {"email": supporter.email, "relationship": "brother", "days": "30",
                                         "data_classes": [SESSIONS.value]})
    code = re.search(r"/invitations/([A-Za-z0-9_-]+)", outbox[0].body).group(1)
    accounts = db.session.scalar(select(func.count(User.id)))
    invitee = app.test_client()
    login(invitee, supporter)
    response = post(invitee, f"/invitations/{code}")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(User.id))) == accounts
    link = db.session.scalar(select(SupporterLink))
    assert (link.patient_id, link.supporter_id, link.relationship_label) == (patient.id, supporter.id, "brother")
    consent = db.session.scalar(select(Consent))
    assert (fresh(consent).supporter_id, states(consent)) == (supporter.id, ["proposed", "active"])
    assert invitee.get(f"/shared/{patient.id}").status_code == 200
    # Accepting a second invitation keeps the one link.
    with mail.record_messages() as outbox:
        post(client, "/sharing/invite", {"email": supporter.email, "relationship": "brother", "days": "30",
                                         "data_classes": [MOOD.value]})
    code = re.search(r"/invitations/([A-Za-z0-9_-]+)", outbox[0].body).group(1)
    assert post(invitee, f"/invitations/{code}").status_code == 302
    assert db.session.scalar(select(func.count(SupporterLink.id))) == 1
    assert set(queries.permitting_consents(supporter, patient.id, utcnow())) == {MOOD.value, SESSIONS.value}


def test_a_hold_needs_a_reason_and_is_placed_once(post, patient, supporter, facilitator_client, sharing_group,
                                                  supporter_client):
    consent = grant(patient, supporter, [MOOD])
    post(facilitator_client, _hold_url(patient, supporter), {"reason": "  "})
    assert states(fresh(consent)) == ["active"]
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 200
    post(facilitator_client, _hold_url(patient, supporter), {"reason": HOLD_REASON})
    response = post(facilitator_client, _hold_url(patient, supporter), {"reason": "Again"}, follow_redirects=True)
    assert "already on hold" in response.get_data(as_text=True)
    assert len(link_supporter(patient, supporter).holds) == 1
    response = post(facilitator_client, _hold_url(patient, supporter, "lift-hold"))
    response = post(facilitator_client, _hold_url(patient, supporter, "lift-hold"), follow_redirects=True)
    assert "not on hold" in response.get_data(as_text=True)


def test_another_groups_facilitator_cannot_see_or_hold(app, login, post, patient, supporter, other_facilitator,
                                                       sharing_group, supporter_client, api_token, client):
    consent = grant(patient, supporter, [MOOD])
    outsider = app.test_client()
    login(outsider, other_facilitator)
    assert outsider.get(f"/patients/{patient.id}/supporters").status_code == 404
    assert post(outsider, _hold_url(patient, supporter), {"reason": HOLD_REASON}).status_code == 404
    assert post(outsider, _hold_url(patient, supporter, "lift-hold")).status_code == 404
    assert client.get(f"/api/v1/consents/{consent.id}", headers=api_token(other_facilitator)).status_code == 404
    assert states(fresh(consent)) == ["active"]
    assert queries.open_hold(patient.id, supporter.id) is None
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 200


# SECURITY.md 4: revocation, expiry and hold take effect at once -------------------------------------------------------


def _end_by_api_revoke(ctx):
    response = ctx["client"].post(f"/api/v1/consents/{ctx['consent'].id}/revoke", headers=ctx["patient_headers"])
    assert response.status_code == 200 and response.get_json()["state"] == "revoked"


def _end_by_one_tap(ctx):
    link = link_supporter(ctx["patient"], ctx["supporter"])
    assert ctx["post"](ctx["patient_client"], f"/sharing/supporters/{link.id}/stop").status_code == 302


def _end_by_hold(ctx):
    response = ctx["post"](ctx["facilitator_client"], _hold_url(ctx["patient"], ctx["supporter"]),
                           {"reason": HOLD_REASON})
    assert response.status_code == 302


def _end_by_expiry(ctx):
    ctx["clock"].move_to(ctx["consent"].ends_at)
    # Before the sweep has written the expiry down, nothing is pushed: a push asks the policy, which reads the end.
    api_attendance(ctx["client"], ctx["facilitator_headers"], ctx["occurrence"], ctx["patient"],
                   AttendanceStatus.EXCUSED.value)
    assert ctx["sio"].get_received() == []
    # The periodic sweep records the expiry and closes the supporter's live room.
    assert [c.id for c in sweep()] == [ctx["consent"].id]


ENDINGS = {"revoked": _end_by_api_revoke, "stopped_in_one_tap": _end_by_one_tap, "held": _end_by_hold,
           "expired": _end_by_expiry}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_after_access_ends_no_http_read_no_socket_answer_and_no_push_reaches_the_supporter(
        ending, app, client, post, patient, supporter, facilitator, sharing_group, clock, api_token,
        supporter_client, patient_client, facilitator_client, sockets):
    # Ten minutes, so that the supporter's login (30 idle minutes) outlives the consent when it expires.
    consent = grant(patient, supporter, [MOOD, SESSIONS], ends_at=NOW + timedelta(minutes=10))
    patient_headers, facilitator_headers = api_token(patient), api_token(facilitator)
    supporter_headers = api_token(supporter)
    occurrence = past_sessions(sharing_group)[-1]
    sio = sockets(supporter_client)
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True) == {
        "ok": True, "classes": [MOOD.value, SESSIONS.value]}
    sio.get_received()

    # Before: an attendance change nudges the supporter's page (never the data itself); a check-in does not (the
    # mood summary shows whole weeks only).
    api_checkin(client, patient_headers, 6, note="PRIVATE-NOTE")
    assert shared_updates(sio) == []
    api_attendance(client, facilitator_headers, occurrence, patient, AttendanceStatus.PRESENT_ONLINE.value)
    assert shared_updates(sio) == [{"name": "shared_update", "args": [{"patient_id": patient.id}],
                                    "namespace": "/"}]

    ENDINGS[ending]({"client": client, "post": post, "consent": consent, "patient": patient, "supporter": supporter,
                     "patient_headers": patient_headers, "patient_client": patient_client,
                     "facilitator_client": facilitator_client, "facilitator_headers": facilitator_headers,
                     "clock": clock, "occurrence": occurrence, "sio": sio})
    # However access ended, the open page is told so, with nothing of the data and no reason (it empties itself)...
    assert sio.get_received() == [{"name": "shared_ended", "args": [{"patient_id": patient.id}], "namespace": "/"}]
    # ...and whatever is emitted to the room from now on, the supporter's socket is no longer in it.
    assert list(socketio.server.manager.get_participants("/", shared_room(patient.id, supporter.id))) == []

    # After: 0 pushes, 0 socket answers, 0 HTTP reads.
    api_checkin(client, patient_headers, 4, note="PRIVATE-NOTE-2")
    api_attendance(client, facilitator_headers, occurrence, patient, AttendanceStatus.LEFT_EARLY.value)
    assert sio.get_received() == []
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True) == {"ok": False,
                                                                                  "error": "access_ended"}
    api_checkin(client, patient_headers, 5)
    assert sio.get_received() == []
    assert_access_ended_without_reason(supporter_client.get(f"/shared/{patient.id}"), HOLD_REASON)
    assert_access_ended_without_reason(
        supporter_client.get(f"/shared/{patient.id}", headers={"X-Momentum-Fragment": "1"}), HOLD_REASON)
    assert_access_ended_without_reason(
        client.get(f"/api/v1/patients/{patient.id}/shared", headers=supporter_headers), HOLD_REASON)
    # Nothing was read over HTTP, before or after: no look in the access log, no supporter_read in the audit trail.
    assert db.session.scalars(select(AccessLog)).all() == []
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "supporter_read")).all() == []


def test_a_still_active_consent_keeps_pushing_only_its_own_class(client, patient, supporter, sharing_group, api_token,
                                                                 supporter_client, sockets, facilitator):
    mood = grant(patient, supporter, [MOOD])
    grant(patient, supporter, [SESSIONS])
    services.revoke_consent(mood, patient)
    db.session.commit()
    sio = sockets(supporter_client)
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True) == {
        "ok": True, "classes": [SESSIONS.value]}
    sio.get_received()
    api_checkin(client, api_token(patient), 6)
    assert shared_updates(sio) == []
    api_attendance(client, api_token(facilitator), past_sessions(sharing_group)[-1], patient,
                   AttendanceStatus.PRESENT_ONLINE.value)
    assert len(shared_updates(sio)) == 1


def test_lifting_a_hold_lets_the_supporter_join_again(client, post, patient, supporter, sharing_group, api_token,
                                                      supporter_client, sockets, facilitator_client, facilitator):
    grant(patient, supporter, [SESSIONS])
    sio = sockets(supporter_client)
    post(facilitator_client, _hold_url(patient, supporter), {"reason": HOLD_REASON})
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is False
    post(facilitator_client, _hold_url(patient, supporter, "lift-hold"))
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is True
    sio.get_received()
    api_attendance(client, api_token(facilitator), past_sessions(sharing_group)[-1], patient,
                   AttendanceStatus.PRESENT_ONLINE.value)
    assert len(shared_updates(sio)) == 1


def test_join_shared_is_refused_to_everyone_but_the_grantee(app, login, patient, other_patient, supporter,
                                                            facilitator, sharing_group, sockets, make_user):
    grant(patient, supporter, [MOOD])
    stranger = make_user(RoleName.SUPPORTER, display_name="Stranger")
    for user in (patient, other_patient, facilitator, stranger):
        http = app.test_client()
        login(http, user)
        sio = sockets(http)
        assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is False
    for bad in ({}, {"patient_id": "1"}, {"patient_id": True}, {"patient_id": 2**70}):
        http = app.test_client()
        login(http, supporter)
        answer = sockets(http).emit("join_shared", bad, callback=True)
        assert (answer["ok"], answer["error"]) == (False, "invalid")


def test_revoking_one_of_two_consents_keeps_the_page_live_and_refreshes_it(
        client, patient, supporter, supporter_client, sockets, api_token, facilitator, sharing_group):
    mood = grant(patient, supporter, [MOOD])
    grant(patient, supporter, [SESSIONS])
    sio = sockets(supporter_client)
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is True
    sio.get_received()
    client.post(f"/api/v1/consents/{mood.id}/revoke", headers=api_token(patient))
    # Still in the room (sessions are still shared), and told to refresh, which shows what is left.
    assert len(shared_updates(sio)) == 1
    room = shared_room(patient.id, supporter.id)
    assert len(list(socketio.server.manager.get_participants("/", room))) == 1
    html = supporter_client.get(f"/shared/{patient.id}", headers={"X-Momentum-Fragment": "1"}).get_data(as_text=True)
    assert "Next sessions" in html or "No upcoming sessions." in html
    assert "Average mood per week" not in html


def test_a_cancelled_or_moved_session_refreshes_the_supporters_page(
        patient, supporter, supporter_client, sockets, facilitator, sharing_group, make_user, app, login):
    from app.groups import schedules as group_schedules
    from app.groups.models import SessionOccurrence

    grant(patient, supporter, [SESSIONS])
    mood_only = make_user(RoleName.SUPPORTER, display_name="Mo Mood")
    grant(patient, mood_only, [MOOD])
    mood_client = app.test_client()
    login(mood_client, mood_only)
    sio, other = sockets(supporter_client), sockets(mood_client)
    for socket in (sio, other):
        assert socket.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is True
        socket.get_received()
    upcoming = db.session.scalar(select(SessionOccurrence).where(SessionOccurrence.group_id == sharing_group.id,
                                                                 SessionOccurrence.starts_at > utcnow())
                                 .order_by(SessionOccurrence.starts_at))
    group_schedules.cancel_occurrence(facilitator, upcoming, "The room is closed.")
    db.session.commit()
    assert len(shared_updates(sio)) == 1
    group_schedules.restore_occurrence(facilitator, upcoming)
    group_schedules.update_occurrence(facilitator, upcoming, location="Room 2")
    db.session.commit()
    assert len(shared_updates(sio)) == 2
    assert shared_updates(other) == []


# The sweep: expiries written down, live access ended, renewal reminders ----------------------------------------------


def test_the_sweep_writes_each_expiry_once_with_its_audit_row_and_ends_live_access(
        patient, supporter, supporter_client, sockets, clock, make_user):
    short = grant(patient, supporter, [MOOD], days=1)
    longer = grant(patient, supporter, [SESSIONS], days=3)
    sio = sockets(supporter_client)
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is True
    sio.get_received()
    room = shared_room(patient.id, supporter.id)

    clock.shift(timedelta(days=2))
    assert [c.id for c in sweep()] == [short.id]
    assert sweep() == []
    assert states(fresh(short)) == ["active", "expired"]
    assert consent_history(fresh(short))[-1].at == short.ends_at
    assert [a.action for a in consent_audit(short)] == ["consent_active", "consent_expired"]
    # Sessions are still shared: the page stays live and refreshes.
    assert len(list(socketio.server.manager.get_participants("/", room))) == 1
    assert len(shared_updates(sio)) == 1

    clock.shift(timedelta(days=2))
    assert [c.id for c in sweep()] == [longer.id]
    assert list(socketio.server.manager.get_participants("/", room)) == []
    assert states(fresh(longer)) == ["active", "expired"]


def test_the_sweep_leaves_revoked_renewed_and_running_consents_alone(patient, supporter, clock):
    revoked = grant(patient, supporter, [MOOD], days=1)
    services.revoke_consent(revoked, patient)
    renewed = grant(patient, supporter, [SESSIONS], days=1)
    renewal = services.renew_consent(renewed, patient, utcnow() + timedelta(days=30))
    db.session.commit()
    clock.shift(timedelta(days=2))
    assert sweep() == []
    assert (states(fresh(revoked)), states(fresh(renewed)), states(fresh(renewal))) == (
        ["active", "revoked"], ["active", "renewed"], ["active"])


def test_each_app_process_starts_its_sweep_once_on_its_first_request(app, client, monkeypatch):
    started = []
    monkeypatch.setattr(socketio, "start_background_task", lambda target, *args: started.append((target, args)))
    client.get("/healthz")
    assert started == []  # the test configuration runs no sweep of its own
    app.config["CONSENT_SWEEP_SECONDS"] = 30
    client.get("/healthz")
    client.get("/login")
    assert [(target.__name__, args) for target, args in started] == [("_run", (app, 30))]


def test_the_sweep_wakes_when_the_next_consent_ends_so_an_expiry_reaches_the_open_page_as_it_happens(
        app, patient, supporter, supporter_client, sockets, clock, make_user):
    from app.supporters import sweep as consent_sweep

    soon = grant(patient, supporter, [MOOD], ends_at=NOW + timedelta(seconds=7))
    grant(patient, make_user(RoleName.SUPPORTER), [MOOD], days=3)
    revoked = grant(patient, make_user(RoleName.SUPPORTER), [MOOD], ends_at=NOW + timedelta(seconds=2))
    services.revoke_consent(revoked, patient)
    db.session.commit()
    sio = sockets(supporter_client)
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is True
    sio.get_received()

    # The next end is in 7 seconds (the revoked one no longer ends anything): the sweep waits that long, not 30.
    until = consent_sweep.sweep_once(app)
    assert until == 7
    assert consent_sweep.next_wait(30, until) == pytest.approx(7.05)
    assert consent_sweep.next_wait(30, 3600) == 30 and consent_sweep.next_wait(30, None) == 30
    assert consent_sweep.next_wait(30, 0.01) == consent_sweep.MIN_WAIT
    clock.shift(timedelta(seconds=7))
    assert consent_sweep.sweep_once(app) == timedelta(days=3).total_seconds() - 7
    assert states(fresh(soon)) == ["active", "expired"]
    assert sio.get_received() == [{"name": "shared_ended", "args": [{"patient_id": patient.id}], "namespace": "/"}]


def test_one_pass_of_the_sweep_commits_what_it_writes_or_nothing(app, patient, supporter, clock, monkeypatch):
    from app.supporters import sweep as consent_sweep

    first = grant(patient, supporter, [MOOD], days=1)
    second = grant(patient, supporter, [SESSIONS], days=3)
    clock.shift(timedelta(days=2))
    consent_sweep.sweep_once(app)
    assert states(fresh(first)) == ["active", "expired"]
    # A pass that fails is rolled back as a whole (and logged); the next one tries again.
    clock.shift(timedelta(days=2))
    remind = services.remind_renewals
    monkeypatch.setattr(services, "remind_renewals", lambda: 1 / 0)
    consent_sweep.sweep_once(app)
    assert states(fresh(second)) == ["active"]
    monkeypatch.setattr(services, "remind_renewals", remind)
    consent_sweep.sweep_once(app)
    assert states(fresh(second)) == ["active", "expired"]


def test_the_patient_is_reminded_once_by_email_two_weeks_before_the_end(patient, supporter, clock, make_user):
    consent = grant(patient, supporter, [MOOD], days=30)
    quiet = make_user(RoleName.PATIENT, display_name="Quinn Quiet", notification_prefs={
        "email_reminders": False, "email_messages": True, "in_app": True})
    link_supporter(quiet, supporter)
    quiet_consent = grant(quiet, supporter, [MOOD], days=30)
    with mail.record_messages() as outbox:
        assert services.remind_renewals() == []
        db.session.commit()
        clock.shift(timedelta(days=17))
        assert {c.id for c in services.remind_renewals()} == {consent.id, quiet_consent.id}
        db.session.commit()
        assert services.remind_renewals() == []
        db.session.commit()
        clock.shift(timedelta(days=5))
        assert services.remind_renewals() == []
        db.session.commit()
    # One email, to the patient who wants reminders by email; both are recorded, and both see the prompt in Momentum.
    assert [(m.recipients, m.subject) for m in outbox] == [([patient.email], "Sharing with Sol Supporter ends soon")]
    assert "ends on 19 April 2026" in outbox[0].body and "If you do nothing, sharing simply ends." in outbox[0].body
    assert fresh(consent).renewal_prompted_at == NOW + timedelta(days=17)
    assert fresh(quiet_consent).renewal_prompted_at is not None
    assert [a.consent_id for a in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "consent_renewal_reminder"))] == [consent.id, quiet_consent.id]


def test_an_ended_consent_is_renewed_once(client, post, login, patient, supporter, clock):
    consent = grant(patient, supporter, [MOOD], days=1)
    clock.shift(timedelta(days=2))
    login(client, patient)
    post(client, f"/sharing/consents/{consent.id}/renew", {"days": "30"})
    response = post(client, f"/sharing/consents/{consent.id}/renew", {"days": "30"}, follow_redirects=True)
    assert "This sharing has already been renewed." in response.get_data(as_text=True)
    renewals = db.session.scalars(select(Consent).where(Consent.renews_id == consent.id)).all()
    assert len(renewals) == 1
    assert len([c for c in db.session.scalars(select(Consent)) if c.state_at(utcnow()) == ConsentState.ACTIVE]) == 1


def test_a_data_period_starting_in_the_future_is_refused_not_moved(client, post, login, patient):
    login(client, patient)
    with mail.record_messages() as outbox:
        response = post(client, "/sharing/invite", {"email": "sam@example.org", "relationship": "partner",
                                                    "days": "30", "data_classes": [MOOD.value],
                                                    "data_from": "2026-03-21"})
    assert response.status_code == 422
    assert "The data period must start today or earlier." in response.get_data(as_text=True)
    assert outbox == [] and db.session.scalar(select(Consent)) is None
    # Today, in the patient's time zone, is fine: from its local midnight.
    post(client, "/sharing/invite", {"email": "sam@example.org", "relationship": "partner", "days": "30",
                                     "data_classes": [MOOD.value], "data_from": "2026-03-20"})
    assert db.session.scalar(select(Consent)).data_from == datetime(2026, 3, 19, 23, 0, tzinfo=timezone.utc)


# The API --------------------------------------------------------------------------------------------------------------


def test_api_lists_consents_for_the_patient_and_for_the_supporter(client, patient, supporter, make_user, api_token,
                                                                  facilitator):
    mine = grant(patient, supporter, [MOOD])
    other_supporter = make_user(RoleName.SUPPORTER)
    grant(patient, other_supporter, [SESSIONS])
    as_patient = client.get("/api/v1/consents", headers=api_token(patient)).get_json()
    assert len(as_patient) == 2
    assert {r["supporter_id"] for r in as_patient} == {supporter.id, other_supporter.id}
    assert as_patient[0]["history"][0]["state"] == "active"
    as_supporter = client.get("/api/v1/consents", headers=api_token(supporter)).get_json()
    assert [(r["id"], r["state"], r["data_classes"]) for r in as_supporter] == [(mine.id, "active", [MOOD.value])]
    assert client.get("/api/v1/consents", headers=api_token(facilitator)).status_code == 403
    assert client.get("/api/v1/consents").status_code == 401


def test_api_creates_a_consent_for_a_supporter_in_the_circle(client, patient, supporter, api_token):
    link_supporter(patient, supporter)
    response = client.post("/api/v1/consents", headers=api_token(patient), json={
        "supporter_id": supporter.id, "data_classes": [MOOD.value, SESSIONS.value], "days": 14,
        "data_from": (NOW - timedelta(days=7)).isoformat(), "purpose": "Weekly"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["state"], body["supporter_id"], sorted(body["data_classes"])) == (
        "active", supporter.id, [MOOD.value, SESSIONS.value])
    assert body["ends_at"].startswith("2026-04-03T12:00:00")
    assert body["data_from"].startswith("2026-03-13T12:00:00")
    assert [(h["state"], h["by_id"]) for h in body["history"]] == [("active", patient.id)]


def test_api_invites_a_supporter_by_email(client, patient, api_token):
    with mail.record_messages() as outbox:
        response = client.post("/api/v1/consents", headers=api_token(patient), json={
            "email": "alex@example.org", "relationship": "friend", "data_classes": [MOOD.value]})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["state"], body["supporter_id"]) == ("proposed", None)
    assert [m.recipients for m in outbox] == [["alex@example.org"]]
    invitation = db.session.scalar(select(Invitation))
    assert invitation.context["consent_id"] == body["id"]
    assert invitation.context["relationship"] == "friend"


@pytest.mark.parametrize(("payload", "field"), [
    ({"supporter_id": "SUPPORTER", "data_classes": []}, "data_classes"),
    ({"supporter_id": "SUPPORTER", "data_classes": ["item_answers"]}, "data_classes"),
    ({"supporter_id": "SUPPORTER"}, "data_classes"),
    ({"supporter_id": "SUPPORTER", "data_classes": ["mood_summary"], "days": 0}, "days"),
    ({"supporter_id": "SUPPORTER", "data_classes": ["mood_summary"], "days": 366}, "days"),
    ({"supporter_id": "SUPPORTER", "data_classes": ["mood_summary"], "data_from": "2027-01-01T00:00:00+00:00"},
     "data_from"),
    ({"supporter_id": "SUPPORTER", "data_classes": ["mood_summary"], "data_from": "2026-01-01T00:00:00"},
     "data_from"),
    ({"data_classes": ["mood_summary"]}, "supporter_id"),
    ({"email": "nope", "data_classes": ["mood_summary"]}, "email"),
    ({"supporter_id": "SUPPORTER", "data_classes": ["mood_summary"], "purpose": "a\x00b"}, "purpose"),
])
def test_api_refuses_bad_input_with_422_and_the_field(client, patient, supporter, api_token, payload, field):
    link_supporter(patient, supporter)
    payload = {k: supporter.id if v == "SUPPORTER" else v for k, v in payload.items()}
    response = client.post("/api/v1/consents", headers=api_token(patient), json=payload)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert db.session.scalar(select(Consent)) is None


def test_api_create_is_for_patients_and_their_own_circle(client, patient, supporter, other_patient, api_token,
                                                         make_user):
    stranger = make_user(RoleName.SUPPORTER)
    response = client.post("/api/v1/consents", headers=api_token(patient),
                           json={"supporter_id": stranger.id, "data_classes": [MOOD.value]})
    assert response.status_code == 404
    link_supporter(patient, supporter)
    response = client.post("/api/v1/consents", headers=api_token(other_patient),
                           json={"supporter_id": supporter.id, "data_classes": [MOOD.value]})
    assert response.status_code == 404
    response = client.post("/api/v1/consents", headers=api_token(supporter),
                           json={"supporter_id": supporter.id, "data_classes": [MOOD.value]})
    assert response.status_code == 403
    assert db.session.scalar(select(Consent)) is None


def test_api_get_consent_answers_404_to_everyone_else(client, patient, other_patient, supporter, make_user,
                                                      facilitator, other_facilitator, sharing_group, api_token):
    consent = grant(patient, supporter, [MOOD])
    for user in (patient, supporter, facilitator):
        assert client.get(f"/api/v1/consents/{consent.id}", headers=api_token(user)).status_code == 200
    for user in (other_patient, make_user(RoleName.SUPPORTER), other_facilitator, make_user(RoleName.ADMIN)):
        assert client.get(f"/api/v1/consents/{consent.id}", headers=api_token(user)).status_code == 404
    for user in (patient, supporter, facilitator):
        assert client.get(f"/api/v1/consents/{consent.id + 1000}", headers=api_token(user)).status_code == 404


def test_api_revoke_is_only_for_the_patient(client, patient, other_patient, supporter, facilitator, sharing_group,
                                            api_token, supporter_client):
    consent = grant(patient, supporter, [MOOD])
    for user in (supporter, facilitator, other_patient):
        assert client.post(f"/api/v1/consents/{consent.id}/revoke", headers=api_token(user)).status_code == 404
    assert states(fresh(consent)) == ["active"]
    response = client.post(f"/api/v1/consents/{consent.id}/revoke", headers=api_token(patient))
    assert response.status_code == 200 and response.get_json()["state"] == "revoked"
    # Revoking again changes nothing and writes nothing.
    assert client.post(f"/api/v1/consents/{consent.id}/revoke", headers=api_token(patient)).status_code == 200
    assert states(fresh(consent)) == ["active", "revoked"]


def test_api_revoke_from_a_browser_session_needs_the_csrf_token(client, login, patient, supporter, csrf):
    consent = grant(patient, supporter, [MOOD])
    login(client, patient)
    assert client.post(f"/api/v1/consents/{consent.id}/revoke").status_code == 400
    assert states(fresh(consent)) == ["active"]
    response = client.post(f"/api/v1/consents/{consent.id}/revoke", headers={"X-CSRFToken": csrf(client)})
    assert response.status_code == 200


def test_api_shared_is_for_the_grantee_only(client, patient, supporter, facilitator, other_patient, sharing_group,
                                            api_token):
    grant(patient, supporter, [MOOD])
    assert client.get(f"/api/v1/patients/{patient.id}/shared", headers=api_token(supporter)).status_code == 200
    for user in (patient, facilitator, other_patient):
        assert client.get(f"/api/v1/patients/{patient.id}/shared", headers=api_token(user)).status_code == 404
    assert client.get(f"/api/v1/patients/{other_patient.id}/shared", headers=api_token(supporter)).status_code == 404
    assert client.get(f"/api/v1/patients/{patient.id}/shared").status_code == 401
