"""The facilitator's measures pages for a group: its questionnaire schedules (add one, stop one), who is due, done and
missed in the latest windows, who paused their measures, and the group's outcomes per questionnaire."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import format_decimal, format_percent, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import audit, policy
from app.accounts.forms import EmptyForm
from app.groups import queries as group_queries
from app.groups import services as group_services
from app.groups.models import MembershipStatus, TherapyGroup
from app.measures import bp, queries, services
from app.measures.change import (
    CASENESS_CUTOFF,
    RCI_CRITICAL,
    RELIABILITY,
    RELIABLE_CHANGE_POINTS,
    STANDARD_DEVIATION,
)
from app.measures.instruments import Instrument, definition
from app.measures.labels import frequency_label, severity_label, staff_status_label
from app.measures.models import MeasureSchedule, MeasureStatus
from app.measures.queries import OUTCOME_MINIMUM, GroupOutcome
from app.measures.scoring import severity
from app.measures.staff_forms import WHOLE_GROUP, ScheduleMeasureForm
from app.models_base import utcnow
from app.web import flash_refusal, show_error
from app.zones import zone_labels


@bp.app_context_processor
def staff_measure_helpers():
    return {
        "frequency_label": frequency_label,
        "staff_status_label": staff_status_label,
        "instrument_code": lambda instrument: definition(instrument).code,
        "member_page_url": member_page_url,
    }


def member_page_url(group_id: int, membership_id: int | None) -> str | None:
    """The facilitator's page of one member of the group (None for someone no longer in it)."""
    if membership_id is None:
        return None
    return url_for("measures.member", group_id=group_id, membership_id=membership_id)


def _facilitated_group(group_id: int, require=policy.require_schedule_measures) -> TherapyGroup:
    group = group_queries.group_in_organisation(group_id, current_user.organisation_id)
    if group is None:
        policy.hidden(TherapyGroup, group_id)
    require(current_user, group)
    return group


# Schedules, and who is due, done and missed -------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowRow:
    """One member's latest window on one schedule, as the facilitator reads it."""

    patient_id: int
    name: str
    instrument: Instrument
    opens_at: datetime
    closes_at: datetime
    status: MeasureStatus
    total: int | None
    band: str | None
    #: The member's first row in the table, where a flag about the member as a whole goes.
    first_of_member: bool = False


def _schedule_form(members) -> ScheduleMeasureForm:
    """Its date and time are read in the facilitator's own zone, as the page says; it offers now, so that one press
    opens the first questionnaire at once (what was sent replaces it on a POST)."""
    zone = current_user.zone
    local_now = utcnow().astimezone(ZoneInfo(zone)).replace(second=0, microsecond=0, tzinfo=None)
    return ScheduleMeasureForm(
        members=members, zone=zone, today=local_now.date(), start_date=local_now.date(), start_time=local_now.time()
    )


def _measures_page(group: TherapyGroup, form: ScheduleMeasureForm | None = None, status: int = 200):
    now = utcnow()
    memberships = group_queries.memberships_with_intake(group)
    names = {m.user_id: m.shown_name for m in memberships}
    active = sorted(
        (m for m in memberships if m.status == MembershipStatus.ACTIVE), key=lambda m: m.shown_name.casefold()
    )
    recent = queries.recent_of_group(group)
    rows = []
    for measure in queries.latest_windows(recent):
        shown = queries.shown_status(measure, now)
        done = shown == MeasureStatus.DONE and measure.total is not None
        rows.append(
            WindowRow(
                measure.patient_id,
                names.get(measure.patient_id, _("A former member")),
                measure.instrument,
                measure.opens_at,
                measure.closes_at,
                shown,
                measure.total if done else None,
                severity_label(severity(measure.instrument, measure.total)) if done else None,
            )
        )
    rows.sort(key=lambda row: (row.name.casefold(), row.patient_id, row.instrument.value, row.opens_at))
    rows = [
        replace(row, first_of_member=index == 0 or rows[index - 1].patient_id != row.patient_id)
        for index, row in enumerate(rows)
    ]
    group_services.record_facilitator_read(
        current_user, "group_measures_read", target=f"group:{group.id}", member_ids=[row.patient_id for row in rows]
    )
    return render_template(
        "measures/group_measures.html",
        group=group,
        schedules=queries.schedules_of_group(group),
        names=names,
        membership_ids={m.user_id: m.id for m in memberships},
        rows=rows,
        missed_twice=queries.missed_twice_in_a_row(recent, now),
        active=active,
        pauses=queries.pauses_of(m.user_id for m in active),
        form=form or _schedule_form(active),
        counts={
            s: sum(1 for row in rows if row.status == s)
            for s in (MeasureStatus.DUE, MeasureStatus.DONE, MeasureStatus.MISSED)
        },
        zone_label=zone_labels(get_locale().language if get_locale() else "en").get(
            current_user.zone, current_user.zone
        ),
    ), status


@bp.get("/groups/<int:group_id>/measures")
@login_required
def group_measures(group_id: int):
    return _measures_page(_facilitated_group(group_id))


@bp.post("/groups/<int:group_id>/measures")
@login_required
def add_schedule(group_id: int):
    group = _facilitated_group(group_id)
    form = _schedule_form(group_queries.active_members(group))
    if form.validate_on_submit():
        whom = form.patient_id.data
        try:
            services.create_schedule(
                current_user,
                group,
                instrument=form.instrument.data,
                frequency=form.frequency.data,
                starts_at=form.starts_at,
                patient_id=None if whom == WHOLE_GROUP else whom,
            )
        except services.MeasureRefused as error:
            show_error(form, error)
        else:
            flash(_("The questionnaire is scheduled."), "info")
            return redirect(url_for("measures.group_measures", group_id=group.id))
    return _measures_page(group, form=form, status=422)


