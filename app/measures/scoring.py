"""Scoring a PHQ-9 or GAD-7: checking the answers, the total, its severity band and the safety rule on PHQ-9 item 9."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from flask_babel import gettext as _

from app.measures.instruments import SAFETY_ITEM, Instrument, definition
from app.refusal import Refusal

#: Every answer is scored 0 (Not at all) to 3 (Nearly every day); the difficulty question is answered 0 to 3 too.
ANSWER_VALUES = range(0, 4)


class Severity(StrEnum):
    MINIMAL = "minimal"
    MILD = "mild"
    MODERATE = "moderate"
    MODERATELY_SEVERE = "moderately_severe"
    SEVERE = "severe"


@dataclass(frozen=True)
class Band:
    """Totals from `low` to `high`, both included, fall in `severity`."""

    low: int
    high: int
    severity: Severity


BANDS: dict[Instrument, tuple[Band, ...]] = {
    # Kroenke, Spitzer & Williams, J Gen Intern Med 2001;16:606-613: 5, 10, 15 and 20 mark mild, moderate,
    # moderately severe and severe depression (CLINICAL.md).
    Instrument.PHQ9: (
        Band(0, 4, Severity.MINIMAL),
        Band(5, 9, Severity.MILD),
        Band(10, 14, Severity.MODERATE),
        Band(15, 19, Severity.MODERATELY_SEVERE),
        Band(20, 27, Severity.SEVERE),
    ),
    # Spitzer et al., Arch Intern Med 2006;166:1092-1097: 5, 10 and 15 mark mild, moderate and severe anxiety.
    Instrument.GAD7: (
        Band(0, 4, Severity.MINIMAL),
        Band(5, 9, Severity.MILD),
        Band(10, 14, Severity.MODERATE),
        Band(15, 21, Severity.SEVERE),
    ),
}


@dataclass(frozen=True)
class Score:
    instrument: Instrument
    total: int
    severity: Severity


def _refuse(message: str) -> Refusal:
    return Refusal(message, field="answers", code="invalid_answers")


def _is_answer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in ANSWER_VALUES


def validate_answers(instrument: Instrument | str, answers: Sequence[int]) -> tuple[int, ...]:
    """A full set of answers, in item order, each 0 to 3; refused (Refusal `invalid_answers`) otherwise."""
    expected = definition(instrument).item_count
    if isinstance(answers, (str, bytes)) or not isinstance(answers, Sequence):
        raise _refuse(_("Answer every question."))
    if len(answers) != expected:
        raise _refuse(_("Answer all %(count)d questions.", count=expected))
    for number, value in enumerate(answers, start=1):
        if value is None:
            raise _refuse(_("Answer question %(number)d.", number=number))
        if not _is_answer(value):
            raise _refuse(_("Question %(number)d needs one of the four answers.", number=number))
    return tuple(answers)


def validate_partial_answers(instrument: Instrument | str, answers: Sequence[int | None]) -> tuple[int | None, ...]:
    """Answers saved part way: None for a question not answered yet, and no more answers than questions. Returned
    padded with None to one entry per item."""
    expected = definition(instrument).item_count
    if isinstance(answers, (str, bytes)) or not isinstance(answers, Sequence) or len(answers) > expected:
        raise _refuse(_("Answer all %(count)d questions.", count=expected))
    for number, value in enumerate(answers, start=1):
        if value is not None and not _is_answer(value):
            raise _refuse(_("Question %(number)d needs one of the four answers.", number=number))
    return tuple(answers) + (None,) * (expected - len(answers))


def validate_difficulty(difficulty: int | None) -> int | None:
    """The unscored difficulty question may be left out (the form asks it only "if you checked off any problems")."""
    if difficulty is not None and not _is_answer(difficulty):
        raise Refusal(_("Choose one of the four answers."), field="difficulty", code="invalid_difficulty")
    return difficulty


def unanswered_items(instrument: Instrument | str, answers: Sequence[int | None]) -> tuple[int, ...]:
    """The numbers (1-based, as on the form) of the questions still to answer."""
    padded = validate_partial_answers(instrument, answers)
    return tuple(number for number, value in enumerate(padded, start=1) if value is None)


def total(instrument: Instrument | str, answers: Sequence[int]) -> int:
    return sum(validate_answers(instrument, answers))


def band_ranges(instrument: Instrument | str) -> tuple[Band, ...]:
    """The severity bands in order, lowest first: what a chart draws behind the scores."""
    return BANDS[Instrument(instrument)]


def severity(instrument: Instrument | str, total_score: int) -> Severity:
    """The band a total falls in; ValueError for a total the instrument cannot give (a programming error)."""
    for band in band_ranges(instrument):
        if band.low <= total_score <= band.high:
            return band.severity
    raise ValueError(f"{total_score} is not a {Instrument(instrument)} total")


def score(instrument: Instrument | str, answers: Sequence[int]) -> Score:
    instrument = Instrument(instrument)
    total_score = total(instrument, answers)
    return Score(instrument, total_score, severity(instrument, total_score))


def needs_safety_alert(instrument: Instrument | str, answers: Sequence[int | None]) -> bool:
    """PHQ-9 item 9 answered with anything but "Not at all", whatever the total (CLINICAL.md, safety rule 1). Works on
    answers saved part way too, so that the alert is raised as soon as item 9 is answered."""
    if Instrument(instrument) is not Instrument.PHQ9:
        return False
    padded = validate_partial_answers(instrument, answers)
    answer = padded[SAFETY_ITEM.number - 1]
    return answer is not None and answer != 0
