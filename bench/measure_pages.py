"""Benchmark for the measures pages: the facilitator's member page and a group's outcomes page, with 1 year and with
10 years of weekly PHQ-9 and GAD-7 history (and a mood check-in a week) for every member of a group of 8.

Runs in-process against the test configuration, on a SQLite file, one database per size. Each page is fetched REPEAT
times per size, the two sizes interleaved so that drift in machine load hits both alike. Prints, per page, the SQL
statement count at each size (they must be equal: a page must not query once per score) and the p50 and p95 times
with the ratio 10 years / 1 year, and exits 1 if a statement count differs.

    .venv/bin/python bench/measure_pages.py [--repeat 40] [--members 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from app import create_app  # noqa: E402
from app.accounts import services as accounts  # noqa: E402
from app.accounts.models import RoleName, User  # noqa: E402
from app.extensions import db  # noqa: E402
from app.groups import services as groups  # noqa: E402
from app.groups.models import Membership, MembershipStatus  # noqa: E402
from app.measures.instruments import Instrument  # noqa: E402
from app.measures.models import Frequency, Measure, MeasureSchedule, MeasureStatus  # noqa: E402
from app.rooms.models import CheckIn  # noqa: E402

PASSWORD = "a bench password that is long enough"
ITEMS = {Instrument.PHQ9: 9, Instrument.GAD7: 7}


def build(years: int, members: int, path: Path):
    app = create_app("test", SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", RATELIMIT_ENABLED=False,
                     WTF_CSRF_ENABLED=False)
    with app.app_context():
        db.create_all()
        organisation = accounts.create_organisation("Bench clinic", f"bench-{years}")
        facilitator = accounts.create_account("f@example.org", PASSWORD, "Facilitator", organisation,
                                              RoleName.FACILITATOR)
        group = groups.create_group(facilitator, {
            "name": "Bench group", "description": "", "focus": "", "format": "online",
            "video_link": "https://video.example.org/x", "location": "", "capacity": members + 2,
            "enrolment": "rolling", "status": "active", "timezone": "Europe/Berlin"})
        now = datetime.now(timezone.utc)
        start = now - timedelta(weeks=52 * years)
        schedules = {}
        for instrument in Instrument:
            schedules[instrument] = MeasureSchedule(organisation_id=organisation.id, group_id=group.id,
                                                    instrument=instrument, frequency=Frequency.WEEKLY,
                                                    starts_at=start, created_by_id=facilitator.id)
            db.session.add(schedules[instrument])
        db.session.flush()
        patient_ids = []
        for n in range(members):
            patient = accounts.create_account(f"m{n}@example.org", PASSWORD, f"Member {n}", organisation,
                                              RoleName.PATIENT)
            membership = Membership(group_id=group.id, user_id=patient.id, status=MembershipStatus.ACTIVE,
                                    joined_at=start)
            db.session.add(membership)
            db.session.flush()
            patient_ids.append(membership.id)
            rows = []
            for week in range(52 * years):
                opens = start + timedelta(weeks=week)
                for instrument in Instrument:
                    score = (week + n) % 3
                    rows.append(dict(organisation_id=organisation.id, group_id=group.id, patient_id=patient.id,
                                     schedule_id=schedules[instrument].id, instrument=instrument, opens_at=opens,
                                     closes_at=opens + timedelta(days=7), status=MeasureStatus.DONE,
                                     answers=[score] * ITEMS[instrument], total=score * ITEMS[instrument],
                                     started_at=opens, completed_at=opens + timedelta(hours=2), created_at=opens))
                db.session.add(CheckIn(user_id=patient.id, mood=4 + (week + n) % 5, client_id=f"b-{n}-{week}",
                                       created_at=opens + timedelta(days=2)))
            db.session.execute(db.insert(Measure), rows)
        db.session.commit()
        return app, facilitator.id, group.id, patient_ids[0]  # the first member's membership


def signed_in(app, user_id: int):
    """A client with a real sign-in session of the user."""
    client = app.test_client()
    with app.test_request_context():
        token = accounts.start_login_session(db.session.get(User, user_id), "bench")
        db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True
    return client


def statements(app, client, url: str) -> int:
    count = 0

    def counted(*_args, **_kwargs):
        nonlocal count
        count += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        response = client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    assert response.status_code == 200, (url, response.status_code)
    return count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--members", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sizes = {}
        for years in (1, 10):
            app, facilitator_id, group_id, membership_id = build(years, args.members, Path(folder) / f"{years}.db")
            client = signed_in(app, facilitator_id)
            pages = {"member page": f"/groups/{group_id}/members/{membership_id}",
                     "group outcomes": f"/groups/{group_id}/outcomes"}
            sizes[years] = (app, client, pages)
        failed = False
        for page in sizes[1][2]:
            counts = {years: statements(app, client, pages[page]) for years, (app, client, pages) in sizes.items()}
            times = {1: [], 10: []}
            for _ in range(args.repeat):
                for years, (_app, client, pages) in sizes.items():
                    started = time.perf_counter()
                    client.get(pages[page])
                    times[years].append(time.perf_counter() - started)
            p50 = {y: statistics.median(t) * 1000 for y, t in times.items()}
            p95 = {y: statistics.quantiles(t, n=20)[18] * 1000 for y, t in times.items()}
            print(f"{page}: statements {counts[1]} (1 year) / {counts[10]} (10 years); "
                  f"p50 {p50[1]:.1f} / {p50[10]:.1f} ms; p95 {p95[1]:.1f} / {p95[10]:.1f} ms; "
                  f"p95 ratio 10 years / 1 year {p95[10] / p95[1]:.2f}")
            failed |= counts[1] != counts[10]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
