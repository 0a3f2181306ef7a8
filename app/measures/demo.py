"""Demo data for measures: the demo group answers the PHQ-9 and the GAD-7 every two weeks. Alex has twelve weeks of
scores that fall from moderately severe into the mild band (a reliable improvement and a recovery), Sam's stay about
level with one that closed unanswered, and both have this fortnight's questionnaires open now."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.groups.demo import DEMO_GROUP
from app.groups.models import TherapyGroup
from app.measures import services
from app.measures.instruments import Instrument
from app.measures.models import Frequency, Measure, MeasureSchedule, MeasureStatus
from app.models_base import utcnow

EVERY = timedelta(days=14)
#: Totals per past fortnight, oldest first (None: that one closed unanswered).
TOTALS = {
    ("alex", Instrument.PHQ9): [16, 15, 13, 12, 10, 9],
    ("alex", Instrument.GAD7): [11, 10, 9, 8, 7, 6],
    ("sam", Instrument.PHQ9): [12, 13, None, 11, 12, 10],
    ("sam", Instrument.GAD7): [9, 9, None, 8, 9, 8],
}
ITEMS = {Instrument.PHQ9: 9, Instrument.GAD7: 7}


def _answers(instrument: Instrument, total: int) -> list[int]:
    """Answers that add up to `total`, spread over the items, with PHQ-9 item 9 at 0."""
    scored = ITEMS[instrument] - (1 if instrument == Instrument.PHQ9 else 0)
    answers = [total // scored + (1 if n < total % scored else 0) for n in range(scored)]
    return answers + ([0] if instrument == Instrument.PHQ9 else [])


def demo_measures(organisation, accounts) -> None:
    group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.organisation_id == organisation.id,
                                                         TherapyGroup.name == DEMO_GROUP))
    if group is None or db.session.scalar(select(MeasureSchedule.id).where(MeasureSchedule.group_id == group.id)
                                          .limit(1)):
        return
    now = utcnow()
    past = len(next(iter(TOTALS.values())))
    start = now - EVERY * past
    facilitator = group.facilitators[0].user
    people = {"alex": accounts["alex@example.org"], "sam": accounts["sam@example.org"]}
    schedules = {}
    for instrument in Instrument:
        schedules[instrument] = MeasureSchedule(organisation_id=organisation.id, group_id=group.id,
                                                instrument=instrument, frequency=Frequency.FORTNIGHTLY,
                                                starts_at=start, created_by_id=facilitator.id, created_at=start)
        db.session.add(schedules[instrument])
    db.session.flush()
    for (who, instrument), totals in TOTALS.items():
        for n, total in enumerate(totals):
            opens = start + EVERY * n
            measure = Measure(organisation_id=organisation.id, group_id=group.id, patient_id=people[who].id,
                              schedule_id=schedules[instrument].id, instrument=instrument, opens_at=opens,
                              closes_at=opens + timedelta(days=7), answers=[], created_at=opens)
            if total is None:
                measure.status = MeasureStatus.MISSED
            else:
                answered = opens + timedelta(days=1, hours=n % 3)
                measure.answers, measure.total = _answers(instrument, total), total
                measure.difficulty = 1
                measure.status, measure.started_at, measure.completed_at = MeasureStatus.DONE, answered, answered
            db.session.add(measure)
    db.session.flush()
    services.open_windows(now, schedules=list(schedules.values()))
