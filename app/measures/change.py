"""Change over time for one member's scores on one instrument: baseline, latest, the Reliable Change Index and the NHS
Talking Therapies outcomes (CLINICAL.md, "Change over time")."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from app.measures.instruments import Instrument

# Reliable Change Index (Jacobson & Truax 1991, with the sqrt(2) of Christensen & Mendoza 1986):
# SE = SD * sqrt(1 - r); S_diff = sqrt(2) * SE; RCI = (post - pre) / S_diff; |RCI| > 1.96 is reliable at the 95% level.
RCI_CRITICAL = 1.96

#: Test-retest reliability. PHQ-9: 0.84, the PHQ-9 completed by the patient and again by telephone within 48 hours
#: (Kroenke, Spitzer & Williams, J Gen Intern Med 2001;16:606-613). GAD-7: intraclass correlation 0.83 on retest
#: within a week (Spitzer et al., Arch Intern Med 2006;166:1092-1097).
RELIABILITY = {Instrument.PHQ9: 0.84, Instrument.GAD7: 0.83}

#: Standard deviation of the scores. No clinical sample's SD could be cited with confidence here, so these values are
#: chosen, plainly, to reproduce the NHS Talking Therapies reliable-change thresholds with the reliabilities above:
#: PHQ-9 SD 5.4 gives 1.96 * S_diff = 5.99 (a change of 6 is reliable, 5 is not); GAD-7 SD 3.4 gives 3.89 (4 is
#: reliable, 3 is not). Replace them with a cited clinical sample's SD when one is chosen; the UI text states them.
STANDARD_DEVIATION = {Instrument.PHQ9: 5.4, Instrument.GAD7: 3.4}

# NHS Talking Therapies (formerly IAPT) conventions, the default thresholds (CLINICAL.md):
#: A fall of at least this many points is reliable improvement; a rise of as many is reliable deterioration.
RELIABLE_CHANGE_POINTS = {Instrument.PHQ9: 6, Instrument.GAD7: 4}
#: "Caseness": a score at or above the cut-off (PHQ-9 >= 10, GAD-7 >= 8).
CASENESS_CUTOFF = {Instrument.PHQ9: 10, Instrument.GAD7: 8}
#: Response: a fall of 50% or more from baseline.
RESPONSE_FRACTION = 0.5
#: Remission: PHQ-9 below 5 (PHQ-9 only; CLINICAL.md).
REMISSION_BELOW = {Instrument.PHQ9: 5}


def standard_error(instrument: Instrument | str) -> float:
    """SE = SD * sqrt(1 - r)."""
    instrument = Instrument(instrument)
    return STANDARD_DEVIATION[instrument] * math.sqrt(1 - RELIABILITY[instrument])


def difference_standard_error(instrument: Instrument | str) -> float:
    """S_diff = sqrt(2) * SE."""
    return math.sqrt(2) * standard_error(instrument)


def reliable_change_index(instrument: Instrument | str, pre: int, post: int) -> float:
    """RCI = (post - pre) / S_diff; negative is a fall in symptoms."""
    return (post - pre) / difference_standard_error(instrument)


def at_caseness(instrument: Instrument | str, total: int) -> bool:
    return total >= CASENESS_CUTOFF[Instrument(instrument)]


@dataclass(frozen=True)
class Change:
    """What changed between a member's first and latest score on one instrument. With fewer than two scores the
    change figures are None and the outcomes False; remission is None for an instrument it does not apply to."""

    instrument: Instrument
    count: int
    baseline: int | None = None
    baseline_at: datetime | None = None
    latest: int | None = None
    latest_at: datetime | None = None
    #: latest - baseline: negative is fewer symptoms.
    change: int | None = None
    rci: float | None = None
    #: |RCI| > 1.96, in either direction.
    reliable_change: bool = False
    reliable_improvement: bool = False
    reliable_deterioration: bool = False
    baseline_caseness: bool | None = None
    latest_caseness: bool | None = None
    recovery: bool = False
    reliable_recovery: bool = False
    response: bool = False
    remission: bool | None = None


def change_over_time(instrument: Instrument | str, scores: Iterable[tuple[datetime, int]]) -> Change:
    """`scores`: (when, total) pairs of one member on one instrument, in any order."""
    instrument = Instrument(instrument)
    ordered = sorted(scores, key=lambda pair: pair[0])
    # Remission is False until there is a change to judge, and None where it does not apply (the GAD-7).
    no_remission = False if instrument in REMISSION_BELOW else None
    if not ordered:
        return Change(instrument, 0, remission=no_remission)
    (baseline_at, baseline), (latest_at, latest) = ordered[0], ordered[-1]
    first = Change(
        instrument,
        len(ordered),
        baseline=baseline,
        baseline_at=baseline_at,
        latest=latest,
        latest_at=latest_at,
        baseline_caseness=at_caseness(instrument, baseline),
        latest_caseness=at_caseness(instrument, latest),
        remission=no_remission,
    )
    if len(ordered) < 2:
        return first
    difference = latest - baseline
    rci = reliable_change_index(instrument, baseline, latest)
    threshold = RELIABLE_CHANGE_POINTS[instrument]
    improvement = -difference >= threshold
    recovery = first.baseline_caseness and not first.latest_caseness
    return replace(
        first,
        change=difference,
        rci=rci,
        reliable_change=abs(rci) > RCI_CRITICAL,
        reliable_improvement=improvement,
        reliable_deterioration=difference >= threshold,
        recovery=recovery,
        reliable_recovery=recovery and improvement,
        response=baseline > 0 and -difference >= baseline * RESPONSE_FRACTION,
        remission=latest < REMISSION_BELOW[instrument] if instrument in REMISSION_BELOW else None,
    )


@dataclass(frozen=True)
class PairedOutcome:
    """NHS Talking Therapies outcomes over a PHQ-9 and a GAD-7 taken together, as the service reports them: caseness
    when either is at its cut-off at the start; recovery when at caseness then and below both cut-offs at the end;
    reliable improvement when either falls reliably and neither rises reliably; reliable deterioration when either
    rises reliably; reliable recovery is recovery together with reliable improvement."""

    caseness: bool
    recovery: bool
    reliable_improvement: bool
    reliable_deterioration: bool
    reliable_recovery: bool


def paired_outcome(phq9: Change, gad7: Change) -> PairedOutcome | None:
    """None unless both instruments have at least two scores."""
    if phq9.instrument is not Instrument.PHQ9 or gad7.instrument is not Instrument.GAD7:
        raise ValueError("paired_outcome takes a PHQ-9 change, then a GAD-7 change")
    if phq9.count < 2 or gad7.count < 2:
        return None
    caseness = bool(phq9.baseline_caseness or gad7.baseline_caseness)
    recovery = caseness and not phq9.latest_caseness and not gad7.latest_caseness
    deterioration = phq9.reliable_deterioration or gad7.reliable_deterioration
    improvement = (phq9.reliable_improvement or gad7.reliable_improvement) and not deterioration
    return PairedOutcome(caseness, recovery, improvement, deterioration, recovery and improvement)


def _how_measured(instrument: Instrument) -> dict[str, LazyString]:
    r = f"{RELIABILITY[instrument]:.2f}"
    sd = f"{STANDARD_DEVIATION[instrument]:.1f}"
    points = RELIABLE_CHANGE_POINTS[instrument]
    cutoff = CASENESS_CUTOFF[instrument]
    texts = {
        "baseline": _l("The first score given on this questionnaire."),
        "latest": _l("The most recent score given on this questionnaire."),
        "change": _l("The latest score minus the first. A negative number means fewer symptoms."),
        "rci": _l(
            "The Reliable Change Index divides the change by the change that measurement error alone could "
            "cause, using the questionnaire's test-retest reliability (r = %(r)s) and the spread of scores "
            "(standard deviation %(sd)s). Beyond 1.96 either way, the change is unlikely to be chance (95%% level).",
            r=r,
            sd=sd,
        ),
        "reliable_improvement": _l(
            "The score fell by %(points)d points or more since the first score, the change NHS Talking Therapies "
            "counts as reliable improvement.",
            points=points,
        ),
        "reliable_deterioration": _l(
            "The score rose by %(points)d points or more since the first score, the change NHS Talking Therapies "
            "counts as reliable deterioration.",
            points=points,
        ),
        "caseness": _l(
            "A score of %(cutoff)d or more is at the level where services usually offer treatment.", cutoff=cutoff
        ),
        "recovery": _l("The first score was %(cutoff)d or more and the latest is below %(cutoff)d.", cutoff=cutoff),
        "reliable_recovery": _l("Recovery together with reliable improvement."),
        "response": _l("The latest score is half the first score or less."),
    }
    if instrument in REMISSION_BELOW:
        texts["remission"] = _l(
            "The latest score is below %(below)d, the range of few or no symptoms.", below=REMISSION_BELOW[instrument]
        )
    return texts


#: For each instrument, plain words on how each figure of `Change` is measured (the "how this is measured" text).
HOW_MEASURED: dict[Instrument, dict[str, LazyString]] = {
    instrument: _how_measured(instrument) for instrument in Instrument
}
