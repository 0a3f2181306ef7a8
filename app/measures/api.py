"""JSON API for measures: a member's own questionnaires (what is due, answering part way or in full, scores and change,
a pause), a group's facilitators' schedules, due/done/missed, a member's results and group outcomes, and a completed
questionnaire as an HL7 FHIR R5 QuestionnaireResponse. Peers and supporters get nothing here (a supporter's bands come
with what is shared: /api/v1/patients/{id}/shared)."""

from __future__ import annotations

from dataclasses import asdict

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import policy
from app.accounts.models import RoleName, User
from app.api_base import ApiBlueprint, document_errors
from app.extensions import account_or_address, limiter
from app.groups import queries as group_queries
from app.groups import services as group_services
from app.groups.models import TherapyGroup
from app.measures import queries, services
from app.measures.change import HOW_MEASURED, RELIABILITY, STANDARD_DEVIATION, change_over_time
from app.measures.fhir import questionnaire_response
from app.measures.instruments import Instrument, definition
from app.measures.labels import severity_label
from app.measures.models import Measure, MeasureSchedule, MeasureStatus
from app.measures.schemas import (
    GroupMeasuresSchema,
    GroupOutcomeSchema,
    MeasureAnswersSchema,
    MeasureInstrumentScoresSchema,
    MeasurePauseSchema,
    MeasureScheduleCreateSchema,
    MeasureScheduleSchema,
    MeasureSchema,
    MeasureSummarySchema,
)
from app.measures.scoring import needs_safety_alert, severity
from app.models_base import utcnow
from app.rooms.queries import crisis_resources

blp = ApiBlueprint("measures_api", __name__, url_prefix="/api/v1", description="Questionnaires (PHQ-9, GAD-7)")


# Rows -----------------------------------------------------------------------------------------------------------------


def _summary(measure: Measure) -> dict:
    form = definition(measure.instrument)
    return {
        "id": measure.id,
        "group_id": measure.group_id,
        "instrument": measure.instrument.value,
        "code": form.code,
        "status": queries.shown_status(measure).value,
        "opens_at": measure.opens_at,
        "closes_at": measure.closes_at,
        "answered": sum(a is not None for a in measure.answers or []),
        "item_count": form.item_count,
    }


def _choices(answers) -> list[dict]:
    return [{"value": a.value, "text": str(a.text)} for a in answers]


def _measure(measure: Measure) -> dict:
    """The questionnaire as its member reads it, with what is saved; the crisis resources when item 9 says so."""
    form = definition(measure.instrument)
    saved = list(measure.answers or []) + [None] * form.item_count
    band = severity(measure.instrument, measure.total) if measure.total is not None else None
    row = {
        **_summary(measure),
        "title": str(form.title),
        "stem": str(form.stem),
        "notice": str(form.notice),
        "items": [
            {
                "number": item.number,
                "text": str(item.text),
                "choices": _choices(item.answers),
                "answer": saved[item.number - 1],
            }
            for item in form.items
        ],
        "difficulty": {
            "text": str(form.difficulty.text),
            "choices": _choices(form.difficulty.answers),
            "answer": measure.difficulty,
        },
        "total": measure.total,
        "severity": band.value if band else None,
        "severity_label": severity_label(band) if band else None,
        "completed_at": measure.completed_at,
        # CLINICAL.md safety rule 1: whatever the total, and as soon as item 9 is answered.
        "safety_resources": needs_safety_alert(measure.instrument, saved[: form.item_count]),
    }
    if row["safety_resources"]:
        row["crisis_resources"] = crisis_resources(measure.patient)
    return row


def _scores(patient_id: int, group_ids: set[int] | None) -> list[dict]:
    """Per instrument, the completed scores (oldest first) and the change over them; for a facilitator, only those
    of the groups they run (`group_ids`)."""
    rows = []
    for instrument in Instrument:
        done = [m for m in queries.scores(patient_id, instrument) if group_ids is None or m.group_id in group_ids]
        change = change_over_time(instrument, [(m.completed_at, m.total) for m in done])
        rows.append(
            {
                "instrument": instrument.value,
                "code": definition(instrument).code,
                "scores": [
                    {
                        "measure_id": m.id,
                        "completed_at": m.completed_at,
                        "total": m.total,
                        "severity": severity(instrument, m.total).value,
                        "severity_label": severity_label(severity(instrument, m.total)),
                    }
                    for m in done
                ],
                "change": {
                    **{key: value for key, value in asdict(change).items() if key != "instrument"},
                    "reliability": RELIABILITY[instrument],
                    "standard_deviation": STANDARD_DEVIATION[instrument],
                    "how_measured": {key: str(text) for key, text in HOW_MEASURED[instrument].items()},
                },
            }
        )
    return rows


def _pause_row(user: User) -> dict:
    pause = queries.current_pause(user.id)
    return {"paused": pause is not None, "since": pause.started_at if pause else None}


