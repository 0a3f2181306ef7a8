"""The chart pages: a member's own "My measures" (scores over their bands, a text table, the change figures with how
each is measured, mood with sessions attended and small wins) and a facilitator's page about one member of their
group; who may see which, and the same number of SQL statements for a year of history and for ten."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from groups_fixtures import *  # noqa: F403
from groups_fixtures import NOW, SETUP, audit_actions
from sqlalchemy import select
from test_statement_counts import statements

from app.accounts.models import RoleName
from app.extensions import db
from app.groups import services as group_services
from app.groups.models import Attendance, AttendanceStatus, Membership, MembershipStatus, SessionOccurrence
from app.measures.change import HOW_MEASURED
from app.measures.instruments import Instrument
from app.measures.models import Frequency, Measure, MeasureSchedule, MeasureStatus
from app.progress.models import SmallWin
from app.rooms.models import AlertKind, CheckIn, SafetyAlert

PHQ9_TOTALS = [16, 14, 12, 11, 9, 8]  # moderately severe -> mild: a fall of 8, reliable improvement and recovery
GAD7_TOTALS = [12, 10, 7]
WIN_TEXT = "chart test win: made a phone call"


def _schedule(group, patient, instrument) -> MeasureSchedule:
    schedule = MeasureSchedule(
        organisation_id=group.organisation_id,
        group_id=group.id,
        patient_id=patient.id,
        instrument=instrument,
        frequency=Frequency.MONTHLY,
        starts_at=NOW - timedelta(days=4000),
    )
    db.session.add(schedule)
    db.session.flush()
    return schedule


def _scores(group, patient, instrument, totals, *, every=timedelta(days=14), end=NOW - timedelta(days=1)) -> None:
    schedule = _schedule(group, patient, instrument)
    for index, total in enumerate(totals):
        when = end - every * (len(totals) - 1 - index)
        db.session.add(
            Measure(
                organisation_id=group.organisation_id,
                group_id=group.id,
                patient_id=patient.id,
                schedule_id=schedule.id,
                instrument=instrument,
                opens_at=when - timedelta(days=1),
                closes_at=when + timedelta(days=6),
                status=MeasureStatus.DONE,
                answers=[],
                total=total,
                completed_at=when,
            )
        )
    db.session.commit()


def _session(group, when) -> SessionOccurrence:
    occurrence = SessionOccurrence(group_id=group.id, starts_at=when, duration_minutes=90)
    db.session.add(occurrence)
    db.session.flush()
    return occurrence


def _history(group, patient, facilitator, *, years: int) -> None:
    """`years` of history, a little of everything every week or month, ending just before NOW."""
    weeks = 52 * years
    _scores(group, patient, Instrument.PHQ9, [(5 + i) % 28 for i in range(12 * years)], every=timedelta(days=30))
    _scores(group, patient, Instrument.GAD7, [(3 + i) % 22 for i in range(12 * years)], every=timedelta(days=30))
    for week in range(weeks):
        when = NOW - timedelta(days=7 * week + 2)
        db.session.add(CheckIn(user_id=patient.id, mood=week % 11, client_id=f"history-{week}", created_at=when))
        occurrence = _session(group, when - timedelta(hours=3))
        db.session.add(
            Attendance(
                occurrence_id=occurrence.id,
                user_id=patient.id,
                status=AttendanceStatus.PRESENT_ONLINE,
                recorded_by_id=facilitator.id,
            )
        )
        if week % 4 == 0:
            db.session.add(SmallWin(patient_id=patient.id, text=f"win {week}", created_at=when))
    for month in range(12 * years):
        db.session.add(
            SafetyAlert(
                organisation_id=group.organisation_id,
                group_id=group.id,
                patient_id=patient.id,
                kind=AlertKind.LOW_MOOD,
                created_at=NOW - timedelta(days=30 * month + 3),
                acknowledged_at=NOW - timedelta(days=30 * month + 2),
                acknowledged_by_id=facilitator.id,
            )
        )
    db.session.commit()


def _membership(group, user) -> Membership:
    return db.session.scalar(select(Membership).where(Membership.group_id == group.id, Membership.user_id == user.id))


def _member_url(group, user) -> str:
    return f"/groups/{group.id}/members/{_membership(group, user).id}"


def _chart_data(html: str, chart_id: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{chart_id}-data">(.*?)</script>', html, re.S)
    assert found, f"no data for {chart_id}"
    return json.loads(found.group(1))


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def scored(group_with_members, patient):
    _scores(group_with_members, patient, Instrument.PHQ9, PHQ9_TOTALS)
    _scores(group_with_members, patient, Instrument.GAD7, GAD7_TOTALS)
    return group_with_members


# My measures ----------------------------------------------------------------------------------------------------------


def test_a_member_without_scores_sees_a_calm_empty_state_and_no_chart(group_with_members, patient, client, login):
    login(client, patient)
    page = client.get("/measures")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "No questionnaires answered yet" in html
    assert "Nothing is due right now." in html
    assert "<canvas" not in html and "chart.umd.js" not in html


def test_the_table_holds_every_score_with_its_band_in_words(scored, patient, client, login):
    login(client, patient)
    html = client.get("/measures").get_data(as_text=True)
    table = html[html.index('<table class="score-table">') :]
    phq9_table = _text(table[: table.index("</table>")])
    for total, band in zip(
        PHQ9_TOTALS, ["Moderately severe", "Moderate", "Moderate", "Moderate", "Mild", "Mild"], strict=True
    ):
        assert f" {total} {band} " in phq9_table
    assert "Earlier" not in phq9_table
    gad7 = _text(html[html.index('id="trend-gad7"') :])
    assert " 12 Moderate " in gad7 and " 7 Mild " in gad7


def test_the_chart_json_carries_the_bands_and_every_point(scored, patient, client, login):
    login(client, patient)
    html = client.get("/measures").get_data(as_text=True)
    phq9 = _chart_data(html, "chart-phq9")
    assert [(b["low"], b["high"], b["severity"]) for b in phq9["bands"]] == [
        (0, 4, "minimal"),
        (5, 9, "mild"),
        (10, 14, "moderate"),
        (15, 19, "moderately_severe"),
        (20, 27, "severe"),
    ]
    assert [p["y"] for p in phq9["points"]] == PHQ9_TOTALS
    assert [p["band"] for p in phq9["points"]][-1] == "Mild"
    xs = [p["x"] for p in phq9["points"]]
    assert xs == sorted(xs) and xs[-1] == int((NOW - timedelta(days=1)).timestamp() * 1000)
    assert phq9["max"] == 27
    gad7 = _chart_data(html, "chart-gad7")
    assert gad7["max"] == 21 and [b["severity"] for b in gad7["bands"]][-1] == "severe"
    canvas = re.search(
        r'<canvas class="measure-chart" role="img" aria-label="([^"]+)" data-chart="chart-phq9-data"'
        r' data-locale="en" data-zone="([^"]+)"',
        html,
    )
    assert canvas, "the canvas is an image with a summary, the viewer's language and zone"
    assert "6 scores" in unescape(canvas.group(1)) and "the latest 8 (Mild)" in unescape(canvas.group(1))
    assert canvas.group(2) == patient.zone
    assert "vendor/chart.js/chart.umd.js" in html and "js/measure-chart.js" in html


def test_the_change_figures_and_how_each_is_measured(scored, patient, client, login):
    login(client, patient)
    html = client.get("/measures").get_data(as_text=True)
    phq9 = html[html.index('id="trend-phq9"') : html.index('id="trend-gad7"')]
    figures = dict(re.findall(r'data-figure="(\w+)">\s*<dt>[^<]+</dt>\s*<dd><strong>([^<]+)</strong>', phq9))
    assert figures == {
        "baseline": "16",
        "latest": "8",
        "change": "-8",
        "rci": "-2.62",
        "reliable_improvement": "Yes",
        "reliable_deterioration": "No",
        "caseness": "No",
        "recovery": "Yes",
        "reliable_recovery": "Yes",
        "response": "Yes",
        "remission": "No",
    }
    for text in HOW_MEASURED[Instrument.PHQ9].values():
        assert f"<summary>How this is measured</summary><p>{text}</p>" in unescape(phq9)
    assert "r = 0.84" in unescape(phq9) and "standard deviation 5.4" in unescape(phq9)
    gad7 = html[html.index('id="trend-gad7"') :]
    assert 'data-figure="remission"' not in gad7  # remission is a PHQ-9 figure only
    assert "r = 0.83" in unescape(gad7)


def test_mood_sessions_and_wins_are_marked_on_one_time_axis(group_with_members, patient, facilitator, client, login):
    group = group_with_members
    db.session.add(CheckIn(user_id=patient.id, mood=3, client_id="a", created_at=NOW - timedelta(days=9)))
    db.session.add(CheckIn(user_id=patient.id, mood=7, client_id="b", created_at=NOW - timedelta(days=2)))
    db.session.add(
        CheckIn(user_id=patient.id, mood=None, passed=True, client_id="c", created_at=NOW - timedelta(days=1))
    )
    past = db.session.scalar(
        select(SessionOccurrence).where(SessionOccurrence.group_id == group.id).order_by(SessionOccurrence.starts_at)
    )
    db.session.add(
        Attendance(
            occurrence_id=past.id,
            user_id=patient.id,
            status=AttendanceStatus.PRESENT_ONLINE,
            recorded_by_id=facilitator.id,
        )
    )
    db.session.add(SmallWin(patient_id=patient.id, text=WIN_TEXT, created_at=NOW - timedelta(days=3)))
    db.session.commit()
    login(client, patient)
    html = client.get("/measures").get_data(as_text=True)
    mood = _chart_data(html, "chart-mood")
    assert [p["y"] for p in mood["points"]] == [3, 7]  # a pass gives no mood
    assert [s["x"] for s in mood["sessions"]] == [int(past.starts_at.timestamp() * 1000)]
    assert [w["text"] for w in mood["wins"]] == [WIN_TEXT]
    assert mood["points"][-1]["x"] < mood["end"] == int(NOW.timestamp() * 1000)
    table = _text(html[html.index('<table class="mood-table">') :])
    assert "Week of Mood Check-ins Sessions Small wins" in table and "Small wins" in table
    assert " 7 1 0 1 " in table  # the latest week: mood 7 from one check-in, no session, one win


def test_what_is_due_links_to_its_questionnaire(group_with_members, patient, facilitator, client, login):
    schedule = _schedule(group_with_members, patient, Instrument.GAD7)
    due = Measure(
        organisation_id=group_with_members.organisation_id,
        group_id=group_with_members.id,
        patient_id=patient.id,
        schedule_id=schedule.id,
        instrument=Instrument.GAD7,
        opens_at=NOW - timedelta(hours=1),
        closes_at=NOW + timedelta(days=6),
        answers=[],
    )
    db.session.add(due)
    db.session.commit()
    login(client, patient)
    html = client.get("/measures").get_data(as_text=True)
    assert f'href="/measures/{due.id}"' in html and "Answer the GAD-7" in html


def test_a_member_sees_only_their_own(scored, patient, client, login, make_member):
    other = make_member(scored, display_name="Olive Other").user
    login(client, other)
    html = client.get("/measures").get_data(as_text=True)
    assert "No questionnaires answered yet" in html and "chart-phq9" not in html
    login(client, patient)
    assert "chart-phq9" in client.get("/measures").get_data(as_text=True)


@pytest.mark.parametrize("role", [RoleName.FACILITATOR, RoleName.SUPPORTER, RoleName.ADMIN])
def test_nobody_but_a_member_has_my_measures(scored, client, login, make_user, role):
    login(client, make_user(role))
    assert client.get("/measures").status_code == 404


def test_my_measures_is_in_the_members_navigation(group_with_members, patient, client, login):
    login(client, patient)
    html = client.get("/goals").get_data(as_text=True)
    assert 'href="/measures"' in html


# The facilitator's page about a member --------------------------------------------------------------------------------


def test_the_facilitator_sees_a_members_scores_mood_attendance_and_alerts(scored, patient, facilitator, client, login):
    group = scored
    db.session.add(CheckIn(user_id=patient.id, mood=4, client_id="m", created_at=NOW - timedelta(days=2)))
    db.session.add(SmallWin(patient_id=patient.id, text=WIN_TEXT, created_at=NOW - timedelta(days=3)))
    db.session.add(
        SafetyAlert(
            organisation_id=group.organisation_id,
            group_id=group.id,
            patient_id=patient.id,
            kind=AlertKind.PHQ9_ITEM9,
            created_at=NOW - timedelta(days=5),
        )
    )
    db.session.add(
        SafetyAlert(
            organisation_id=group.organisation_id,
            group_id=group.id,
            patient_id=patient.id,
            kind=AlertKind.NEED_SUPPORT,
            created_at=NOW - timedelta(days=8),
            acknowledged_at=NOW - timedelta(days=8),
            acknowledged_by_id=facilitator.id,
            note="Called and talked it through",
        )
    )
    db.session.commit()
    login(client, facilitator)
    group_page = client.get(f"/groups/{group.id}").get_data(as_text=True)
    url = _member_url(group, patient)
    assert f'href="{url}"' in group_page
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert [p["y"] for p in _chart_data(html, "chart-phq9")["points"]] == PHQ9_TOTALS
    assert 'data-figure="reliable_recovery"' in html
    mood = _chart_data(html, "chart-mood")
    assert [p["y"] for p in mood["points"]] == [4]
    assert WIN_TEXT not in html and mood["wins"] == []  # goals and wins are the member's own
    assert "Goals and small wins are private to the member" in html
    text = _text(html)
    assert "answered the self-harm question of the PHQ-9" in text and "Open" in text
    assert f"Acknowledged by {facilitator.display_name}" in text and "Called and talked it through" in text
    assert text.index("self-harm question") < text.index("asked for support")  # open alerts first
    assert "Attendance" in text and "Not recorded" in text
    assert f"/groups/{group.id}/members/{_membership(group, patient).id}/notes" in html
    assert [e.subject_id for e in audit_actions("member_page_read")] == [patient.id]


def test_another_groups_facilitator_gets_404(scored, patient, client, login, make_user, make_group):
    other_facilitator = make_user(RoleName.FACILITATOR, display_name="Otto Other")
    own_group = make_group(other_facilitator, name="Another group")
    login(client, other_facilitator)
    assert client.get(_member_url(scored, patient)).status_code == 404
    # nor through their own group with this member's membership
    assert client.get(f"/groups/{own_group.id}/members/{_membership(scored, patient).id}").status_code == 404


def test_a_peer_and_a_supporter_get_404(scored, patient, client, login, make_member, supporter):
    peer = make_member(scored, display_name="Pia Peer").user
    url = _member_url(scored, patient)
    for someone in (peer, patient, supporter):
        login(client, someone)
        assert client.get(url).status_code == 404


def test_a_member_who_left_is_no_longer_shown(scored, patient, facilitator, client, login):
    membership = _membership(scored, patient)
    url = _member_url(scored, patient)
    group_services.change_membership_status(facilitator, membership, MembershipStatus.LEFT, "")
    db.session.commit()
    login(client, facilitator)
    assert client.get(url).status_code == 404


# Statement counts -----------------------------------------------------------------------------------------------------


def _statements_for(client, url) -> int:
    db.session.remove()
    with statements() as seen:
        assert client.get(url).status_code == 200
    return len(seen)


def test_both_pages_cost_the_same_statements_for_one_year_and_ten(
    app, group_with_members, patient, facilitator, login, make_member, clock
):
    group = group_with_members
    clock.move_to(SETUP)  # joined when Pat did: both pages list the same sessions of the group
    ten_years = make_member(group, display_name="Ten Years").user
    clock.move_to(NOW)
    _history(group, patient, facilitator, years=1)
    _history(group, ten_years, facilitator, years=10)
    one_url, ten_url = _member_url(group, patient), _member_url(group, ten_years)
    clients = {}
    for name, user in (("one", patient), ("ten", ten_years), ("facilitator", facilitator)):
        clients[name] = app.test_client()
        login(clients[name], user)
    assert _statements_for(clients["one"], "/measures") == _statements_for(clients["ten"], "/measures")
    _statements_for(clients["facilitator"], one_url)  # the first read warms what every page loads
    assert _statements_for(clients["facilitator"], one_url) == _statements_for(clients["facilitator"], ten_url)
    html = clients["facilitator"].get(ten_url).get_data(as_text=True)
    assert len(_chart_data(html, "chart-phq9")["points"]) == 120
    assert "earlier scores" in html


def test_one_score_is_charted_and_change_waits_for_a_second(group_with_members, patient, client, login):
    _scores(group_with_members, patient, Instrument.GAD7, [9])
    login(client, patient)
    html = client.get("/measures").get_data(as_text=True)
    assert [p["y"] for p in _chart_data(html, "chart-gad7")["points"]] == [9]
    assert 'aria-label="GAD-7: one score, 9 (Mild), on ' in html
    figures = dict(re.findall(r'data-figure="(\w+)">\s*<dt>[^<]+</dt>\s*<dd><strong>([^<]+)</strong>', html))
    assert figures["baseline"] == "9" and figures["change"] == "—" and figures["rci"] == "—"
    assert "Change shows once there are two scores." in html
    assert "chart-phq9" not in html
