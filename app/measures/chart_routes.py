"""Pages with charts: the member's own "My measures" (scores, change, mood with sessions and small wins) and a group
facilitator's page about one member of the group."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.routing import BuildError

from app import policy
from app.extensions import db
from app.groups import labels as group_labels
from app.groups import queries as group_queries
from app.groups import services as group_services
from app.groups.models import Attendance, Membership, TherapyGroup
from app.measures import bp, queries, trends
from app.measures.instruments import definition
from app.models_base import utcnow


def answer_url(measure) -> str:
    """Where a due measure is answered (the answer pages are their own module; until they are registered the address
    is built by hand, the same one)."""
    try:
        return url_for("measures.answer", measure_id=measure.id)
    except BuildError:
        return f"/measures/{measure.id}"


def measure_code(measure) -> str:
    return definition(measure.instrument).code


def _mood(patient_id: int, *, group_id: int | None = None, with_wins: bool) -> dict:
    now = utcnow()
    since = now - trends.MOOD_PERIOD
    return trends.mood_trend(
        trends.mood_checkins(patient_id, since, group_id=group_id),
        trends.sessions_attended(patient_id, since, group_id=group_id),
        trends.small_wins(patient_id, since) if with_wins else [],
        zone=ZoneInfo(current_user.zone),
        since=since,
        now=now,
    )


@bp.get("/measures")
@login_required
def mine():
    policy.require_keep_measures(current_user)
    return render_template(
        "measures/mine.html",
        due=queries.due_for(current_user.id),
        paused=queries.current_pause(current_user.id),
        trends=trends.instrument_trends(trends.done_measures(current_user.id)),
        mood=_mood(current_user.id, with_wins=True),
        answer_url=answer_url,
        measure_code=measure_code,
        table_shown=trends.TABLE_SHOWN,
    )


def _attendance(group: TherapyGroup, membership: Membership, last: int = 12) -> list[tuple]:
    """The group's last sessions since the member joined, each with what was recorded for the member (or None)."""
    sessions = [
        s
        for s in group_queries.past_sessions(group, last)
        if membership.joined_at is None or s.ends_at >= membership.joined_at
    ]
    records = {}
    if sessions:
        records = {
            a.occurrence_id: a
            for a in db.session.scalars(
                select(Attendance).where(
                    Attendance.user_id == membership.user_id, Attendance.occurrence_id.in_([s.id for s in sessions])
                )
            )
        }
    return [(s, records.get(s.id)) for s in reversed(sessions)]


@bp.get("/groups/<int:group_id>/members/<int:membership_id>")
@login_required
def member(group_id: int, membership_id: int):
    """One member as the group's facilitators see them: questionnaires and mood over time, attendance, and their
    safety alerts. Goals and small wins are private to the member and are not shown. The read is audited."""
    group = group_queries.group_in_organisation(group_id, current_user.organisation_id) or policy.hidden(
        TherapyGroup, group_id
    )
    membership = group_queries.membership_in_group(membership_id, group)
    policy.require_view_member_page(current_user, group, membership)
    patient_id = membership.user_id
    group_services.record_facilitator_read(
        current_user, "member_page_read", target=f"group:{group.id}", member_ids=[patient_id]
    )
    attendance = _attendance(group, membership)
    return render_template(
        "measures/member.html",
        group=group,
        membership=membership,
        due=queries.due_for(patient_id),
        paused=queries.current_pause(patient_id),
        trends=trends.instrument_trends(trends.done_measures(patient_id, group_id=group.id)),
        mood=_mood(patient_id, group_id=group.id, with_wins=False),
        attendance=attendance,
        attendance_label=group_labels.label,
        alerts=trends.member_alerts(patient_id, group.id),
        notes_url=url_for("groups.member_notes", group_id=group.id, membership_id=membership.id)
        if policy.can_read_facilitator_notes(current_user, group)
        else None,
        measure_code=measure_code,
        table_shown=trends.TABLE_SHOWN,
    )