def _schedule_row(schedule: MeasureSchedule) -> dict:
    return {
        "id": schedule.id,
        "group_id": schedule.group_id,
        "patient_id": schedule.patient_id,
        "instrument": schedule.instrument.value,
        "frequency": schedule.frequency.value,
        "starts_at": schedule.starts_at,
        "created_at": schedule.created_at,
        "stopped_at": schedule.stopped_at,
    }


# Loading --------------------------------------------------------------------------------------------------------------


def _readable_measure(measure_id: int) -> Measure:
    measure = queries.measure_in_organisation(measure_id, current_user.organisation_id) or policy.hidden(
        Measure, measure_id
    )
    policy.require_read_measure(current_user, measure)
    return measure


def _own_measure(measure_id: int) -> Measure:
    measure = queries.measure_in_organisation(measure_id, current_user.organisation_id) or policy.hidden(
        Measure, measure_id
    )
    policy.require_answer_measure(current_user, measure)
    return measure


def _scheduled_group(group_id: int) -> TherapyGroup:
    group = group_queries.group_in_organisation(group_id, current_user.organisation_id) or policy.hidden(
        TherapyGroup, group_id
    )
    policy.require_schedule_measures(current_user, group)
    return group


def _record_read(target: str, member_ids) -> None:
    """A facilitator's read of members' results (SECURITY.md 14); a member reading their own is no one else's look."""
    if policy.role_of(current_user) != RoleName.PATIENT:
        group_services.record_facilitator_read(current_user, "measure_read", target=target, member_ids=member_ids)


# The member's own -----------------------------------------------------------------------------------------------------


@blp.get("/measures")
@login_required
@blp.response(200, MeasureSummarySchema(many=True))
@document_errors(blp, 401, 404, 429)
def list_due():
    """Your questionnaires open now, the soonest to close first."""
    policy.require_keep_measures(current_user)
    return [_summary(m) for m in queries.due_for(current_user.id)]


@blp.get("/measures/<int:measure_id>")
@login_required
@blp.response(200, MeasureSchema)
@document_errors(blp, 401, 404, 429)
def get_measure(measure_id: int):
    """One questionnaire: its wording, each item's choices and saved answer. For its member, and for a facilitator
    of its group (the read is audited)."""
    measure = _readable_measure(measure_id)
    _record_read(f"measure:{measure.id}", [measure.patient_id])
    return _measure(measure)


