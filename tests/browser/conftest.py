"""Browser fixtures: the demo served by a live server on a free port, Debian's Chromium driven by Playwright, axe-core.

One server and one browser for this package, closed before the rest of the suite runs; every test gets a fresh
browser context and the demo data as `flask demo` leaves it (the database is restored from a snapshot before each
test).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from werkzeug.serving import make_server

from app import create_app
from app.demo import DEMO_PASSWORD, load_demo
from app.extensions import db

from . import main_navigation

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ROOT = Path(__file__).resolve().parents[2]
AXE = "/__tests__/axe.min.js"
AXE_SOURCE = (Path(__file__).resolve().parent.parent / "vendor" / "axe-core" / "axe.min.js").read_bytes()


class ServerErrors(logging.Handler):
    """Keeps what the app logs at ERROR (an unhandled exception's traceback), to show it beside the failing test."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[str] = []
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@dataclass
class DemoServer:
    url: str
    app: Flask
    database: Path
    snapshot: Path
    errors: ServerErrors

    def restore(self) -> None:
        """Put the demo data back as it was after `flask demo`, through SQLite's backup API (safe with open pools)."""
        with closing(sqlite3.connect(self.snapshot)) as source, \
                closing(sqlite3.connect(self.database, timeout=30)) as target:
            source.backup(target)


def _compile_translations(directory: Path) -> Path:
    """Compile the catalogs into a scratch directory, as `make translations` would, without touching app/."""
    source = ROOT / "app" / "translations"
    for po_path in source.glob("*/LC_MESSAGES/messages.po"):
        language = po_path.parts[-3]
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=language)
        target = directory / language / "LC_MESSAGES"
        target.mkdir(parents=True)
        with (target / "messages.mo").open("wb") as mo_file:
            write_mo(mo_file, catalog)
    return directory


