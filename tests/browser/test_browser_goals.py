"""Goals and small wins in Chromium: Alex notes a small win from the home page with the keyboard alone, sets a goal and
asks Jordan (whose demo consent covers goals and small wins) for thoughts on it; Jordan's open page shows a new win
live, and Jordan's thoughts reach Alex's home page (until read) and goal page, and nobody else's page; Alex marks
the goal as done. Every page
passes axe and fits 320 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from . import NARROW

pytestmark = pytest.mark.browser

GOALS = "Alex's goals and small wins"
GOAL = "Read a page a day"
THOUGHTS = "Maybe before bed? I could read with you."


def flashes(page):
    return page.locator("main .flashes")


def test_alex_sets_a_goal_asks_jordan_for_thoughts_and_marks_it_done(signed_in, visit, assert_fits,
                                                                     assert_no_axe_violations):
    alex = signed_in("alex@example.org", viewport=NARROW)

    # A small win from the home page, by keyboard: type it, press Enter.
    panel = alex.get_by_role("region", name="Goals and small wins")
    panel.get_by_label("A small win", exact=True).fill("Made a cup of tea")
    panel.get_by_label("A small win", exact=True).press("Enter")
    expect(flashes(alex)).to_contain_text("Noted. Well done.")
    expect(alex.get_by_role("heading", level=1)).to_have_text("Goals and small wins")
    expect(alex.get_by_role("region", name="Recent small wins")).to_contain_text("Made a cup of tea")
    assert_no_axe_violations(alex)
    assert_fits(alex)

    # A new goal, with its next small step.
    alex.get_by_label("What would you like to work towards?").fill(GOAL)
    alex.get_by_label("A next small step (optional)").fill("One page after dinner")
    alex.get_by_role("button", name="Save the goal").click()
    expect(flashes(alex)).to_contain_text("Your goal is saved.")
    expect(alex.get_by_role("heading", level=1)).to_have_text(GOAL)
    expect(alex.get_by_role("main")).to_contain_text("Next small step: One page after dinner")
    assert_no_axe_violations(alex)
    assert_fits(alex)

    # Asking Jordan: only supporters who can see the goal are offered.
    alex.get_by_label("Ask", exact=True).select_option(label="Jordan")
    alex.get_by_role("button", name="Ask for their thoughts").click()
    expect(flashes(alex)).to_contain_text("Jordan can now add their thoughts on this goal.")
    expect(alex.get_by_role("region", name="Thoughts from your supporters")).to_contain_text("Jordan")
    assert_no_axe_violations(alex)

    # Jordan sees the goals and wins Alex shares, and a place for thoughts on the goal Alex asked about.
    jordan = signed_in("jordan@example.org", viewport=NARROW)
    jordan.get_by_role("region", name="People who share with you").get_by_role("link", name="Alex").click()
    goals = jordan.locator("#shared-content").get_by_role("region", name=GOALS)
    expect(goals.get_by_role("heading", level=3, name=GOAL)).to_be_visible()
    expect(goals).to_contain_text("Made a cup of tea")
    assert_no_axe_violations(jordan)
    assert_fits(jordan)

    # A win Alex notes while Jordan's page is open appears there without a reload.
    alex.goto(alex.url)
    alex.get_by_label("A small win", exact=True).fill("Read one page")
    alex.get_by_role("button", name="Note it").click()
    expect(flashes(alex)).to_contain_text("Noted. Well done.")
    expect(goals).to_contain_text("Read one page")

    card = goals.get_by_role("listitem").filter(has=jordan.get_by_role("heading", level=3, name=GOAL))
    expect(card).to_contain_text("Alex asked for your thoughts on this goal.")
    card.get_by_label("Your thoughts").fill(THOUGHTS)
    card.get_by_role("button", name="Send your thoughts").click()
    expect(flashes(jordan)).to_contain_text("Your thoughts are sent.")
    expect(jordan.locator("#shared-content")).to_contain_text(f"You wrote: {THOUGHTS}")
    assert_no_axe_violations(jordan)
    assert_fits(jordan)

    # Alex's home page tells of them until Alex has read them; the goal's page keeps them.
    alex.get_by_role("link", name="Home", exact=True).click()
    panel = alex.get_by_role("region", name="Goals and small wins")
    expect(panel).to_contain_text(THOUGHTS)
    expect(panel.get_by_role("link", name=f"On your goal “{GOAL}”")).to_be_visible()
    assert_no_axe_violations(alex)
    assert_fits(alex)
    panel.get_by_role("button", name="I have read these").click()
    expect(panel).not_to_contain_text(THOUGHTS)

    # Alex reads Jordan's thoughts on the goal page, and marks the goal as done.
    alex.get_by_role("link", name="Goals", exact=True).click()
    alex.get_by_role("link", name=GOAL).click()
    thoughts = alex.get_by_role("region", name="Thoughts from your supporters")
    expect(thoughts).to_contain_text(THOUGHTS)
    expect(thoughts).to_contain_text("Jordan")
    alex.get_by_role("button", name="Mark as done").click()
    expect(flashes(alex)).to_contain_text("Marked as done. That took something.")
    expect(alex.locator("p.lead")).to_have_text("Done")
    assert_no_axe_violations(alex)
    assert_fits(alex)

    # Sam, another patient, has no such goal.
    sam = signed_in("sam@example.org", viewport=NARROW)
    response = sam.goto(re.sub(r"^https?://[^/]+", "", alex.url))
    assert response is not None and response.status == 404
    assert_no_axe_violations(sam)
