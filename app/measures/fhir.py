"""A completed PHQ-9 or GAD-7 as an HL7 FHIR R5 QuestionnaireResponse (https://hl7.org/fhir/R5/questionnaireresponse.html)
that answers LOINC's own Questionnaire for the panel, each answer a LOINC-coded Coding."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from app.measures.instruments import LOINC, Answer, Instrument, definition
from app.measures.scoring import validate_answers, validate_difficulty


def _coding(answer: Answer) -> dict:
    return {"system": LOINC, "code": answer.code, "display": answer.display}


def _instant(value: datetime) -> str:
    """FHIR dateTime with a time needs a zone; the app stores UTC, so a naive value is UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat(timespec="seconds")


def questionnaire_response(
    instrument: Instrument | str,
    answers: Sequence[int],
    difficulty: int | None,
    authored: datetime,
    subject_reference: str,
    id: str,
) -> dict:
    """`answers` is the full set in item order (refused otherwise, as scoring refuses it); `difficulty` the unscored
    last question's answer (0-3) or None when it was left out; `subject_reference` e.g. "Patient/12"."""
    form = definition(instrument)
    answers = validate_answers(form.instrument, answers)
    difficulty = validate_difficulty(difficulty)
    items = [
        {"linkId": item.link_id, "answer": [{"valueCoding": _coding(item.answers[value])}]}
        for item, value in zip(form.items, answers, strict=True)
    ]
    if difficulty is not None:
        items.append(
            {
                "linkId": form.difficulty.link_id,
                "answer": [{"valueCoding": _coding(form.difficulty.answers[difficulty])}],
            }
        )
    # LOINC's Questionnaire declares the total score item as a decimal.
    items.append({"linkId": form.total_link_id, "answer": [{"valueDecimal": sum(answers)}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": str(id),
        "questionnaire": form.questionnaire_url,
        "status": "completed",
        "subject": {"reference": subject_reference},
        "authored": _instant(authored),
        "item": items,
    }