@pytest.fixture(scope="package")
def demo_server(tmp_path_factory) -> Iterator[DemoServer]:
    tmp = tmp_path_factory.mktemp("browser")
    database = tmp / "browser.db"
    # The URI is explicit so that a TEST_DATABASE_URL pointing at PostgreSQL never reaches the browser tests.
    app = create_app(
        "test",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}",
        RATELIMIT_ENABLED=False,
        BABEL_TRANSLATION_DIRECTORIES=str(_compile_translations(tmp / "translations")),
    )
    with app.app_context():
        db.create_all()
        load_demo()
        db.session.commit()
        db.session.remove()
    snapshot = tmp / "demo-snapshot.db"
    with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(snapshot)) as target:
        source.backup(target)
    errors = ServerErrors()
    app.logger.addHandler(errors)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"  # where the links in its emails must lead
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield DemoServer(f"http://127.0.0.1:{server.server_port}", app, database, snapshot, errors)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="package")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (it installs Debian's chromium with apt). "
                    "Do not run `playwright install`.", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def server(demo_server) -> Iterator[str]:
    """The live server's base URL, with the demo data fresh for this test; a server error fails the test."""
    demo_server.restore()
    demo_server.errors.records.clear()
    yield demo_server.url
    if demo_server.errors.records:
        pytest.fail("the server failed during this test:\n" + "\n\n".join(demo_server.errors.records), pytrace=False)


@pytest.fixture
def new_page(browser, server):
    """Open a page in a fresh browser context (no cookies shared with any other page)."""
    contexts = []

    def open_page(**context_options):
        context = browser.new_context(base_url=server, locale="en-GB", **context_options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def axe_violations(page) -> list[dict]:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # The page's CSP allows same-origin scripts only, and the app does not serve axe: the browser is handed the
        # tests' copy at a same-origin address that only this page's requests reach.
        page.route(f"**{AXE}", lambda route: route.fulfill(body=AXE_SOURCE, content_type="text/javascript"))
        page.add_script_tag(url=AXE)
    return page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")


def format_violations(url: str, violations: list[dict]) -> str:
    lines = [f"{len(violations)} axe violation(s) on {url}:"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            lines.append(f"    at {' '.join(map(str, node['target']))}: {node.get('failureSummary', '').strip()}")
            lines.append(f"       {node['html'][:200]}")
    return "\n".join(lines)


# Pages already checked in this run, by their markup without per-request values, the colour scheme and whether the
# phone layout applies: axe costs about half a second a page (mostly parsing axe itself), and sign-in pages and the
# like come round many times.
_checked_pages: set[str] = set()
_SIGNATURE = """() => (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark ' : 'light ')
    + (matchMedia('(max-width: 47.99rem)').matches ? 'phone ' : 'wide ')
    + document.documentElement.outerHTML
    .replace(/(value|nonce|datetime)="[^"]*"/g, '')
    .replace(/<code class="token">[^<]*<\\/code>/g, '')"""


@pytest.fixture
def assert_no_axe_violations():
    def check(page) -> None:
        page.wait_for_load_state()
        signature = hashlib.sha256(page.evaluate(_SIGNATURE).encode()).hexdigest()
        if signature in _checked_pages:
            return
        violations = axe_violations(page)
        message = format_violations(page.url, violations)
        if violations:
            print(message)
        assert not violations, message
        _checked_pages.add(signature)

    return check


@pytest.fixture
def assert_fits():
    """No horizontal scrolling at the page's viewport width (the tests use 320 px, WCAG 1.4.10 reflow)."""

    def check(page) -> None:
        page.wait_for_load_state()
        width = page.viewport_size["width"]
        scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
        if scroll_width > width:
            wide = page.evaluate(
                """(width) => [...document.querySelectorAll('body *')]
                     .filter(el => el.getBoundingClientRect().right > width + 0.5)
                     .slice(0, 8).map(el => el.outerHTML.slice(0, 160))""", width)
            pytest.fail(f"{page.url} scrolls sideways at {width} px (scrollWidth {scroll_width}); too wide:\n"
                        + "\n".join(wide))

    return check


@pytest.fixture
def visit(assert_no_axe_violations):
    """Go to a path, expect the status, and check the page with axe."""

    def go(page, path: str, status: int = 200):
        response = page.goto(path)
        assert response is not None and response.status == status, f"{path}: {response and response.status}"
        assert_no_axe_violations(page)
        return response

    return go


@pytest.fixture
def sign_in(assert_no_axe_violations):
    """Sign in through the form, check the sign-in page and the page it lands on with axe."""

    def do_sign_in(page, email: str, password: str = DEMO_PASSWORD) -> None:
        page.goto("/login")
        assert_no_axe_violations(page)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        with page.expect_navigation():
            page.get_by_role("main").get_by_role("button", name="Sign in").click()
        assert "/login" not in page.url, f"still on the sign-in page as {email}"
        assert_no_axe_violations(page)

    return do_sign_in


@pytest.fixture
def sign_out():
    def do_sign_out(page) -> None:
        with page.expect_navigation():
            main_navigation(page).get_by_role("button", name="Sign out").click()

    return do_sign_out


# ----------------------------------------------------------------------------------------------------------------------
# Shared by the groups, live-room and sharing tests (test_browser_groups.py, test_browser_room.py,
# test_browser_sharing.py): set-up steps run against the live server's database, and pages already signed in.
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def in_app(demo_server, server):
    """Run a function against the live server's database and commit: a one-off set-up step of a test.

    Depends on `server` so that the demo data is restored before the step, never after it.
    """

    def run(function):
        with demo_server.app.test_request_context():
            result = function()
            db.session.commit()
            db.session.remove()
        return result

    return run


@pytest.fixture
def signed_in(new_page, sign_in):
    """A page in a fresh browser context, signed in as `email` through the form (both pages checked with axe)."""

    def open_signed_in(email: str, password: str = DEMO_PASSWORD, **context_options):
        page = new_page(**context_options)
        sign_in(page, email, password)
        return page

    return open_signed_in
