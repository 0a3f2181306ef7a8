"""The measure charts in Chromium: Alex's "My measures" at 375 and 1280 px, and the facilitator's page about Alex.
Chart.js runs under the strict CSP (no console errors, no CSP violations), the canvases are drawn (non-empty pixels),
every page passes axe and fits its width."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from app.accounts.models import User
from app.extensions import db
from app.groups.models import Attendance, AttendanceStatus, Membership, SessionOccurrence
from app.measures.instruments import Instrument
from app.measures.models import Frequency, Measure, MeasureSchedule, MeasureStatus
from app.models_base import utcnow
from app.progress.models import SmallWin
from app.rooms.models import CheckIn

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
WIDE = {"width": 1280, "height": 900}
PHQ9 = [17, 15, 12, 10, 8]
GAD7 = [11, 9, 6]

# Counts the canvas pixels that are not fully transparent: a drawn chart has thousands.
DRAWN_PIXELS = """(canvas) => {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let drawn = 0;
    for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) { drawn += 1; } }
    return drawn;
}"""


def _alex_history() -> tuple[int, int]:
    """Alex's scores, mood check-ins, a session attended and a small win in the demo group; (membership, group)."""
    alex = db.session.scalar(select(User).where(User.email == "alex@example.org"))
    membership = db.session.scalar(select(Membership).where(Membership.user_id == alex.id))
    group = membership.group
    now = utcnow()
    db.session.execute(delete(Measure).where(Measure.patient_id == alex.id))  # the demo's own history, replaced
    for instrument, totals in ((Instrument.PHQ9, PHQ9), (Instrument.GAD7, GAD7)):
        schedule = MeasureSchedule(
            organisation_id=group.organisation_id,
            group_id=group.id,
            patient_id=alex.id,
            instrument=instrument,
            frequency=Frequency.FORTNIGHTLY,
            starts_at=now - timedelta(days=90),
        )
        db.session.add(schedule)
        db.session.flush()
        for index, total in enumerate(totals):
            when = now - timedelta(days=14 * (len(totals) - index))
            db.session.add(
                Measure(
                    organisation_id=group.organisation_id,
                    group_id=group.id,
                    patient_id=alex.id,
                    schedule_id=schedule.id,
                    instrument=instrument,
                    opens_at=when,
                    closes_at=when + timedelta(days=7),
                    status=MeasureStatus.DONE,
                    answers=[],
                    total=total,
                    completed_at=when + timedelta(hours=2),
                )
            )
    for day, mood in enumerate([3, 4, 4, 5, 6, 5, 7]):
        db.session.add(
            CheckIn(user_id=alex.id, mood=mood, client_id=f"chart-{day}", created_at=now - timedelta(days=30 - 4 * day))
        )
    session = SessionOccurrence(group_id=group.id, starts_at=now - timedelta(days=12), duration_minutes=90)
    db.session.add(session)
    db.session.flush()
    db.session.add(Attendance(occurrence_id=session.id, user_id=alex.id, status=AttendanceStatus.PRESENT_ONLINE))
    db.session.add(SmallWin(patient_id=alex.id, text="Walked to the bakery", created_at=now - timedelta(days=10)))
    return membership.id, group.id


def _watch_console(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def _assert_charts_drawn(page, count: int) -> None:
    canvases = page.locator("canvas.measure-chart")
    expect(canvases).to_have_count(count)
    for index in range(count):
        canvas = canvases.nth(index)
        expect(canvas).to_be_visible()
        assert canvas.evaluate(DRAWN_PIXELS) > 500, f"chart {index} is empty"


@pytest.mark.parametrize("viewport", [PHONE, WIDE], ids=["375px", "1280px"])
def test_alex_sees_his_measures_drawn_under_the_strict_csp(in_app, signed_in, visit, assert_fits, viewport):
    in_app(_alex_history)
    alex = signed_in("alex@example.org", viewport=viewport)
    problems = _watch_console(alex)
    visit(alex, "/measures")
    expect(alex.get_by_role("heading", level=1)).to_have_text("My measures")
    _assert_charts_drawn(alex, 3)  # PHQ-9, GAD-7, mood
    summary = re.compile(r"^PHQ-9: 5 scores from .+ the first was 17 \(Moderately severe\), the latest 8 \(Mild\)")
    expect(alex.locator("canvas.measure-chart").first).to_have_attribute("aria-label", summary)
    expect(alex.get_by_role("table").first).to_contain_text("Moderately severe")
    assert_fits(alex)
    assert problems == [], problems


def test_the_facilitator_sees_alex_s_page_from_the_group(in_app, signed_in, visit, assert_fits):
    membership_id, group_id = in_app(_alex_history)
    staff = signed_in("facilitator@example.org", viewport=WIDE)
    problems = _watch_console(staff)
    visit(staff, f"/groups/{group_id}")
    with staff.expect_navigation():
        staff.get_by_role("link", name="Measures and mood of Alex").click()
    assert staff.url.endswith(f"/groups/{group_id}/members/{membership_id}")
    visit(staff, f"/groups/{group_id}/members/{membership_id}")
    _assert_charts_drawn(staff, 3)
    expect(staff.get_by_role("main")).not_to_contain_text("Walked to the bakery")
    assert_fits(staff)
    assert problems == [], problems
