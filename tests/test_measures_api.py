"""/api/v1/measures: a member answers their own (part way, in full, once however often it is sent; item 9 brings the
crisis resources), reads their scores and change, pauses; a group's facilitator schedules, reads due/done/missed, a
member's results and group outcomes, and exports a completed questionnaire as an HL7 FHIR R5 QuestionnaireResponse.
Peers, other groups, other organisations and supporters find nothing here."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fhir.resources.questionnaireresponse import QuestionnaireResponse
from groups_fixtures import *  # noqa: F403
from groups_fixtures import NOW, audit_actions
from sqlalchemy import func, select
from supporter_fixtures import grant, link_supporter

from app.accounts.models import RoleName
from app.extensions import db
from app.groups import queries as group_queries
from app.measures import services
from app.measures.instruments import GAD7, PHQ9
from app.measures.models import Measure, MeasureSchedule, MeasureStatus
from app.rooms.models import AlertKind, SafetyAlert
from app.supporters.models import DataClass

PHQ9_CALM = [1, 1, 0, 1, 0, 0, 1, 0, 0]  # total 4
PHQ9_LOW = [2, 2, 1, 2, 1, 1, 1, 1, 0]  # total 11, moderate


def schedule_once(facilitator, group, patient, instrument="phq9", at=None) -> Measure:
    """A questionnaire due to the patient now (a one-off window opening at once)."""
    services.create_schedule(
        facilitator, group, instrument=instrument, frequency="once", starts_at=at or NOW, patient_id=patient.id
    )
    db.session.commit()
    return db.session.scalars(
        select(Measure).where(Measure.patient_id == patient.id).order_by(Measure.id.desc())
    ).first()


def completed(facilitator, group, patient, answers, clock, at, instrument="phq9", difficulty=1) -> Measure:
    clock.move_to(at)
    measure = schedule_once(facilitator, group, patient, instrument, at)
    services.save_answers(patient, measure, answers, difficulty, complete=True, now=at)
    db.session.commit()
    return measure


def other_member(group, patient):
    return next(m.user for m in group_queries.active_members(group) if m.user_id != patient.id)


def item9_alerts(patient) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(SafetyAlert)
        .where(SafetyAlert.patient_id == patient.id, SafetyAlert.kind == AlertKind.PHQ9_ITEM9)
    )


# The member -----------------------------------------------------------------------------------------------------------


def test_a_member_lists_what_is_due_and_reads_it_with_its_wording(
    client, api_token, group_with_members, facilitator, patient
):
    measure = schedule_once(facilitator, group_with_members, patient)
    headers = api_token(patient)

    due = client.get("/api/v1/measures", headers=headers).get_json()
    assert [(m["id"], m["code"], m["status"], m["answered"], m["item_count"]) for m in due] == [
        (measure.id, "PHQ-9", "due", 0, 9)
    ]

    body = client.get(f"/api/v1/measures/{measure.id}", headers=headers).get_json()
    assert body["stem"] == str(PHQ9.stem) and body["notice"].startswith("Developed by Drs. Robert L. Spitzer")
    assert [i["text"] for i in body["items"]] == [str(i.text) for i in PHQ9.items]
    assert [c["text"] for c in body["items"][0]["choices"]] == [
        "Not at all",
        "Several days",
        "More than half the days",
        "Nearly every day",
    ]
    assert all(i["answer"] is None for i in body["items"]) and body["safety_resources"] is False
    assert "crisis_resources" not in body


def test_answers_are_saved_part_way_then_completed_once_however_often_they_are_sent(
    client, api_token, group_with_members, facilitator, patient
):
    measure = schedule_once(facilitator, group_with_members, patient)
    headers = api_token(patient)
    url = f"/api/v1/measures/{measure.id}/answers"

    part = client.put(url, json={"answers": [1, 1, 0]}, headers=headers)
    assert part.status_code == 200
    assert [i["answer"] for i in part.get_json()["items"]] == [1, 1, 0] + [None] * 6
    assert part.get_json()["status"] == "due" and part.get_json()["answered"] == 3

    # The rest later: a null keeps what was saved.
    rest = client.put(
        url, json={"answers": [None, None, None, 1, 0, 0, 1, 0, 0], "difficulty": 1, "complete": True}, headers=headers
    )
    body = rest.get_json()
    assert (rest.status_code, body["status"], body["total"], body["severity"], body["severity_label"]) == (
        200,
        "done",
        4,
        "minimal",
        "Minimal",
    )
    assert body["difficulty"]["answer"] == 1

    again = client.put(url, json={"answers": PHQ9_LOW, "complete": True}, headers=headers)
    assert again.status_code == 200 and again.get_json()["total"] == 4
    assert len(audit_actions("measure_completed")) == 1
    assert client.get("/api/v1/measures", headers=headers).get_json() == []


def test_incomplete_or_impossible_answers_are_422_and_change_nothing(
    client, api_token, group_with_members, facilitator, patient
):
    measure = schedule_once(facilitator, group_with_members, patient)
    headers = api_token(patient)
    url = f"/api/v1/measures/{measure.id}/answers"

    assert client.put(url, json={"answers": [1, 1, 0], "complete": True}, headers=headers).status_code == 422
    assert client.put(url, json={"answers": [4]}, headers=headers).status_code == 422
    assert client.put(url, json={"answers": [0] * 10}, headers=headers).status_code == 422
    # A GAD-7 has seven questions.
    gad = schedule_once(facilitator, group_with_members, patient, "gad7")
    response = client.put(f"/api/v1/measures/{gad.id}/answers", json={"answers": [0] * 8}, headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["fields"]["answers"]
    db.session.expire_all()
    assert db.session.get(Measure, measure.id).answers == [] and db.session.get(Measure, gad.id).answers == []


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_item_9_brings_the_crisis_resources_at_once_and_one_alert(
    client, api_token, group_with_members, facilitator, patient, organisation, item9
):
    organisation.crisis_name, organisation.crisis_phone = "Riverside Crisis Line", "0800 000 111"
    db.session.commit()
    measure = schedule_once(facilitator, group_with_members, patient)
    headers = api_token(patient)
    url = f"/api/v1/measures/{measure.id}/answers"

    # Part way, item 9 answered: the answer already carries the resources.
    body = client.put(url, json={"answers": [0] * 8 + [item9]}, headers=headers).get_json()
    assert body["safety_resources"] is True
    assert body["crisis_resources"]["name"] == "Riverside Crisis Line"
    assert body["crisis_resources"]["phone"] == "0800 000 111"
    done = client.put(url, json={"answers": [0] * 8 + [item9], "complete": True}, headers=headers).get_json()
    assert done["safety_resources"] is True and done["total"] == item9
    assert item9_alerts(patient) == 1


def test_a_closed_questionnaire_is_409(client, api_token, group_with_members, facilitator, patient, clock):
    measure = schedule_once(facilitator, group_with_members, patient)
    clock.move_to(NOW + timedelta(days=8))
    response = client.put(
        f"/api/v1/measures/{measure.id}/answers",
        json={"answers": PHQ9_CALM, "complete": True},
        headers=api_token(patient),
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["message"] == "This questionnaire has closed. There will be another chance."


def test_a_member_reads_their_scores_and_change_per_instrument(
    client, api_token, group_with_members, facilitator, patient, clock
):
    completed(facilitator, group_with_members, patient, PHQ9_LOW, clock, NOW)
    completed(facilitator, group_with_members, patient, PHQ9_CALM, clock, NOW + timedelta(days=14))
    body = client.get("/api/v1/measures/scores", headers=api_token(patient)).get_json()
    phq9 = next(row for row in body if row["instrument"] == "phq9")
    assert [(s["total"], s["severity"]) for s in phq9["scores"]] == [(11, "moderate"), (4, "minimal")]
    change = phq9["change"]
    assert (change["baseline"], change["latest"], change["change"]) == (11, 4, -7)
    assert change["reliable_improvement"] and change["recovery"] and change["reliable_recovery"]
    assert change["remission"] is True and (change["reliability"], change["standard_deviation"]) == (0.84, 5.4)
    assert "r = 0.84" in change["how_measured"]["rci"]
    gad7 = next(row for row in body if row["instrument"] == "gad7")
    assert gad7["scores"] == [] and gad7["change"]["count"] == 0 and gad7["change"]["remission"] is None
    # A member reading their own results is no one else's look.
    assert audit_actions("measure_read") == []


def test_a_member_pauses_and_resumes_and_a_second_pause_is_409(
    client, api_token, group_with_members, facilitator, patient
):
    schedule_once(facilitator, group_with_members, patient)
    headers = api_token(patient)
    assert client.get("/api/v1/measures/pause", headers=headers).get_json() == {"paused": False, "since": None}
    paused = client.post("/api/v1/measures/pause", headers=headers)
    assert paused.status_code == 200 and paused.get_json()["paused"] is True
    assert client.get("/api/v1/measures", headers=headers).get_json() == []
    assert client.post("/api/v1/measures/pause", headers=headers).status_code == 409
    resumed = client.post("/api/v1/measures/resume", headers=headers)
    assert resumed.get_json() == {"paused": False, "since": None}
    assert client.post("/api/v1/measures/resume", headers=headers).status_code == 409


# The group's facilitator ----------------------------------------------------------------------------------------------


def test_a_facilitator_schedules_lists_and_stops_a_groups_questionnaires(
    client, api_token, group_with_members, facilitator, patient
):
    headers = api_token(facilitator)
    url = f"/api/v1/groups/{group_with_members.id}/measure-schedules"

    created = client.post(url, json={"instrument": "gad7", "frequency": "fortnightly"}, headers=headers)
    assert created.status_code == 201
    schedule = created.get_json()
    assert (schedule["instrument"], schedule["frequency"], schedule["patient_id"]) == ("gad7", "fortnightly", None)
    assert db.session.scalar(select(func.count()).select_from(Measure)) == 3  # every active member, at once
    assert [s["id"] for s in client.get(url, headers=headers).get_json()] == [schedule["id"]]

    stopped = client.delete(f"{url}/{schedule['id']}", headers=headers)
    assert stopped.status_code == 200 and stopped.get_json()["stopped_at"] is not None
    assert client.get("/api/v1/measures", headers=api_token(patient)).get_json() == []
    assert client.delete(f"{url}/{schedule['id']}", headers=headers).status_code == 409

    refused = client.post(url, json={"instrument": "bdi", "frequency": "weekly"}, headers=headers)
    assert refused.status_code == 422
    outsider = client.post(url, json={"instrument": "phq9", "frequency": "once", "patient_id": 999999}, headers=headers)
    assert outsider.status_code == 422 and "patient_id" in outsider.get_json()["error"]["fields"]


def test_the_facilitator_sees_due_done_and_missed_without_item_answers(
    client, api_token, group_with_members, facilitator, patient, clock
):
    done = completed(facilitator, group_with_members, patient, PHQ9_LOW, clock, NOW)
    zoe = other_member(group_with_members, patient)
    missed = schedule_once(facilitator, group_with_members, zoe)
    clock.move_to(NOW + timedelta(days=8))
    due = schedule_once(facilitator, group_with_members, patient, "gad7", at=NOW + timedelta(days=8))

    response = client.get(f"/api/v1/groups/{group_with_members.id}/measures", headers=api_token(facilitator))
    body = response.get_json()
    rows = {row["id"]: row for row in body["measures"]}
    assert (rows[done.id]["status"], rows[done.id]["total"], rows[done.id]["severity"]) == ("done", 11, "moderate")
    assert rows[missed.id]["status"] == "missed" and rows[due.id]["status"] == "due"
    assert rows[done.id]["name"] == "Pat"
    assert "answers" not in response.get_data(as_text=True)
    assert [e.subject_id for e in audit_actions("measure_read")] == [patient.id]


def test_group_outcomes_show_nothing_behind_fewer_than_three_members(
    client, api_token, group_with_members, facilitator, patient, clock
):
    members = [m.user for m in group_queries.active_members(group_with_members)]
    for member in members[:2]:
        completed(facilitator, group_with_members, member, PHQ9_LOW, clock, NOW)
        completed(facilitator, group_with_members, member, PHQ9_CALM, clock, NOW + timedelta(days=7))
    url = f"/api/v1/groups/{group_with_members.id}/measure-outcomes"
    phq9 = next(o for o in client.get(url, headers=api_token(facilitator)).get_json() if o["instrument"] == "phq9")
    assert (phq9["measured"], phq9["shown"], phq9["mean_change"], phq9["reliably_improved"]) == (2, False, None, None)
    completed(facilitator, group_with_members, members[2], PHQ9_LOW, clock, NOW + timedelta(days=8))
    completed(facilitator, group_with_members, members[2], PHQ9_LOW, clock, NOW + timedelta(days=15))
    phq9 = next(o for o in client.get(url, headers=api_token(facilitator)).get_json() if o["instrument"] == "phq9")
    assert (phq9["measured"], phq9["shown"], phq9["minimum"]) == (3, True, 3)
    assert phq9["mean_change"] == round((-7 - 7 + 0) / 3, 1) and phq9["reliably_improved"] == 67


def test_a_facilitator_reads_a_members_scores_and_the_read_is_audited(
    client, api_token, group_with_members, facilitator, patient, clock
):
    completed(facilitator, group_with_members, patient, PHQ9_LOW, clock, NOW)
    body = client.get(f"/api/v1/patients/{patient.id}/measures/scores", headers=api_token(facilitator)).get_json()
    assert [s["total"] for s in next(r for r in body if r["instrument"] == "phq9")["scores"]] == [11]
    assert [(e.actor_id, e.subject_id) for e in audit_actions("measure_read")] == [(facilitator.id, patient.id)]


# Nobody else ----------------------------------------------------------------------------------------------------------


def _member_urls(measure, patient) -> list[tuple[str, str]]:
    return [
        ("GET", f"/api/v1/measures/{measure.id}"),
        ("GET", f"/api/v1/measures/{measure.id}/fhir"),
        ("PUT", f"/api/v1/measures/{measure.id}/answers"),
        ("GET", f"/api/v1/patients/{patient.id}/measures/scores"),
    ]


def test_another_member_of_the_same_group_finds_nothing_of_a_members_measures(
    client, api_token, group_with_members, facilitator, patient, clock
):
    measure = completed(facilitator, group_with_members, patient, [0] * 8 + [2], clock, NOW)
    peer = other_member(group_with_members, patient)
    headers = api_token(peer)
    for method, url in _member_urls(measure, patient):
        response = client.open(url, method=method, json={"answers": PHQ9_CALM}, headers=headers)
        assert response.status_code == 404, url
        assert "Nearly" not in response.get_data(as_text=True)
    group = group_with_members.id
    for url in (
        f"/api/v1/groups/{group}/measures",
        f"/api/v1/groups/{group}/measure-outcomes",
        f"/api/v1/groups/{group}/measure-schedules",
    ):
        assert client.get(url, headers=headers).status_code == 404


def test_a_supporter_gets_none_of_the_measures_api_whatever_their_consent(
    client, api_token, group_with_members, facilitator, patient, supporter, clock
):
    measure = completed(facilitator, group_with_members, patient, [0] * 8 + [2], clock, NOW)
    for classes in ([DataClass.MEASURES], [DataClass.MOOD]):
        grant(patient, supporter, classes, data_from=NOW - timedelta(days=30))
        headers = api_token(supporter)
        for method, url in [
            *_member_urls(measure, patient),
            ("GET", "/api/v1/measures"),
            ("GET", "/api/v1/measures/scores"),
        ]:
            response = client.open(url, method=method, json={"answers": PHQ9_CALM}, headers=headers)
            assert response.status_code == 404, (classes, url)
    assert link_supporter(patient, supporter) is not None


def test_another_groups_facilitator_and_another_organisation_find_nothing(
    client, api_token, group_with_members, facilitator, patient, clock, make_user, make_organisation, make_group
):
    measure = completed(facilitator, group_with_members, patient, PHQ9_LOW, clock, NOW)
    other = make_user(RoleName.FACILITATOR, display_name="Finn Other")
    make_group(other, name="Another group")
    elsewhere = make_user(RoleName.FACILITATOR, organisation_=make_organisation(name="Hillside", slug="hillside"))
    schedule = db.session.scalar(select(MeasureSchedule))
    for outsider in (other, elsewhere):
        headers = api_token(outsider)
        for method, url in [
            *_member_urls(measure, patient),
            ("GET", f"/api/v1/groups/{group_with_members.id}/measures"),
            ("DELETE", f"/api/v1/groups/{group_with_members.id}/measure-schedules/{schedule.id}"),
        ]:
            assert client.open(url, method=method, json={"answers": PHQ9_CALM}, headers=headers).status_code == 404, (
                outsider.display_name,
                url,
            )
    db.session.expire_all()
    assert db.session.get(MeasureSchedule, schedule.id).stopped_at is None


# FHIR -----------------------------------------------------------------------------------------------------------------


def test_every_completed_measure_exports_as_a_valid_fhir_r5_questionnaire_response(
    client, api_token, group_with_members, facilitator, patient, clock
):
    answered = [  # instrument, answers, difficulty: the lowest and highest totals, the difficulty left out or given
        ("phq9", [0, 1, 2, 3, 0, 1, 2, 3, 1], 2),
        ("phq9", [0] * 9, None),
        ("phq9", [3] * 9, 3),
        ("gad7", [2] * 7, None),
        ("gad7", [0] * 7, 0),
        ("gad7", [3] * 7, 3),
    ]
    for hours, (instrument, answers, difficulty) in enumerate(answered):
        completed(
            facilitator,
            group_with_members,
            patient,
            answers,
            clock,
            NOW + timedelta(hours=hours),
            instrument=instrument,
            difficulty=difficulty,
        )
    done = db.session.scalars(select(Measure).where(Measure.status == MeasureStatus.DONE).order_by(Measure.id)).all()
    assert len(done) == len(answered)
    panels = {"phq9": (PHQ9, "44249-1"), "gad7": (GAD7, "69737-5")}
    for reader in (facilitator, patient):
        headers = api_token(reader)
        for measure, (instrument, answers, difficulty) in zip(done, answered, strict=True):
            response = client.get(f"/api/v1/measures/{measure.id}/fhir", headers=headers)
            assert response.status_code == 200 and response.mimetype == "application/fhir+json"
            resource = response.get_json()
            parsed = QuestionnaireResponse.model_validate(resource)
            form, panel = panels[instrument]
            assert parsed.questionnaire == f"http://loinc.org/q/{panel}"
            assert (parsed.status, parsed.subject.reference, parsed.id) == (
                "completed",
                f"Patient/{patient.id}",
                str(measure.id),
            )
            by_link = {item["linkId"]: item["answer"][0] for item in resource["item"]}
            for item, value in zip(form.items, answers, strict=True):
                coding = by_link[f"/{item.loinc}"]["valueCoding"]
                assert (coding["system"], coding["code"]) == ("http://loinc.org", item.answers[value].code)
            if difficulty is None:
                assert form.difficulty.link_id not in by_link
            else:
                assert (
                    by_link[form.difficulty.link_id]["valueCoding"]["code"] == form.difficulty.answers[difficulty].code
                )
            assert by_link[form.total_link_id] == {"valueDecimal": sum(answers)}
    # The facilitator's looks are audited, the member's own are not.
    assert [e.actor_id for e in audit_actions("measure_read")] == [facilitator.id] * len(answered)


def test_a_questionnaire_not_completed_has_no_fhir_export(client, api_token, group_with_members, facilitator, patient):
    measure = schedule_once(facilitator, group_with_members, patient)
    response = client.get(f"/api/v1/measures/{measure.id}/fhir", headers=api_token(facilitator))
    assert response.status_code == 409
