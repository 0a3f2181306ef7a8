"""Second factors in Chromium: a passkey made and used through Chromium's virtual authenticator, and an authenticator
app set up by a facilitator whose organisation asks for one, from the key shown on the page; axe on every page."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import LoginSession, Organisation, User
from app.demo import DEMO_PASSWORD
from app.extensions import db

from . import NARROW, main_navigation

pytestmark = pytest.mark.browser


@pytest.fixture
def localhost_page(browser, server, demo_server):
    """A page on http://localhost:<port>, the relying party the server is told of: a passkey's relying party is a
    host name (an IP address cannot be one), and Chromium treats localhost as a secure context."""
    contexts = []
    origin = server.replace("127.0.0.1", "localhost")
    demo_server.app.config.update(WEBAUTHN_RP_ID="localhost", WEBAUTHN_ORIGIN=origin)

    def open_page(**options):
        context = browser.new_context(base_url=origin, locale="en-GB", **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context, context.new_page()

    yield open_page
    for context in contexts:
        context.close()
    demo_server.app.config.update(WEBAUTHN_RP_ID=None, WEBAUTHN_ORIGIN=None)


def give_password(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("main").get_by_role("button", name="Sign in").click()


def path_of(page) -> str:
    return urlsplit(page.url).path


def latest_login(demo_server, email: str) -> LoginSession:
    with demo_server.app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        login = db.session.scalars(select(LoginSession).where(LoginSession.user_id == user.id)
                                   .order_by(LoginSession.id.desc())).first()
        db.session.expunge_all()
        db.session.remove()
        return login


def test_a_member_adds_a_passkey_and_signs_in_with_it(localhost_page, demo_server, assert_no_axe_violations,
                                                      assert_fits):
    context, page = localhost_page(viewport=NARROW)
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True}})

    give_password(page, "alex@example.org")
    assert path_of(page) == "/"
    page.goto("/profile")
    page.get_by_role("link", name="Passkeys, authenticator app and recovery codes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in security")
    expect(page.get_by_role("main")).to_contain_text("Password only")
    assert_no_axe_violations(page)
    assert_fits(page)

    page.get_by_role("link", name="Add a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a passkey")
    assert_no_axe_violations(page)
    assert_fits(page)
    page.get_by_label("A name for this passkey (optional)").fill("Alex's laptop")
    with page.expect_navigation(url="**/profile/security/recovery-codes"):
        page.get_by_role("button", name="Create the passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    assert_no_axe_violations(page)
    assert_fits(page)

    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_role("listitem").filter(has_text="Alex's laptop")).to_contain_text("Not used yet.")
    expect(page.get_by_role("main")).to_contain_text("Second factor on")
    assert_no_axe_violations(page)

    with page.expect_navigation():
        main_navigation(page).get_by_role("button", name="Sign out").click()
    give_password(page, "alex@example.org")
    assert path_of(page) == "/login/second-step"
    expect(page.get_by_role("heading", level=1)).to_have_text("One more step")
    assert_no_axe_violations(page)
    assert_fits(page)
    with page.expect_navigation(url=lambda url: urlsplit(url).path == "/"):
        page.get_by_role("button", name="Use a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Alex")
    assert latest_login(demo_server, "alex@example.org").second_factor == "passkey"

    page.goto("/profile/security")
    expect(page.get_by_role("listitem").filter(has_text="Alex's laptop")).to_contain_text("Last used")


def test_a_facilitator_is_led_to_set_up_an_authenticator_app_and_signs_in_with_it(
        localhost_page, demo_server, in_app, assert_no_axe_violations, assert_fits):
    def ask_staff_for_a_second_factor():
        for organisation in db.session.scalars(select(Organisation)):
            organisation.staff_second_factor = True

    in_app(ask_staff_for_a_second_factor)
    _context, page = localhost_page(viewport=NARROW)

    give_password(page, "facilitator@example.org")
    page.goto("/groups")
    assert path_of(page) == "/profile/security"
    expect(page.get_by_role("main")).to_contain_text("Your organisation asks staff to sign in with a second factor.")
    assert_no_axe_violations(page)

    with page.expect_navigation():
        page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up an authenticator app")
    assert_no_axe_violations(page)
    assert_fits(page)
    secret = page.locator("#totp-secret").inner_text().strip()
    app = pyotp.TOTP(secret)

    code_field = page.get_by_label("Code from your authenticator app")
    code_field.fill("000000" if app.now() != "000000" else "111111")
    with page.expect_navigation():
        page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("main")).to_contain_text("That code does not match")
    assert_no_axe_violations(page)
    code_field.fill(app.now())
    with page.expect_navigation(url="**/profile/security/recovery-codes"):
        page.get_by_role("button", name="Turn on").click()
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_role("main")).to_contain_text("Second factor on")
    page.goto("/groups")
    assert path_of(page) == "/groups"

    with page.expect_navigation():
        main_navigation(page).get_by_role("button", name="Sign out").click()
    give_password(page, "facilitator@example.org")
    assert path_of(page) == "/login/second-step"
    assert_no_axe_violations(page)
    # The setup used this step's code; the next step's is within the window.
    page.get_by_label("Code from your authenticator app").fill(app.at(time.time() + 30))
    with page.expect_navigation():
        page.get_by_role("main").get_by_role("button", name="Sign in").click()
    assert path_of(page) == "/"
    assert latest_login(demo_server, "facilitator@example.org").second_factor == "totp"
