"""The supporter's open page when sharing stops, with the supporter on one app process and the member on another
(issue 11): the page empties itself and says it is no longer shared, without a reload, because the server tells it
through the Socket.IO message queue on Redis before it takes the page's socket out of the room.

Two tests/serve_app.py processes serve the demo from one SQLite file and share Redis (TEST_REDIS_URL, as in
tests/test_rooms_scale.py), each run on a Socket.IO channel of its own.
"""

from __future__ import annotations

import os
import uuid
from contextlib import closing

import pytest
from app_processes import AppProcess
from playwright.sync_api import expect
from sqlalchemy import select

from app import create_app
from app.accounts.models import User
from app.demo import DEMO_PASSWORD, load_demo
from app.extensions import db

from . import NARROW

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"),
                                 reason="needs Redis: set TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15)")]

SECRET_KEY = "live-sharing-test-secret-key"
AUDIT_KEY = "live-sharing-test-audit-key"
ENDED = "This is no longer shared with you. Access has ended."


@pytest.fixture
def two_processes(tmp_path):
    """The demo in a SQLite file, served by two app processes that share Redis; Alex's id."""
    uri = f"sqlite:///{tmp_path / 'live.db'}"
    setup = create_app("development", SQLALCHEMY_DATABASE_URI=uri, REDIS_URL="", SECRET_KEY=SECRET_KEY,
                       AUDIT_KEY=AUDIT_KEY, RATELIMIT_STORAGE_URI="memory://")
    with setup.app_context():
        db.create_all()
        load_demo()
        db.session.commit()
        alex_id = db.session.scalar(select(User.id).where(User.email == "alex@example.org"))
        db.session.remove()
        db.engine.dispose()
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "FLASK_DEBUG", "DEBUG")}
    env.update(MOMENTUM_ENV="development", DATABASE_URL=uri, SECRET_KEY=SECRET_KEY, AUDIT_KEY=AUDIT_KEY,
               MAIL_SUPPRESS_SEND="1", PYTHONUNBUFFERED="1", REDIS_URL=os.environ["TEST_REDIS_URL"],
               SOCKETIO_CHANNEL=f"momentum-test-{uuid.uuid4().hex}", CONSENT_SWEEP_SECONDS="0")
    processes = [AppProcess(env, tmp_path / f"app{n}.log") for n in range(2)]
    try:
        for process in processes:
            process.wait_listening()
        yield processes, alex_id
    finally:
        for process in processes:
            process.close()


@pytest.fixture
def page_on(browser):
    """page_on(url) -> a page in a fresh browser context whose relative addresses go to that app process."""
    contexts = []

    def open_page(url: str):
        context = browser.new_context(base_url=url, locale="en-GB", viewport=NARROW)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def test_stopping_sharing_empties_the_supporters_open_page_on_another_process(
        two_processes, page_on, sign_in, assert_no_axe_violations, assert_fits):
    (member_process, supporter_process), alex_id = two_processes

    # Jordan reads Alex's page on one process; the page's socket has been let into Alex's updates.
    jordan = page_on(supporter_process.url)
    frames: list[str] = []
    jordan.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(str(frame))))
    sign_in(jordan, "jordan@example.org", DEMO_PASSWORD)
    with jordan.expect_websocket():
        jordan.goto(f"/shared/{alex_id}")
    content = jordan.locator("#shared-content")
    expect(content.get_by_text("Next sessions")).to_be_visible()
    jordan.wait_for_function("() => document.readyState === 'complete'")
    for _wait in range(200):
        if any('"classes"' in frame for frame in frames):  # the answer to join_shared
            break
        jordan.wait_for_timeout(50)
    else:
        pytest.fail(f"the page never joined Alex's updates; frames: {frames}")
    assert_no_axe_violations(jordan)
    assert_fits(jordan)
    loads = []
    jordan.on("framenavigated", lambda frame: loads.append(frame.url))

    # Alex, on the other process, stops sharing with Jordan.
    alex = page_on(member_process.url)
    sign_in(alex, "alex@example.org", DEMO_PASSWORD)
    alex.goto("/sharing")
    alex.get_by_role("button", name="Stop sharing with Jordan").click()
    expect(alex.locator("main .flashes")).to_contain_text("You stopped sharing with Jordan.")

    # Jordan's open page, never reloaded, says so and holds nothing of what was shared: emptied, not hidden.
    expect(jordan.locator("#shared-status")).to_have_text(ENDED)
    expect(content).to_be_empty()
    assert content.evaluate("element => element.childNodes.length") == 0
    assert "Next sessions" not in jordan.content()
    assert any("shared_ended" in frame for frame in frames)  # told by the server, not found out by a refresh
    assert loads == []
    assert_no_axe_violations(jordan)
    assert_fits(jordan)
    with closing(jordan.context.new_page()) as again:
        response = again.goto(f"/shared/{alex_id}")
        assert response is not None and response.status == 404