@bp.post("/groups/<int:group_id>/measures/schedules/<int:schedule_id>/stop")
@login_required
def stop_schedule(group_id: int, schedule_id: int):
    group = _facilitated_group(group_id)
    schedule = queries.schedule_in_group(schedule_id, group)
    if schedule is None:
        policy.hidden(MeasureSchedule, schedule_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.stop_schedule(current_user, schedule)
    except services.MeasureRefused as error:
        flash_refusal(error)
    else:
        flash(_("The schedule is stopped. Nothing more will be asked from it."), "info")
    return redirect(url_for("measures.group_measures", group_id=group.id))


# Outcomes -------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeFigure:
    """One figure of a group's outcomes: its value as shown (None when hidden), how many members it stands on, why it
    is hidden, and how it is measured."""

    label: str
    value: str | None
    behind: int | None
    how: str
    hidden_because: str | None = None


def _how_measured(instrument: Instrument) -> dict[str, str]:
    """Plain words for each figure, with the thresholds, r and SD of app/measures/change.py."""
    points, cutoff = RELIABLE_CHANGE_POINTS[instrument], CASENESS_CUTOFF[instrument]
    r, sd = f"{RELIABILITY[instrument]:.2f}", f"{STANDARD_DEVIATION[instrument]:.1f}"
    critical = f"{RCI_CRITICAL:.2f}"
    reliable = _(
        "With the questionnaire's test-retest reliability (r = %(r)s) and the spread of scores (standard "
        "deviation %(sd)s), a change of %(points)d points is beyond what measurement error alone would give "
        "(Reliable Change Index beyond %(critical)s, the 95%% level).",
        r=r,
        sd=sd,
        points=points,
        critical=critical,
    )
    return {
        "measured": _(
            "Members with at least two scores on this questionnaire in this group. Each member's change "
            "runs from their first score in the group to their latest."
        ),
        "mean_change": _(
            "The average, over those members, of the latest score minus the first. A negative number "
            "means fewer symptoms."
        ),
        "reliably_improved": _(
            "The share of those members whose score fell by %(points)d points or more, what NHS "
            "Talking Therapies counts as reliable improvement.",
            points=points,
        )
        + " "
        + reliable,
        "recovered": _(
            "Of the members whose first score was %(cutoff)d or more (the level at which services usually "
            "offer treatment, called caseness), the share whose latest score is below %(cutoff)d.",
            cutoff=cutoff,
        ),
        "reliably_deteriorated": _(
            "The share of those members whose score rose by %(points)d points or more, what "
            "NHS Talking Therapies counts as reliable deterioration.",
            points=points,
        )
        + " "
        + reliable,
    }


def _percent(value: float | None) -> str | None:
    return format_percent(value / 100) if value is not None else None


def outcome_figures(outcome: GroupOutcome) -> list[OutcomeFigure]:
    how = _how_measured(outcome.instrument)
    too_few = _("Shown once at least %(n)d members have two scores.", n=OUTCOME_MINIMUM)
    behind = outcome.measured if outcome.shown else None
    figures = [OutcomeFigure(_("Members measured"), str(outcome.measured), outcome.measured, how["measured"])]
    if not outcome.shown:
        return figures + [
            OutcomeFigure(label, None, None, how[key], too_few)
            for key, label in (
                ("mean_change", _("Mean change")),
                ("reliably_improved", _("Reliably improved")),
                ("recovered", _("Recovered")),
                ("reliably_deteriorated", _("Reliably deteriorated")),
            )
        ]
    few_cases = _(
        "Shown once at least %(n)d members started at %(cutoff)d or more.",
        n=OUTCOME_MINIMUM,
        cutoff=CASENESS_CUTOFF[outcome.instrument],
    )
    recovered_shown = outcome.recovered is not None
    return figures + [
        OutcomeFigure(
            _("Mean change"),
            _("%(change)s points", change=format_decimal(outcome.mean_change, format="+0.0;-0.0")),
            behind,
            how["mean_change"],
        ),
        OutcomeFigure(_("Reliably improved"), _percent(outcome.reliably_improved), behind, how["reliably_improved"]),
        OutcomeFigure(
            _("Recovered"),
            _percent(outcome.recovered),
            outcome.at_caseness if recovered_shown else None,
            how["recovered"],
            None if recovered_shown else few_cases,
        ),
        OutcomeFigure(
            _("Reliably deteriorated"), _percent(outcome.reliably_deteriorated), behind, how["reliably_deteriorated"]
        ),
    ]


@bp.get("/groups/<int:group_id>/outcomes")
@login_required
def group_outcomes(group_id: int):
    group = _facilitated_group(group_id, require=policy.require_view_group_outcomes)
    outcomes = queries.group_outcomes(group)
    audit.record(
        "group_outcomes_read",
        actor=current_user,
        target=f"group:{group.id}",
        organisation_id=group.organisation_id,
        details={"measured": {o.instrument.value: o.measured for o in outcomes}},
    )
    return render_template(
        "measures/group_outcomes.html",
        group=group,
        minimum=OUTCOME_MINIMUM,
        outcomes=[(o, definition(o.instrument), outcome_figures(o)) for o in outcomes],
    )