@blp.put("/measures/<int:measure_id>/answers")
@login_required
@limiter.limit("240 per hour", key_func=account_or_address)
@blp.arguments(MeasureAnswersSchema)
@blp.response(200, MeasureSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def save_answers(data, measure_id: int):
    """Save answers part way, or all of them with `complete`. A retry of a completed questionnaire changes nothing
    and answers the same. Any answer but 0 on PHQ-9 item 9 alerts your facilitators at once, and the answer then
    carries your organisation's crisis resources (`safety_resources`). A closed questionnaire is 409."""
    measure = _own_measure(measure_id)
    services.save_answers(current_user, measure, data["answers"], data["difficulty"], complete=data["complete"])
    return _measure(measure)


@blp.get("/measures/scores")
@login_required
@blp.response(200, MeasureInstrumentScoresSchema(many=True))
@document_errors(blp, 401, 404, 429)
def own_scores():
    """Your scores per questionnaire, oldest first, and the change from your first to your latest."""
    policy.require_keep_measures(current_user)
    return _scores(current_user.id, None)


@blp.get("/measures/pause")
@login_required
@blp.response(200, MeasurePauseSchema)
@document_errors(blp, 401, 404, 429)
def get_pause():
    policy.require_keep_measures(current_user)
    return _pause_row(current_user)


@blp.post("/measures/pause")
@login_required
@blp.response(200, MeasurePauseSchema)
@document_errors(blp, 400, 401, 404, 409, 429)
def pause():
    """Pause your questionnaires: those not started are withdrawn and no new one opens until you resume. Your
    facilitators see that you paused. Already paused: 409."""
    policy.require_keep_measures(current_user)
    services.pause(current_user)
    return _pause_row(current_user)


@blp.post("/measures/resume")
@login_required
@blp.response(200, MeasurePauseSchema)
@document_errors(blp, 400, 401, 404, 409, 429)
def resume():
    """Lift your pause: questionnaires open again from their next window (one open now opens at once)."""
    policy.require_keep_measures(current_user)
    services.resume(current_user)
    return _pause_row(current_user)


@blp.get("/measures/<int:measure_id>/fhir")
@login_required
@blp.response(200, description="An HL7 FHIR R5 QuestionnaireResponse (application/fhir+json).")
@document_errors(blp, 401, 404, 409, 429)
def measure_fhir(measure_id: int):
    """A completed questionnaire as an HL7 FHIR R5 QuestionnaireResponse answering LOINC's Questionnaire for the panel
    (PHQ-9 44249-1, GAD-7 69737-5): for its member and a facilitator of its group. Not completed: 409."""
    measure = _readable_measure(measure_id)
    if measure.status != MeasureStatus.DONE:
        raise services.MeasureRefused(_("This questionnaire is not completed."), code="closed")
    _record_read(f"measure:{measure.id}", [measure.patient_id])
    resource = questionnaire_response(
        measure.instrument,
        measure.answers,
        measure.difficulty,
        measure.completed_at,
        f"Patient/{measure.patient_id}",
        measure.id,
    )
    response = jsonify(resource)
    response.mimetype = "application/fhir+json"
    return response


# A group's facilitators -----------------------------------------------------------------------------------------------


@blp.get("/groups/<int:group_id>/measure-schedules")
@login_required
@blp.response(200, MeasureScheduleSchema(many=True))
@document_errors(blp, 401, 404, 429)
def list_schedules(group_id: int):
    """The group's schedules, running ones first."""
    group = _scheduled_group(group_id)
    return [_schedule_row(s) for s in queries.schedules_of_group(group)]


@blp.post("/groups/<int:group_id>/measure-schedules")
@login_required
@limiter.limit("120 per hour", key_func=account_or_address)
@blp.arguments(MeasureScheduleCreateSchema)
@blp.response(201, MeasureScheduleSchema)
@document_errors(blp, 400, 401, 404, 422, 429)
def create_schedule(data, group_id: int):
    """Ask for a questionnaire, for one active member (`patient_id`) or every active member; a window open now opens
    at once."""
    group = _scheduled_group(group_id)
    schedule = services.create_schedule(
        current_user,
        group,
        instrument=data["instrument"],
        frequency=data["frequency"],
        starts_at=data["starts_at"] or utcnow(),
        patient_id=data["patient_id"],
    )
    return _schedule_row(schedule)


@blp.delete("/groups/<int:group_id>/measure-schedules/<int:schedule_id>")
@login_required
@blp.response(200, MeasureScheduleSchema)
@document_errors(blp, 400, 401, 404, 409, 429)
def stop_schedule(group_id: int, schedule_id: int):
    """Stop a schedule: no new window opens, an open one not done is withdrawn; what was answered stays. Already
    stopped: 409."""
    group = _scheduled_group(group_id)
    schedule = queries.schedule_in_group(schedule_id, group) or policy.hidden(MeasureSchedule, schedule_id)
    services.stop_schedule(current_user, schedule)
    return _schedule_row(schedule)


@blp.get("/groups/<int:group_id>/measures")
@login_required
@blp.response(200, GroupMeasuresSchema)
@document_errors(blp, 401, 404, 429)
def group_measures(group_id: int):
    """Who is due, done and missed (totals and bands, no item answers), who missed two in a row, who paused."""
    group = _scheduled_group(group_id)
    now = utcnow()
    measures = queries.recent_of_group(group)
    names = {m.user_id: m.shown_name for m in group_queries.active_members(group)}
    _record_read(f"group:{group.id}:measures", {m.patient_id for m in measures if m.status == MeasureStatus.DONE})
    rows = []
    for m in measures:
        band = severity(m.instrument, m.total) if m.total is not None else None
        rows.append(
            {
                "id": m.id,
                "patient_id": m.patient_id,
                "name": names.get(m.patient_id) or m.patient.display_name,
                "instrument": m.instrument.value,
                "status": queries.shown_status(m, now).value,
                "opens_at": m.opens_at,
                "closes_at": m.closes_at,
                "completed_at": m.completed_at,
                "total": m.total,
                "severity": band.value if band else None,
            }
        )
    paused = queries.paused_patient_ids()
    return {
        "measures": rows,
        "missed_twice_in_a_row": sorted(queries.missed_twice_in_a_row(measures, now)),
        "paused": sorted(paused & set(names)),
    }


@blp.get("/groups/<int:group_id>/measure-outcomes")
@login_required
@blp.response(200, GroupOutcomeSchema(many=True))
@document_errors(blp, 401, 404, 429)
def group_outcomes(group_id: int):
    """Per questionnaire, over the members with two scores or more: mean change, % reliably improved, % recovered,
    % reliably deteriorated. Nothing is given behind fewer than 3 members, so that no one is singled out."""
    group = _scheduled_group(group_id)
    return [
        {**asdict(o), "instrument": o.instrument.value, "shown": o.shown, "minimum": queries.OUTCOME_MINIMUM}
        for o in queries.group_outcomes(group)
    ]


@blp.get("/patients/<int:patient_id>/measures/scores")
@login_required
@blp.response(200, MeasureInstrumentScoresSchema(many=True))
@document_errors(blp, 401, 404, 429)
def member_scores(patient_id: int):
    """A member's scores and change per questionnaire: for the member, and for a facilitator of a group they belong
    to (only the scores given in the groups that facilitator runs; the read is audited)."""
    policy.require_view_member_measures(current_user, patient_id)
    if policy.role_of(current_user) == RoleName.PATIENT:
        return _scores(patient_id, None)
    group_ids = {g.id for g in group_queries.groups_for_facilitator(current_user)}
    _record_read(f"patient:{patient_id}:measures", [patient_id])
    return _scores(patient_id, group_ids)
