"""Benchmark for SECURITY.md 11: a failed sign-in takes as long for an unknown address as for a known account.

Runs in-process against the test configuration (in-memory SQLite, rate limits off), times 30 failed POST /login
for a known account and 30 for an unknown address, interleaved so that drift in machine load hits both alike,
prints both medians and their difference, and exits 1 if the difference is 10 ms or more.

    .venv/bin/python bench/enumeration.py [--tries 30] [--threshold-ms 10]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from app.accounts import services  # noqa: E402
from app.accounts.models import RoleName  # noqa: E402
from app.extensions import db  # noqa: E402

KNOWN = "known@example.org"
UNKNOWN = "unknown@example.org"
PASSWORD = "the account's real password"
WRONG = "a wrong password guess"


def signed_form_token(client) -> str:
    page = client.get("/login").text
    return re.search(r'name="csrf_token" type="hidden" value="([^"]*)"', page).group(1)


def timed_failed_login(client, token: str, email: str) -> float:
    start = time.perf_counter()
    response = client.post("/login", data={"csrf_token": token, "email": email, "password": WRONG})
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"expected a refused sign-in (200), got {response.status_code} for {email}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=30)
    parser.add_argument("--threshold-ms", type=float, default=10.0)
    args = parser.parse_args()

    app = create_app("test", SQLALCHEMY_DATABASE_URI="sqlite://", RATELIMIT_ENABLED=False)
    with app.app_context():
        db.create_all()
        organisation = services.create_organisation("Benchmark Clinic", "benchmark")
        services.create_account(KNOWN, PASSWORD, "Known", organisation, RoleName.PATIENT)
        db.session.commit()

    client = app.test_client()
    token = signed_form_token(client)
    for email in (KNOWN, UNKNOWN) * 2:  # warm up templates, the engine and argon2
        timed_failed_login(client, token, email)

    times: dict[str, list[float]] = {KNOWN: [], UNKNOWN: []}
    for n in range(args.tries):
        order = (KNOWN, UNKNOWN) if n % 2 == 0 else (UNKNOWN, KNOWN)
        for email in order:
            times[email].append(timed_failed_login(client, token, email))

    known_ms = statistics.median(times[KNOWN]) * 1000
    unknown_ms = statistics.median(times[UNKNOWN]) * 1000
    difference = abs(known_ms - unknown_ms)
    print(f"failed sign-in, median of {args.tries}: known account {known_ms:.1f} ms, "
          f"unknown address {unknown_ms:.1f} ms, difference {difference:.1f} ms "
          f"(must be under {args.threshold_ms:g} ms)")
    return 0 if difference < args.threshold_ms else 1


if __name__ == "__main__":
    sys.exit(main())
