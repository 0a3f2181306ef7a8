"""A supporter whose consent covers "questionnaire results" sees, per questionnaire, the band of each one completed
inside the consent's data period and the trend of the totals: never an answer to a question, never item 9, never an
alert (CLINICAL.md safety rule 3); nothing once the consent is revoked. The patient's preview shows the same."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from supporter_fixtures import *  # noqa: F403
from supporter_fixtures import NOW, grant, link_supporter

from app import policy
from app.extensions import db
from app.measures import queries, services
from app.measures.instruments import Instrument
from app.measures.models import Measure
from app.supporters import services as supporter_services
from app.supporters.models import AccessLog, DataClass

MEASURES = DataClass.MEASURES.value
#: Item 9 answered "More than half the days" (2): total 11, moderate.
WITH_ITEM_9 = [2, 2, 1, 1, 1, 1, 1, 0, 2]
MILD = [1, 1, 1, 1, 1, 1, 0, 0, 0]  # 6
MINIMAL = [1, 1, 0, 0, 0, 0, 0, 0, 0]  # 2
ANSWER_WORDS = ("Not at all", "Several days", "More than half the days", "Nearly every day")


def completed(facilitator, group, patient, answers, clock, at, instrument="phq9") -> Measure:
    clock.move_to(at)
    services.create_schedule(
        facilitator, group, instrument=instrument, frequency="once", starts_at=at, patient_id=patient.id
    )
    measure = db.session.scalars(
        select(Measure).where(Measure.patient_id == patient.id).order_by(Measure.id.desc())
    ).first()
    services.save_answers(patient, measure, answers, 2, complete=True, now=at)
    db.session.commit()
    return measure


def history(facilitator, group, patient, clock):
    """Three PHQ-9s: one before the data period (20 days ago), two inside it (item 9 answered in the first), and a
    GAD-7 inside it; the clock back at NOW."""
    completed(facilitator, group, patient, MINIMAL, clock, NOW - timedelta(days=20))
    completed(facilitator, group, patient, WITH_ITEM_9, clock, NOW - timedelta(days=6))
    completed(facilitator, group, patient, MILD, clock, NOW - timedelta(days=2))
    completed(facilitator, group, patient, [1] * 7, clock, NOW - timedelta(days=1), instrument="gad7")
    clock.move_to(NOW)


def assert_no_item_answers(text: str) -> None:
    for words in ANSWER_WORDS:
        assert words not in text, words
    for words in ("Thoughts that you would be better off dead", "alert", "Alert", "item 9", "difficult"):
        assert words not in text, words


def test_the_supporter_sees_bands_and_the_trend_of_totals_inside_the_data_period_only(
    sharing_group, facilitator, patient, supporter, supporter_client, api_token, clock
):
    history(facilitator, sharing_group, patient, clock)
    grant(patient, supporter, [MEASURES], data_from=NOW - timedelta(days=10))

    html = supporter_client.get(f"/shared/{patient.id}").get_data(as_text=True)
    section = html[html.index('id="class-measure_bands"') :]
    section = section[: section.index("</section>")]
    assert "This part is not available" not in section
    phq9 = section[section.index("<h3>PHQ-9</h3>") : section.index("<h3>GAD-7</h3>")]
    assert _rows(phq9) == [("Moderate", "11"), ("Mild", "6")]
    assert "the latest total is lower than the first one here (fewer symptoms)" in phq9
    gad7 = section[section.index("<h3>GAD-7</h3>") :]
    assert _rows(gad7) == [("Mild", "7")]
    assert_no_item_answers(section)

    body = supporter_client.get(f"/api/v1/patients/{patient.id}/shared", headers=api_token(supporter)).get_json()
    shared = body["data"][MEASURES]["instruments"]
    assert [(i["instrument"], i["code"], i["trend"]) for i in shared] == [
        ("phq9", "PHQ-9", "lower"),
        ("gad7", "GAD-7", None),
    ]
    scores = shared[0]["scores"]
    assert [(s["severity"], s["severity_label"], s["total"]) for s in scores] == [
        ("moderate", "Moderate", 11),
        ("mild", "Mild", 6),
    ]
    # Each score is its date, its band and its total: nothing of an item, nothing of an alert.
    assert all(set(s) == {"completed_at", "severity", "severity_label", "total"} for s in scores)
    assert_no_item_answers(str(body))
    # The look is in the patient's access log, with questionnaire results in it.
    assert db.session.scalars(select(AccessLog)).all()[-1].data_classes == [MEASURES]


def _rows(html: str) -> list[tuple[str, ...]]:
    return [
        tuple(cells[1:]) for cells in re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", html)
    ]


def test_a_severe_phq9_total_is_never_shown_as_a_number(
    sharing_group, facilitator, patient, supporter, supporter_client, api_token, clock
):
    """Above 24 only item 9 can make the total, so no number in the severe band (20-27) reaches a supporter."""
    completed(facilitator, sharing_group, patient, [3] * 8 + [1], clock, NOW - timedelta(days=3))  # 25
    completed(facilitator, sharing_group, patient, [3] * 7 + [0, 0], clock, NOW - timedelta(days=2))  # 21
    clock.move_to(NOW)
    grant(patient, supporter, [MEASURES], data_from=NOW - timedelta(days=10))

    body = supporter_client.get(f"/api/v1/patients/{patient.id}/shared", headers=api_token(supporter)).get_json()
    phq9 = body["data"][MEASURES]["instruments"][0]
    assert [(s["severity"], s["total"]) for s in phq9["scores"]] == [("severe", None), ("severe", None)]
    assert phq9["trend"] == "same"  # 25 then 21 would tell 25 apart; the band alone does not
    html = supporter_client.get(f"/shared/{patient.id}").get_data(as_text=True)
    assert html.count("not shown in this band") == 2
    assert ">25<" not in html and ">21<" not in html


def test_shown_totals_stop_short_of_what_only_item_9_can_make():
    assert [queries.shown_total(Instrument.PHQ9, t) for t in (0, 14, 19, 20, 24, 25, 27)] == [
        0,
        14,
        19,
        None,
        None,
        None,
        None,
    ]
    assert [queries.shown_total(Instrument.GAD7, t) for t in (0, 15, 21)] == [0, 15, 21]


def test_nothing_after_revoke_and_nothing_without_the_class(
    sharing_group, facilitator, patient, supporter, supporter_client, api_token, clock
):
    history(facilitator, sharing_group, patient, clock)
    consent = grant(patient, supporter, [MEASURES, DataClass.MOOD], data_from=NOW - timedelta(days=10))
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 200
    assert policy.can_view_measure_bands(supporter, patient.id)

    supporter_services.revoke_consent(consent, patient)
    db.session.commit()
    page = supporter_client.get(f"/shared/{patient.id}")
    api = supporter_client.get(f"/api/v1/patients/{patient.id}/shared", headers=api_token(supporter))
    for response in (page, api):
        assert response.status_code == 404
        text = response.get_data(as_text=True)
        assert "PHQ-9" not in text and "Moderate" not in text and "Mild" not in text

    assert not policy.can_view_measure_bands(supporter, patient.id)

    grant(patient, supporter, [DataClass.MOOD], data_from=NOW - timedelta(days=10))
    assert not policy.can_view_measure_bands(supporter, patient.id)
    html = supporter_client.get(f"/shared/{patient.id}").get_data(as_text=True)
    assert 'id="class-measure_bands"' not in html and "PHQ-9" not in html
    body = supporter_client.get(f"/api/v1/patients/{patient.id}/shared", headers=api_token(supporter)).get_json()
    assert MEASURES not in body["data"]


def test_no_questionnaire_in_the_period_says_so(
    sharing_group, facilitator, patient, supporter, supporter_client, clock
):
    completed(facilitator, sharing_group, patient, MILD, clock, NOW - timedelta(days=20))
    clock.move_to(NOW)
    grant(patient, supporter, [MEASURES], data_from=NOW - timedelta(days=10))
    html = supporter_client.get(f"/shared/{patient.id}").get_data(as_text=True)
    assert "No questionnaire completed in this period yet." in html and "<h3>PHQ-9</h3>" not in html


def test_the_preview_shows_the_bands_the_supporter_would_see(
    sharing_group, facilitator, patient, supporter, client, login, post, clock
):
    history(facilitator, sharing_group, patient, clock)
    link = link_supporter(patient, supporter)
    login(client, patient)
    html = post(
        client,
        f"/sharing/supporters/{link.id}/preview",
        {"data_classes": [MEASURES], "days": "30", "data_from": (NOW - timedelta(days=10)).date().isoformat()},
    ).get_data(as_text=True)
    preview = html[html.index('id="shared-preview"') :]
    assert "This part is not available" not in preview
    phq9 = preview[preview.index("<h3>PHQ-9</h3>") : preview.index("<h3>GAD-7</h3>")]
    assert _rows(phq9) == [("Moderate", "11"), ("Mild", "6")]
    assert_no_item_answers(preview)
    assert db.session.scalars(select(AccessLog)).all() == []
    # Questionnaire results are offered as something there is to share, not as "not available yet".
    page = client.get("/sharing").get_data(as_text=True)
    offered = re.findall(
        r"Questionnaire results as bands over time \(never my answers\)( <span class=\"muted\">)?", page
    )
    assert offered and all(muted == "" for muted in offered)


def test_a_completed_questionnaire_nudges_the_supporter_page_and_a_part_saved_one_does_not(
    sharing_group, facilitator, patient, supporter, supporter_client, sockets, clock
):
    grant(patient, supporter, [MEASURES], data_from=NOW - timedelta(days=10))
    sio = sockets(supporter_client)
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is True
    sio.get_received()
    services.create_schedule(
        facilitator, sharing_group, instrument="phq9", frequency="once", starts_at=NOW, patient_id=patient.id
    )
    measure = db.session.scalar(select(Measure).where(Measure.patient_id == patient.id))
    services.save_answers(patient, measure, [1, 1, 1])
    db.session.commit()
    assert [m["name"] for m in sio.get_received()] == []
    services.save_answers(patient, measure, MILD, complete=True)
    db.session.commit()
    updates = [m for m in sio.get_received() if m["name"] == "shared_update"]
    # A nudge to refresh, never the data itself.
    assert [m["args"] for m in updates] == [[{"patient_id": patient.id}]]
