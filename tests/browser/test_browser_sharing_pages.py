"""The sharing pages on a phone (issue 11), at 320 and 375 px: the member's Sharing page (current sharing first, a
dated history folded away, the access log as a list, the download named in plain words), the preview before sharing
and the form it goes back to, the supporter's home page and their page of what is shared. Each passes axe and fits."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db

pytestmark = pytest.mark.browser


def flashes(page):
    return page.locator("main .flashes")


@pytest.mark.parametrize("width", [320, 375])
def test_the_sharing_pages_read_on_a_phone(width, signed_in, visit, assert_fits, assert_no_axe_violations, in_app):
    viewport = {"width": width, "height": 740}
    alex_id = in_app(lambda: db.session.scalar(select(User.id).where(User.email == "alex@example.org")))

    # Jordan's home says whose data, which kinds and until when; Jordan's page speaks of Alex.
    jordan = signed_in("jordan@example.org", viewport=viewport)
    people = jordan.get_by_role("region", name="People who share with you")
    expect(people.get_by_role("listitem").first).to_contain_text("Alex shares this with you:")
    expect(people.locator(".shared-terms li").first).to_contain_text(re.compile(r"until \w+ \d+ \w+ \d{4}"))
    assert_fits(jordan)
    visit(jordan, f"/shared/{alex_id}")
    expect(jordan.locator("#shared-content").get_by_role("heading", level=2).first).to_have_text(
        "What Alex shares with you")
    expect(jordan.get_by_role("heading", name="Alex's goals and small wins")).to_be_visible()
    expect(jordan.get_by_role("heading", name=re.compile("^My "))).to_have_count(0)
    assert_fits(jordan)

    # Alex's Sharing page: what is shared now comes first in Jordan's card, the download in plain words.
    alex = signed_in("alex@example.org", viewport=viewport)
    visit(alex, "/sharing")
    card = alex.get_by_role("article", name=re.compile("^Jordan"))
    current = card.locator(".consent").first
    expect(current).to_contain_text("Sharing")
    download = current.get_by_role("link", name="Download a copy of these sharing choices")
    hint = alex.locator(f"#{download.get_attribute('aria-describedby')}")
    expect(hint).to_contain_text("FHIR")
    expect(alex.get_by_role("main").get_by_role("link", name=re.compile("FHIR"))).to_have_count(0)
    expect(alex.get_by_role("main").get_by_role("button", name=re.compile("FHIR"))).to_have_count(0)
    # The access log is a list, not a table that a phone must scroll.
    log = alex.get_by_role("list", name="Access log")
    expect(log.get_by_role("listitem")).to_have_count(1)
    expect(log.get_by_role("listitem").first).to_contain_text("Jordan")
    expect(alex.get_by_role("region", name="Who looked, and when").locator("table")).to_have_count(0)
    assert_fits(alex)

    # Sharing something more: the form offers the data period and leads to the preview, then to the form again.
    card.get_by_text("Share something else with Jordan").click()
    card.get_by_label("Questionnaire results", exact=False).check()
    card.get_by_label("Share data from (optional)").fill("2026-01-01")
    assert_no_axe_violations(alex)
    assert_fits(alex)
    card.get_by_role("button", name="See what Jordan will see").click()
    expect(alex.get_by_role("heading", level=1)).to_have_text("What Jordan will see")
    expect(alex.get_by_role("main")).to_contain_text("Nothing is shared yet.")
    assert_no_axe_violations(alex)
    assert_fits(alex)
    alex.get_by_role("button", name="Change").click()
    expect(alex.get_by_role("heading", level=1)).to_have_text("Share with Jordan")
    expect(alex.get_by_label("Share data from (optional)")).to_have_value("2026-01-01")
    expect(alex.get_by_label(re.compile("^Questionnaire results"))).to_be_checked()
    assert_no_axe_violations(alex)
    assert_fits(alex)
    alex.get_by_role("button", name="See what Jordan will see").click()
    alex.get_by_role("button", name="Confirm: share this with Jordan").click()
    expect(flashes(alex)).to_contain_text("You are now sharing with Jordan.")

    # Stopped: nothing is shared now, and the two consents are in the dated history, folded away.
    card.get_by_role("button", name="Stop sharing with Jordan").click()
    expect(card).to_contain_text("Nothing is shared with Jordan now.")
    history = card.locator("details.fold").filter(has_text="Earlier sharing with Jordan (2)")
    history.get_by_text("Earlier sharing with Jordan (2)").click()
    expect(history.locator("li")).to_have_count(2)
    for item in history.locator("li").all():
        expect(item.locator("time").first).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\d"))
    assert_no_axe_violations(alex)
    assert_fits(alex)
