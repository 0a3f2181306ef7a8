"""Signing in and out as each demo role, password reset by email, staff invitations, crisis resources: in Chromium."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts import services
from app.accounts.models import RoleName, User
from app.extensions import db, mail

from . import NARROW, main_navigation

pytestmark = pytest.mark.browser

ADMIN_ONLY = {"People", "Crisis resources"}
EVERYONE = {"Home", "Profile", "Sign out"}


def flashes(page):
    return page.locator("main .flashes")


def nav_names(page) -> list[str]:
    nav = main_navigation(page)
    return [item.inner_text().strip() for item in nav.locator("a, button").all()]


@pytest.mark.parametrize(("email", "greeting", "marker", "admin"), [
    ("admin@example.org", "Hello, Robin (admin)", "You look after Momentum Demo Clinic.", True),
    ("facilitator@example.org", "Hello, Dr. Morgan Lee", "Your groups", False),
    ("alex@example.org", "Hello, Alex", "Your groups", False),
    ("jordan@example.org", "Hello, Jordan", "People who share with you", False),
], ids=["admin", "facilitator", "patient", "supporter"])
def test_each_demo_role_sees_its_home_page_and_only_its_navigation_at_320px(new_page, sign_in, visit, assert_fits,
                                                                            email, greeting, marker, admin):
    page = new_page(viewport=NARROW)
    sign_in(page, email)

    assert urlsplit(page.url).path == "/"
    expect(page.get_by_role("heading", level=1)).to_have_text(greeting)
    expect(page.get_by_role("main")).to_contain_text(marker)
    expect(page.get_by_role("link", name="Home", exact=True)).to_have_attribute("aria-current", "page")
    assert_fits(page)
    names = set(nav_names(page))
    assert EVERYONE <= names
    assert (ADMIN_ONLY <= names) if admin else not (ADMIN_ONLY & names), names

    # Every page the navigation offers opens for this role, fits 320 px and passes axe.
    links = main_navigation(page).get_by_role("link").all()
    for path in [link.get_attribute("href") for link in links]:
        visit(page, path)
        assert_fits(page)
    if admin:
        # The organisation page (from the home page), and pages everyone signed in can reach from the footer, a failed
        # password change or a stale link.
        for path, status in [("/admin/organisation", 200), ("/crisis", 200), ("/profile/password", 200),
                             ("/no-such-page", 404)]:
            visit(page, path, status)
            assert_fits(page)
    else:
        visit(page, "/admin/people", status=403)
        expect(page.get_by_role("heading", level=1)).to_have_text("You do not have access to this.")
        assert_fits(page)


def test_an_admin_reads_the_default_risk_phrases_and_saves_their_own_at_320px(new_page, sign_in, visit, assert_fits,
                                                                               assert_no_axe_violations):
    page = new_page(viewport=NARROW)
    sign_in(page, "admin@example.org")
    visit(page, "/admin/organisation")
    page.locator("summary", has_text="The default risk phrases").click()
    expect(page.get_by_role("main")).to_contain_text("no puedo mas")
    assert_no_axe_violations(page)
    assert_fits(page)

    page.get_by_label("Risk phrases").fill("give up\nrendirme")
    page.get_by_role("button", name="Save").click()
    expect(flashes(page)).to_contain_text("The organisation is saved.")
    expect(page.get_by_label("Risk phrases")).to_have_value("give up\nrendirme")
    page.get_by_label("Risk phrases").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Risk phrases")).to_have_value("")


def test_signing_out_ends_the_session_for_back_and_reload(page, sign_in, sign_out, assert_no_axe_violations):
    sign_in(page, "alex@example.org")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Alex")

    sign_out(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(flashes(page)).to_contain_text("You are signed out.")
    assert_no_axe_violations(page)
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_text("Hello, Alex")).to_have_count(0)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert page.get_by_role("navigation", name="Main").count() == 0


def test_the_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(page, sign_in):
    for signed_in in (False, True):
        if signed_in:
            sign_in(page, "jordan@example.org")
        else:
            page.goto("/login")
        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to main content")
        expect(skip).to_be_focused()
        box = skip.bounding_box()
        assert box is not None and box["x"] >= 0 and box["y"] >= 0, "the focused skip link is off screen"
        assert skip.evaluate("el => getComputedStyle(el).outlineStyle") != "none", "focus is not visible"

        page.keyboard.press("Enter")
        expect(page.locator("main#main")).to_be_focused()
        page.keyboard.press("Tab")
        assert page.evaluate("""() => {
            const main = document.getElementById('main'), active = document.activeElement;
            return main.contains(active) || !!(main.compareDocumentPosition(active) & Node.DOCUMENT_POSITION_FOLLOWING);
        }"""), "Tab after the skip link went back into the header"


def test_password_reset_by_email_from_the_sign_in_page(page, visit, sign_in, assert_no_axe_violations):
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    assert_no_axe_violations(page)
    page.get_by_label("Email").fill("sam@example.org")
    with mail.record_messages() as outbox:
        page.get_by_role("button", name="Send the link").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert_no_axe_violations(page)
    assert len(outbox) == 1 and outbox[0].recipients == ["sam@example.org"]
    link = re.search(r"https?://\S+/password/reset/\S+", outbox[0].body).group(0)

    visit(page, link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    page.get_by_label("Repeat the new password").fill("a different long passphrase")
    page.get_by_label("New password", exact=True).fill("a brand new long passphrase")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.locator(".field-error")).to_contain_text("The passwords differ.")
    assert_no_axe_violations(page)
    page.get_by_label("New password", exact=True).fill("a brand new long passphrase")
    page.get_by_label("Repeat the new password").fill("a brand new long passphrase")
    page.get_by_role("button", name="Save the new password").click()

    expect(flashes(page)).to_contain_text("Your password is changed.")
    assert_no_axe_violations(page)
    sign_in(page, "sam@example.org", "a brand new long passphrase")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Sam")
    page.context.clear_cookies()
    visit(page, link, status=404)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link does not work any more")


def test_admin_invites_a_facilitator_who_joins_from_the_link(page, new_page, sign_in, visit, assert_no_axe_violations,
                                                            assert_fits):
    sign_in(page, "admin@example.org")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("People at Momentum Demo Clinic")
    assert_no_axe_violations(page)

    page.get_by_label("Email", exact=True).fill("casey@example.org")
    page.get_by_label("Role", exact=True).select_option("facilitator")
    page.get_by_role("button", name="Send invitation").click()

    expect(flashes(page)).to_contain_text("Invitation sent to casey@example.org.")
    invitations = page.locator("ul.invitations > li")
    expect(invitations.filter(has_text="casey@example.org")).to_contain_text("Waiting")
    link = page.locator(".notice code.token").inner_text().strip()
    assert "/invitations/" in link
    assert_no_axe_violations(page)

    newcomer = new_page(timezone_id="America/Toronto")
    visit(newcomer, link)
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Join Momentum Demo Clinic")
    newcomer.get_by_label("Your name, as others will see it").fill("Casey")
    expect(newcomer.get_by_label("Email")).to_have_value("casey@example.org")
    newcomer.get_by_label("Choose a password").fill("casey's long passphrase")
    expect(newcomer.get_by_label("Time zone")).to_have_value("America/Toronto")  # guessed from the browser
    newcomer.get_by_role("button", name="Create my account").click()
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Hello, Casey")
    assert not ADMIN_ONLY & set(nav_names(newcomer))
    assert_no_axe_violations(newcomer)

    page.reload()
    people = page.locator("li.person")
    expect(people.filter(has_text="casey@example.org")).to_contain_text("Active")
    expect(invitations.filter(has_text="casey@example.org")).to_contain_text("Accepted")
    assert_no_axe_violations(page)

    # A second invitation, withdrawn before it is used: its link stops working.
    page.get_by_label("Email", exact=True).fill("drew@example.org")
    page.get_by_role("button", name="Send invitation").click()
    expect(flashes(page)).to_contain_text("Invitation sent to drew@example.org.")
    link = page.locator(".notice code.token").inner_text().strip()
    page.get_by_role("button", name="Withdraw the invitation to drew@example.org").click()
    expect(flashes(page)).to_contain_text("The invitation is withdrawn.")
    expect(invitations.filter(has_text="drew@example.org")).to_contain_text("Withdrawn")
    visit(newcomer, link, status=410)
    page.set_viewport_size(NARROW)
    assert_fits(page)


def test_a_code_to_share_emails_a_link_and_the_newcomer_finishes_joining_from_it_at_320px(
        in_app, new_page, visit, assert_no_axe_violations, assert_fits):
    def shareable_code() -> str:
        facilitator = db.session.scalar(select(User).where(User.email == "facilitator@example.org"))
        return services.create_invitation(facilitator, facilitator.organisation, RoleName.PATIENT)[1]

    code = in_app(shareable_code)
    newcomer = new_page(viewport=NARROW)
    visit(newcomer, f"/invitations/{code}")
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Join Momentum Demo Clinic")
    assert_fits(newcomer)
    expect(newcomer.get_by_label("Choose a password")).to_have_count(0)  # no account is made from the code alone

    newcomer.get_by_label("Email").fill("riley.new@example.org")
    with mail.record_messages() as outbox:
        newcomer.get_by_role("button", name="Email me the link").click()
        expect(newcomer.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(newcomer.get_by_role("main")).to_contain_text("riley.new@example.org")
    assert_no_axe_violations(newcomer)
    assert_fits(newcomer)
    assert [message.recipients for message in outbox] == [["riley.new@example.org"]]

    visit(newcomer, urlsplit(re.search(r"https?://\S+", outbox[0].body).group(0)).path)
    expect(newcomer.get_by_role("main")).to_contain_text("Your account's email: riley.new@example.org")
    assert_fits(newcomer)
    newcomer.get_by_label("Your name, as others will see it").fill("Riley")
    newcomer.get_by_label("Choose a password").fill("riley's long passphrase")
    newcomer.get_by_label("Choose a password").press("Enter")  # the keyboard is enough
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Hello, Riley")


def test_admin_sets_crisis_resources_shown_in_every_footer(page, new_page, sign_in, visit, assert_no_axe_violations):
    sign_in(page, "admin@example.org")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Crisis resources").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Crisis resources")
    assert_no_axe_violations(page)

    page.get_by_label("Service name").fill("Clinic crisis line")
    page.get_by_label("Phone").fill("0800 123 456")
    page.get_by_label("Web address").fill("example.org/help")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field-error")).to_contain_text("Start the address with https://")
    assert_no_axe_violations(page)
    page.get_by_label("Web address").fill("https://example.org/help")
    page.get_by_role("button", name="Save").click()
    expect(flashes(page)).to_contain_text("Crisis resources are saved.")

    member = new_page()
    sign_in(member, "alex@example.org")
    footer = member.get_by_role("contentinfo")
    expect(footer).to_contain_text("Clinic crisis line")
    expect(footer.get_by_role("link", name="0800 123 456")).to_have_attribute("href", "tel:0800123456")
    footer.get_by_role("link", name="More about getting help now").click()
    expect(member.get_by_role("heading", level=1)).to_have_text("Getting help now")
    expect(member.get_by_role("main")).to_contain_text("Resources from Momentum Demo Clinic")
    assert_no_axe_violations(member)


def test_signed_out_visitors_see_the_default_crisis_guidance_and_a_404_page(page, visit):
    visit(page, "/crisis")
    expect(page.get_by_role("heading", level=1)).to_have_text("Getting help now")
    expect(page.get_by_role("contentinfo")).to_contain_text("call your local emergency number now")

    visit(page, "/no-such-page", status=404)
    expect(page.get_by_role("heading", level=1)).to_have_text("We could not find that page.")
    page.get_by_role("link", name="Go to your home page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
