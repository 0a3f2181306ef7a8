"""The profile in Chromium: language, low-energy mode and API tokens."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from babel.support import Translations
from playwright.sync_api import expect

from . import NARROW, main_navigation

pytestmark = pytest.mark.browser


@pytest.fixture
def spanish(demo_server):
    """The Spanish text the app shows for an English message, from the catalog the live server uses."""
    catalog = Translations.load(demo_server.app.config["BABEL_TRANSLATION_DIRECTORIES"], ["es"])

    def translate(english: str) -> str:
        text = catalog.gettext(english)
        assert text != english, f"the Spanish catalog does not translate {english!r} (run `make extract-messages`?)"
        return text

    return translate


def api_get(server: str, path: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(server + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def test_language_switch_on_the_sign_in_page(page, spanish, assert_no_axe_violations):
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_label("Language").select_option("es")
    page.get_by_role("button", name="Change language").click()

    expect(page.locator("html")).to_have_attribute("lang", "es")
    heading = page.get_by_role("heading", level=1)
    expect(heading).not_to_have_text("Sign in")
    expect(heading).to_have_text(spanish("Sign in"))
    assert "/login" in page.url
    assert_no_axe_violations(page)


def test_language_switch_on_the_profile_page_follows_the_account(page, new_page, sign_in, spanish,
                                                                 assert_no_axe_violations):
    sign_in(page, "jordan@example.org")
    page.get_by_role("link", name="Profile").click()

    page.locator("#locale").select_option("es")
    page.get_by_role("button", name="Save profile").click()

    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_have_text(spanish("Your profile"))
    assert_no_axe_violations(page)
    # The language belongs to the account: a new browser shows Spanish right after signing in.
    other = new_page()
    sign_in(other, "jordan@example.org")
    expect(other.locator("html")).to_have_attribute("lang", "es")
    expect(other.get_by_role("link", name=spanish("Profile"), exact=True)).to_be_visible()

    page.locator("#locale").select_option("en")
    page.locator("form[action$='/profile'] button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your profile")


def _main_element_count(page) -> int:
    return page.evaluate("() => [...document.querySelectorAll('main *')].filter(el => el.offsetParent !== null).length")


def test_low_energy_mode_means_fewer_things_and_larger_buttons(page, sign_in, assert_no_axe_violations, assert_fits):
    sign_in(page, "alex@example.org")
    elements_before = _main_element_count(page)
    expect(page.get_by_text("Small steps count.")).to_be_visible()
    page.get_by_role("link", name="Profile").click()
    save = page.get_by_role("button", name="Save profile")
    height_before = save.bounding_box()["height"]
    assert "low-energy" not in (page.locator("body").get_attribute("class") or "")

    page.get_by_label("Low-energy mode").check()
    save.click()

    expect(page.locator("body")).to_contain_class("low-energy")
    expect(page.get_by_label("Low-energy mode")).to_be_checked()
    assert save.bounding_box()["height"] > height_before
    for button in page.get_by_role("button").all():
        if button.is_visible():
            assert button.bounding_box()["height"] >= 56, button.inner_text()
    assert_no_axe_violations(page)
    page.get_by_role("link", name="Home").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Alex")
    expect(page.locator("body")).to_contain_class("low-energy")
    expect(page.get_by_text("Small steps count.")).to_have_count(0)
    assert _main_element_count(page) < elements_before
    assert_no_axe_violations(page)
    # Larger text and targets still fit a 320 px screen.
    page.set_viewport_size(NARROW)
    assert_fits(page)
    main_navigation(page).get_by_role("link", name="Profile").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your profile")
    assert_fits(page)


def test_api_token_is_shown_once_works_and_can_be_revoked(page, server, sign_in, assert_no_axe_violations, assert_fits):
    sign_in(page, "alex@example.org")
    page.get_by_role("link", name="Profile").click()
    # Folded under "Advanced", last on the page: few members need it.
    expect(page.get_by_text("You have no API tokens.")).to_be_hidden()
    page.get_by_text("Advanced: API tokens").click()
    expect(page.get_by_text("You have no API tokens.")).to_be_visible()
    page.get_by_role("button", name="Create a token").click()
    expect(page.locator("#name-error")).to_be_visible()
    expect(page.get_by_label("Token name")).to_have_attribute("aria-invalid", "true")
    assert_no_axe_violations(page)

    page.get_by_label("Token name").fill("My phone")
    page.get_by_role("button", name="Create a token").click()

    callout = page.locator("#tokens .callout")
    expect(callout).to_contain_text("Copy it now")
    token = callout.locator("code.token").inner_text().strip()
    tokens = page.get_by_role("list", name="Your API tokens")
    expect(tokens.get_by_role("listitem").filter(has_text="My phone")).to_be_visible()
    assert_no_axe_violations(page)
    status, body = api_get(server, "/api/v1/me", token)
    assert status == 200 and body["email"] == "alex@example.org"

    page.reload()
    expect(page.locator("#tokens .callout")).to_have_count(0)
    assert token not in page.content()

    page.get_by_text("Advanced: API tokens").click()
    page.get_by_role("button", name="Revoke My phone").click()
    expect(page.locator("main .flashes")).to_contain_text("The token is revoked.")
    page.get_by_text("Advanced: API tokens").click()
    expect(tokens.get_by_role("listitem").filter(has_text="My phone")).to_contain_text("Revoked")
    assert_no_axe_violations(page)
    status, body = api_get(server, "/api/v1/me", token)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    page.set_viewport_size(NARROW)
    assert_fits(page)
