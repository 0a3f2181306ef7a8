"""Benchmark for SECURITY.md 11: a failed sign-in, and a password-reset request, take as long for an unknown address
as for a known account.

Runs in-process against the test configuration (in-memory SQLite, rate limits off), times 30 failed POST /login and
30 POST /password/forgot for a known account and as many for an unknown address, interleaved so that drift in machine
load hits both alike, prints the medians and their difference, and exits 1 if a difference is 10 ms or more.
A reset for a known account sends an email: it goes to a local mail relay that takes RELAY_DELAY to answer, as a real
one may. As a baseline measured in the same run, the same resets with the email sent before the answer show what
that delay would give away.

    .venv/bin/python bench/enumeration.py [--tries 30] [--threshold-ms 10]
"""

from __future__ import annotations

import argparse
import re
import socketserver
import statistics
import sys
import threading
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
RELAY_DELAY = 0.1


class SlowRelay(socketserver.StreamRequestHandler):
    """Just enough SMTP to take a message, answering the end of each one after RELAY_DELAY."""

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 relay ready")
        in_data = False
        for raw in self.rfile:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if in_data:
                if line == ".":
                    in_data = False
                    time.sleep(RELAY_DELAY)
                    self.reply("250 queued")
                continue
            verb = line[:4].upper()
            if verb == "DATA":
                in_data = True
                self.reply("354 go ahead")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


def start_relay() -> int:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SlowRelay)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def signed_form_token(client, path: str = "/login") -> str:
    page = client.get(path).text
    return re.search(r'name="csrf_token" type="hidden" value="([^"]*)"', page).group(1)


def timed_failed_login(client, token: str, email: str) -> float:
    start = time.perf_counter()
    response = client.post("/login", data={"csrf_token": token, "email": email, "password": WRONG})
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"expected a refused sign-in (200), got {response.status_code} for {email}")
    return elapsed


def timed_reset_request(client, email: str) -> float:
    token = signed_form_token(client, "/password/forgot")
    start = time.perf_counter()
    response = client.post("/password/forgot", data={"csrf_token": token, "email": email})
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"expected the reset page (200), got {response.status_code} for {email}")
    return elapsed


def compare(label: str, timed, tries: int, threshold_ms: float, *, judged: bool = True) -> bool:
    """Interleaved timings of `timed(email)` for the known and the unknown address; prints them and says whether
    their medians differ by less than the threshold."""
    for email in (KNOWN, UNKNOWN) * 2:  # warm up templates, the engine and argon2
        timed(email)
    times: dict[str, list[float]] = {KNOWN: [], UNKNOWN: []}
    for n in range(tries):
        for email in ((KNOWN, UNKNOWN) if n % 2 == 0 else (UNKNOWN, KNOWN)):
            times[email].append(timed(email))
    known_ms = statistics.median(times[KNOWN]) * 1000
    unknown_ms = statistics.median(times[UNKNOWN]) * 1000
    difference = abs(known_ms - unknown_ms)
    verdict = f"(must be under {threshold_ms:g} ms)" if judged else "(baseline, not judged)"
    print(f"{label}, median of {tries}: known account {known_ms:.1f} ms, unknown address {unknown_ms:.1f} ms, "
          f"difference {difference:.1f} ms {verdict}")
    return difference < threshold_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=30)
    parser.add_argument("--threshold-ms", type=float, default=10.0)
    args = parser.parse_args()

    relay_port = start_relay()
    app = create_app("test", SQLALCHEMY_DATABASE_URI="sqlite://", RATELIMIT_ENABLED=False, MAIL_SUPPRESS_SEND=False,
                     MAIL_SERVER="127.0.0.1", MAIL_PORT=relay_port, MAIL_SEND_IN_BACKGROUND=True)
    with app.app_context():
        db.create_all()
        organisation = services.create_organisation("Benchmark Clinic", "benchmark")
        services.create_account(KNOWN, PASSWORD, "Known", organisation, RoleName.PATIENT)
        db.session.commit()

    client = app.test_client()
    token = signed_form_token(client)
    ok = compare("failed sign-in", lambda email: timed_failed_login(client, token, email), args.tries,
                 args.threshold_ms)
    ok &= compare("password-reset request", lambda email: timed_reset_request(client, email), args.tries,
                  args.threshold_ms)
    app.config["MAIL_SEND_IN_BACKGROUND"] = False
    compare("password-reset request, email sent before the answer", lambda email: timed_reset_request(client, email),
            args.tries, args.threshold_ms, judged=False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
