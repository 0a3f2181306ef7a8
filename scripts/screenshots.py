"""Every page as each demo account sees it, on a phone (375 x 740) and a laptop (1280 x 800): `make screenshots`.

Serves the demo on a free port with a fresh database in a temporary directory, signs in through the sign-in form as
each demo account (and looks at the signed-out pages), and saves each page whole as
screenshots/<role>/<page>-<width>.png. Exits 1 if a page does not answer 200.

    python scripts/screenshots.py [--roles facilitator member] [--out screenshots]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import threading
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from app import create_app  # noqa: E402
from app.accounts.models import User  # noqa: E402
from app.demo import DEMO_PASSWORD, load_demo  # noqa: E402
from app.extensions import db  # noqa: E402
from app.groups.demo import DEMO_GROUP  # noqa: E402
from app.groups.models import Membership, SessionOccurrence, TherapyGroup  # noqa: E402
from app.models_base import utcnow  # noqa: E402
from app.progress.models import Goal  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SIZES = [(375, 740), (1280, 800)]
#: Who signs in for each role (see the README's demo accounts); None looks at the pages before signing in.
ACCOUNTS = {"visitor": None, "admin": "admin@example.org", "facilitator": "facilitator@example.org",
            "member": "alex@example.org", "supporter": "jordan@example.org"}


def demo_ids() -> dict:
    """The ids the demo's pages need: its group, the session on now and the last one before it, Alex, Alex's
    membership and first goal."""
    group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP))
    alex = db.session.scalar(select(User).where(User.email == "alex@example.org"))
    now = utcnow()
    sessions = list(db.session.scalars(select(SessionOccurrence).where(SessionOccurrence.group_id == group.id)
                                       .order_by(SessionOccurrence.starts_at)))
    on_now = next(o for o in sessions if o.starts_at <= now < o.ends_at)
    before = [o for o in sessions if o.ends_at <= now][-1]
    membership = db.session.scalar(select(Membership).where(Membership.group_id == group.id,
                                                            Membership.user_id == alex.id))
    goal = db.session.scalar(select(Goal).where(Goal.patient_id == alex.id).order_by(Goal.id))
    return {"group": group.id, "on_now": on_now.id, "before": before.id, "alex": alex.id,
            "membership": membership.id, "goal": goal.id}


def pages(ids: dict) -> dict[str, list[tuple[str, str]]]:
    """Each role's pages: (name, path)."""
    own = [("profile", "/profile"), ("password", "/profile/password"), ("security", "/profile/security"),
           ("crisis", "/crisis")]
    group, on_now, before = ids["group"], ids["on_now"], ids["before"]
    return {
        "visitor": [("sign-in", "/login"), ("forgot-password", "/password/forgot"), ("crisis", "/crisis")],
        "admin": [("home", "/"), ("people", "/admin/people"), ("organisation", "/admin/organisation"),
                  ("crisis-resources", "/admin/crisis-resources"), ("audit", "/admin/audit"), *own],
        "facilitator": [
            ("home", "/"), ("groups", "/groups"), ("group", f"/groups/{group}"),
            ("group-edit", f"/groups/{group}/edit"), ("group-new", "/groups/new"),
            ("schedule", f"/groups/{group}/schedule"),
            ("group-measures", f"/groups/{group}/measures"), ("group-outcomes", f"/groups/{group}/outcomes"),
            ("member-page", f"/groups/{group}/members/{ids['membership']}"),
            ("session", f"/sessions/{on_now}"), ("room", f"/sessions/{on_now}/room"),
            ("attendance", f"/sessions/{before}/attendance"), ("session-notes", f"/sessions/{before}/notes"),
            ("member-notes", f"/groups/{group}/members/{ids['membership']}/notes"),
            ("member-supporters", f"/patients/{ids['alex']}/supporters"), ("calendar", "/calendar"), *own],
        "member": [
            ("home", "/"), ("groups", "/groups"), ("group", f"/groups/{group}"), ("session", f"/sessions/{on_now}"),
            ("room", f"/sessions/{on_now}/room"), ("checkins", "/checkins"), ("goals", "/goals"),
            ("measures", "/measures"), ("goal", f"/goals/{ids['goal']}"), ("sharing", "/sharing"),
            ("calendar", "/calendar"), *own],
        "supporter": [("home", "/"), ("shared", f"/shared/{ids['alex']}"), *own],
    }


def serve(directory: Path):
    """The demo app with a fresh SQLite database in `directory`, served on a free port in a thread."""
    app = create_app("development", SQLALCHEMY_DATABASE_URI=f"sqlite:///{directory / 'screenshots.db'}",
                     RATELIMIT_ENABLED=False, REDIS_URL="", SECOND_FACTOR_FOR_STAFF=False)
    with app.app_context():
        db.create_all()
        load_demo()
        db.session.commit()
        ids = demo_ids()
        db.session.remove()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would bury the file names
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="screenshots-server", daemon=True)
    thread.start()
    return app, server, thread, ids


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("main").get_by_role("button", name="Sign in").click()
    if "/login" in page.url:
        raise SystemExit(f"could not sign in as {email}")


def shoot(browser, base_url: str, role: str, email: str | None, role_pages, out: Path) -> list[str]:
    """Every page of one role at each size; what went wrong, if anything."""
    problems = []
    context = browser.new_context(base_url=base_url, locale="en-GB", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    with closing(context):
        if email:
            sign_in(page, email)
        (out / role).mkdir(parents=True, exist_ok=True)
        for name, path in role_pages:
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                response = page.goto(path)
                page.wait_for_load_state("load")
                page.wait_for_timeout(300)  # live pages fill in from their socket
                status = response.status if response else None
                if status != 200:
                    problems.append(f"{role} {path}: {status}")
                target = out / role / f"{name}-{width}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target, flush=True)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", nargs="*", choices=list(ACCOUNTS), default=list(ACCOUNTS))
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"{CHROMIUM} is missing: `make chromium` installs it.")
    from playwright.sync_api import sync_playwright

    out = args.out.resolve()
    with tempfile.TemporaryDirectory(prefix="momentum-screenshots-") as scratch:
        app, server, thread, ids = serve(Path(scratch))
        base_url = app.config["BASE_URL"]
        problems = []
        try:
            for role in args.roles:
                shutil.rmtree(out / role, ignore_errors=True)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                try:
                    every = pages(ids)
                    for role in args.roles:
                        problems += shoot(browser, base_url, role, ACCOUNTS[role], every[role], out)
                finally:
                    browser.close()
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
            with app.app_context():
                db.engine.dispose()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"Screenshots in {out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
