"""The live check-in room in Chromium (issue 4): a facilitator and three members in separate browser contexts.

A member waiting in the lobby enters by themselves when the room opens, check-ins reach everyone live, a pass shows as
such, "I need support now" reaches the facilitator only (once, however often it is pressed), the facilitator
acknowledges it, a member loses nothing to a reload or to a lost connection, and what waits in the browser belongs to
one account and goes when it signs out. The facilitator's home page shows alerts and check-ins between sessions live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts import services as account_services
from app.accounts.models import Organisation, RoleName, User
from app.demo import DEMO_PASSWORD, DEMO_SLUG
from app.extensions import db
from app.groups import queries as group_queries
from app.groups.demo import DEMO_GROUP
from app.groups.models import Membership, MembershipStatus, SessionOccurrence, TherapyGroup
from app.models_base import utcnow
from app.realtime.sockets import account_sids, disconnect_user
from app.rooms import services as room_services
from app.rooms.models import CheckIn, RoomPresence, SafetyAlert

from . import NARROW

pytestmark = pytest.mark.browser

CRISIS_LINE = "Riverside Crisis Line"
ALEX_CHECKIN = "Mood 7/10, good · Energy: medium · “Slept better”"


@dataclass
class LiveSession:
    id: int
    url: str


@pytest.fixture
def live_session(in_app) -> LiveSession:
    """A session of the demo group starting in five minutes (inside the 15-minute lobby), a third member (Taylor,
    shown as "Tay") and the clinic's crisis resources."""

    def set_up():
        organisation = db.session.scalar(select(Organisation).where(Organisation.slug == DEMO_SLUG))
        organisation.crisis_name, organisation.crisis_phone = CRISIS_LINE, "0800 111 222"
        group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP))
        assert group.lobby_minutes >= 10 and group.checkin_visibility == "all"
        taylor = account_services.create_account("taylor@example.org", DEMO_PASSWORD, "Taylor", organisation,
                                                 RoleName.PATIENT, timezone="Europe/London")
        db.session.add(Membership(group_id=group.id, user_id=taylor.id, status=MembershipStatus.ACTIVE,
                                  preferred_name="Tay", joined_at=utcnow() - timedelta(days=7),
                                  agreement_id=group.current_agreement.id, agreement_accepted_at=utcnow()))
        occurrence = SessionOccurrence(group_id=group.id, starts_at=utcnow() + timedelta(minutes=5),
                                       duration_minutes=60, is_exception=True)
        db.session.add(occurrence)
        db.session.flush()
        return occurrence.id

    session_id = in_app(set_up)
    return LiveSession(session_id, f"/sessions/{session_id}/room")


#: What the room page keeps for the account signed in: "momentum:pending:<user id>".
PENDING = ("() => JSON.parse(localStorage.getItem('momentum:pending:' + "
           "document.getElementById('live-room').dataset.userId) || '[]')")


def tile(page, name: str):
    """The facilitator's tile of one member."""
    return page.locator("#tiles > li").filter(has=page.get_by_role("heading", name=name, exact=True))


def pending_checkins(page, session_id: int) -> list:
    return [item for item in page.evaluate(PENDING) if item["session_id"] == session_id and item["kind"] == "checkin"]


def nothing_pending(page, session_id: int) -> None:
    """Wait until every check-in and call for support kept in the browser's storage is acknowledged (and so
    forgotten)."""
    page.wait_for_function(f"() => ({PENDING})().length === 0")


def test_facilitator_and_three_members_check_in_live(signed_in, in_app, live_session, assert_no_axe_violations,
                                                     assert_fits, sign_out):
    facilitator = signed_in("facilitator@example.org")
    alex = signed_in("alex@example.org", viewport=NARROW)
    sam = signed_in("sam@example.org", viewport=NARROW)
    tay = signed_in("taylor@example.org", viewport=NARROW)
    members = (alex, sam, tay)

    # Before the facilitator opens the room, members are told to wait; the page waits with them.
    alex.goto(live_session.url)
    expect(alex.locator("#room-status")).to_have_text(
        "The room is not open yet. Your facilitator opens it shortly before the session.")
    expect(alex.locator("#room-lobby")).to_be_visible()
    assert_no_axe_violations(alex)

    facilitator.goto(live_session.url)
    expect(facilitator.get_by_role("heading", level=1)).to_have_text(f"Live room: {DEMO_GROUP}")
    expect(facilitator.locator("#room-status")).to_have_text("The room is closed.")
    assert_no_axe_violations(facilitator)
    facilitator.get_by_role("button", name="Open the room").click()
    expect(facilitator.locator("#room-status")).to_have_text("The room is open.")

    # Alex's page enters by itself, without a reload.
    expect(alex.locator("#room-status")).to_have_text("The room is open.")
    expect(alex.locator("#room-lobby")).to_be_hidden()
    # Sam's browser holds what someone else left waiting (another account, and the old unkeyed form): it is dropped,
    # never sent as Sam's.
    sam.evaluate("""(sessionId) => {
        const item = {kind: 'checkin', session_id: sessionId, client_id: 'someone-elses-checkin', mood: 2,
                      energy: null, note: "Someone else's note", passed: false};
        localStorage.setItem('momentum:pending:999999', JSON.stringify([item]));
        localStorage.setItem('momentum:pending-checkins:' + sessionId, JSON.stringify([item]));
    }""", live_session.id)
    for member in (sam, tay):
        member.goto(live_session.url)
    for member in members:
        expect(member.locator("#room-status")).to_have_text("The room is open.")
    expect(alex.locator("#presence li").first).to_have_text("Dr. Morgan Lee (facilitator)")
    for name in ("Alex", "Sam", "Tay"):
        expect(tile(facilitator, name).locator(".badge").first).to_have_text("Here")
        expect(tile(facilitator, name).get_by_role("button", name="Mark as left early")).to_be_visible()
    assert_no_axe_violations(alex)
    assert_fits(alex)

    # Alex checks in in full; everyone sees it (the group shows members each other's check-ins).
    alex.get_by_role("radio", name="7", exact=True).check()
    alex.get_by_label("Medium").check()
    alex.get_by_label("A line to share (optional)").fill("Slept better")
    alex.get_by_role("button", name="Check in").click()
    expect(alex.locator("#own-checkin")).to_have_text(f"Your check-in is saved. {ALEX_CHECKIN}")
    for page in members:
        expect(page.locator("#checkins li").filter(has_text="Alex")).to_have_text(
            f"Alex: {ALEX_CHECKIN}")
    expect(tile(facilitator, "Alex").locator(".tile-checkin")).to_have_text("Mood 7/10, good · Energy: medium")
    expect(tile(facilitator, "Alex").locator(".tile-note")).to_have_text("“Slept better”")

    assert sam.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('momentum:'))") == []

    # Tay asks for support: the clinic's crisis resources at once, a calm confirmation, and an alert to the
    # facilitator only. Pressing again (it can be hard to tell whether it worked) calls no one twice.
    tay.get_by_role("button", name="I need support now").click()
    confirmation = tay.locator("#support-confirmation")
    expect(confirmation).to_be_visible()
    expect(confirmation).to_be_focused()
    expect(confirmation).to_contain_text(CRISIS_LINE)
    expect(confirmation).to_contain_text("Your facilitator has been told privately. You are not alone.")
    for _press in range(2):
        tay.get_by_role("button", name="I need support now").click()
        nothing_pending(tay, live_session.id)
    expect(confirmation.get_by_role("link", name="0800 111 222")).to_have_attribute("href", "tel:0800111222")
    assert_no_axe_violations(tay)
    assert_fits(tay)
    alerts = facilitator.locator("#room-alerts li")
    expect(alerts).to_have_count(1)
    expect(alerts).to_contain_text("Tay needs support now")
    expect(facilitator.locator("#no-alerts")).to_be_hidden()
    assert_no_axe_violations(facilitator)
    for page in (alex, sam):
        expect(page.locator("#room-alerts")).to_have_count(0)
        expect(page.get_by_text("needs support")).to_have_count(0)
        expect(page.locator("#support-confirmation")).to_be_hidden()

    # The facilitator moves to the alert's button; Sam passes meanwhile (no questions asked), which everyone sees,
    # and the facilitator's keyboard focus stays where it was.
    acknowledge = alerts.get_by_role("button", name="Acknowledge")
    acknowledge.focus()
    sam.get_by_role("button", name="Pass").click()
    expect(sam.locator("#own-checkin")).to_have_text("Your check-in is saved. Passed")
    for page in members:
        expect(page.locator("#checkins li").filter(has_text="Sam")).to_have_text("Sam: Passed")
    expect(tile(facilitator, "Sam").locator(".tile-checkin")).to_have_text("Passed")
    assert_no_axe_violations(sam)
    expect(acknowledge).to_be_focused()

    # The facilitator acknowledges it: it leaves the open alerts, and the acknowledgement is on record.
    facilitator.keyboard.press("Enter")
    expect(alerts).to_have_count(0)
    expect(facilitator.locator("#no-alerts")).to_have_text("No open alerts.")
    expect(facilitator.get_by_role("heading", name="Safety alerts")).to_be_focused()  # not lost to the page's top

    def alert_states():
        return [(a.kind.value, a.acknowledged_by_id is not None)
                for a in db.session.scalars(select(SafetyAlert).where(SafetyAlert.occurrence_id == live_session.id))]

    assert in_app(alert_states) == [("need_support", True)]

    # Alex raises a hand; the facilitator lowers it.
    alex.get_by_role("button", name="Raise my hand").click()
    expect(alex.locator("#hand-button")).to_have_text("Lower my hand")
    hands = facilitator.locator("#hands li")
    expect(hands).to_have_text(["Alex Lower hand"], use_inner_text=True)
    hands.get_by_role("button", name="Lower hand").click()
    expect(hands).to_have_count(0)
    expect(alex.locator("#hand-button")).to_have_text("Raise my hand")
    expect(facilitator.get_by_role("heading", name="Raised hands")).to_be_focused()

    # Alex reloads mid-session and loses nothing.
    alex.reload()
    expect(alex.locator("#room-status")).to_have_text("The room is open.")
    expect(alex.locator("#own-checkin")).to_have_text(f"Your check-in is saved. {ALEX_CHECKIN}")
    expect(alex.locator("#checkins li")).to_have_text([f"Alex: {ALEX_CHECKIN}",
                                                       "Sam: Passed"])

    # Sam loses the connection, updates the check-in meanwhile: it waits in the browser's storage and is delivered
    # once the connection is back.
    sam.context.set_offline(True)
    expect(sam.locator("#room-status")).to_have_text("Reconnecting… your check-in is kept and will be sent.")
    sam.get_by_role("radio", name="6", exact=True).check()
    sam.get_by_label("A line to share (optional)").fill("Back again")
    sam.get_by_role("button", name="Check in").click()
    expect(sam.locator("#own-checkin")).to_have_text("Sending your check-in…")
    kept = pending_checkins(sam, live_session.id)
    assert [(item["mood"], item["note"], item["passed"]) for item in kept] == [(6, "Back again", False)]
    expect(tile(facilitator, "Sam").locator(".tile-checkin")).to_have_text("Passed")

    sam.context.set_offline(False)
    expect(sam.locator("#own-checkin")).to_have_text("Your check-in is saved. Mood 6/10, okay · “Back again”",
                                                     timeout=20_000)
    nothing_pending(sam, live_session.id)
    for page in (alex, tay):
        expect(page.locator("#checkins li").filter(has_text="Sam")).to_have_text(
            "Sam: Mood 6/10, okay · “Back again”")
    expect(tile(facilitator, "Sam").locator(".tile-checkin")).to_have_text("Mood 6/10, okay")

    # Once more, and this time Sam reloads as soon as the connection is back, before the page has reconnected: the
    # check-in kept in storage goes out from the reloaded page, once.
    sam.context.set_offline(True)
    expect(sam.locator("#room-status")).to_have_text("Reconnecting… your check-in is kept and will be sent.")
    sam.get_by_role("radio", name="5", exact=True).check()
    sam.get_by_label("A line to share (optional)").fill("Still here")
    sam.get_by_role("button", name="Check in").click()
    expect(sam.locator("#own-checkin")).to_have_text("Sending your check-in…")
    sam.context.set_offline(False)
    sam.reload()
    expect(sam.locator("#own-checkin")).to_have_text("Your check-in is saved. Mood 5/10, okay · “Still here”")
    expect(tile(facilitator, "Sam").locator(".tile-note")).to_have_text("“Still here”")
    nothing_pending(sam, live_session.id)

    def sams_checkins():
        return [(c.passed, c.mood, c.note) for c in db.session.scalars(
            select(CheckIn).join(User, CheckIn.user_id == User.id)
            .where(CheckIn.occurrence_id == live_session.id, User.email == "sam@example.org").order_by(CheckIn.id))]

    assert in_app(sams_checkins) == [(True, None, ""), (False, 6, "Back again"), (False, 5, "Still here")]

    # Signing out takes what the browser kept with it.
    sam.evaluate("() => localStorage.setItem('momentum:pending:' + document.getElementById('live-room').dataset.userId,"
                 " JSON.stringify([{kind: 'checkin', session_id: 0, client_id: 'left-behind', note: 'private'}]))")
    sign_out(sam)
    assert sam.evaluate("() => localStorage.length") == 0


def test_a_member_whose_room_closes_waits_and_enters_again_when_it_reopens(signed_in, live_session):
    facilitator = signed_in("facilitator@example.org")
    alex = signed_in("alex@example.org", viewport=NARROW)
    facilitator.goto(live_session.url)
    facilitator.get_by_role("button", name="Open the room").click()
    alex.goto(live_session.url)
    expect(alex.locator("#room-status")).to_have_text("The room is open.")

    facilitator.get_by_role("button", name="Close the room").click()
    expect(alex.locator("#room-status")).to_have_text("The room is closed.")
    expect(alex.locator("#room-lobby")).to_be_visible()
    facilitator.get_by_role("button", name="Open the room").click()
    expect(alex.locator("#room-status")).to_have_text("The room is open.")
    alex.get_by_role("button", name="Pass").click()
    expect(tile(facilitator, "Alex").locator(".tile-checkin")).to_have_text("Passed")


def test_a_member_signed_out_elsewhere_is_told_so_in_the_room(signed_in, live_session, sign_out):
    facilitator = signed_in("facilitator@example.org")
    facilitator.goto(live_session.url)
    facilitator.get_by_role("button", name="Open the room").click()
    alex = signed_in("alex@example.org", viewport=NARROW)
    alex.goto(live_session.url)
    expect(alex.locator("#room-status")).to_have_text("The room is open.")
    other_tab = alex.context.new_page()
    other_tab.goto("/")

    sign_out(other_tab)

    expect(alex.locator("#room-status")).to_have_text("You are signed out.")
    expect(alex.get_by_role("link", name="Sign in again")).to_have_attribute("href", f"/login?next={live_session.url}")


def test_the_facilitators_home_page_shows_alerts_and_checkins_between_sessions_live(signed_in, in_app):
    """By the name each member chose in the group; a live alert is acknowledged where it appears."""

    def sam_goes_by_sammy():
        sam = db.session.scalar(select(User).where(User.email == "sam@example.org"))
        membership = db.session.scalar(select(Membership).where(Membership.user_id == sam.id))
        membership.preferred_name = "Sammy"
        return sam.id

    sam_id = in_app(sam_goes_by_sammy)
    facilitator = signed_in("facilitator@example.org")
    expect(facilitator.get_by_role("heading", name="Check-ins between sessions")).to_be_visible()

    def sam_checks_in_and_asks_for_support():
        sam = db.session.get(User, sam_id)
        room_services.record_checkin(sam, client_id="browser-between-1", mood=6, note="Made tea")
        room_services.need_support(sam, client_id="browser-support-1")

    in_app(sam_checks_in_and_asks_for_support)

    item = facilitator.locator("#between-list li").first
    expect(item).to_contain_text("Sammy · just now: Mood 6 of 10 · “Made tea”")
    alert = facilitator.locator("#alert-list li", has_text="Sammy")
    expect(alert).to_contain_text("needs support now")
    alert.get_by_role("button", name="Acknowledge").click()
    expect(alert).to_have_count(0)
    expect(facilitator.locator("#between-list")).not_to_contain_text("Sam ·")
    assert in_app(lambda: [a.acknowledged_by_id is not None for a in db.session.scalars(select(SafetyAlert))]) == [
        True]


def test_the_facilitators_home_page_reconnects_after_the_server_closed_it_and_catches_up(signed_in, in_app):
    """socket.io does not reconnect by itself after the server closed the connection (a restart, say): live.js does,
    after a while, and the page then reads from the database what was pushed while it was away."""

    def facilitators_sockets():
        return account_sids(db.session.scalar(select(User.id).where(User.email == "facilitator@example.org")))

    def until(condition, what):
        for _wait in range(100):
            if result := condition():
                return result
            facilitator.wait_for_timeout(50)
        pytest.fail(f"never {what}")

    facilitator = signed_in("facilitator@example.org")
    facilitator.clock.install()  # the page's timers move only when the test moves them: no retry comes early
    facilitator.reload()
    before = until(lambda: in_app(facilitators_sockets), "connected")

    in_app(lambda: disconnect_user(db.session.scalar(select(User.id).where(User.email == "facilitator@example.org"))))
    until(lambda: not in_app(facilitators_sockets), "disconnected")

    def sam_asks_for_support():
        sam = db.session.scalar(select(User).where(User.email == "sam@example.org"))
        room_services.need_support(sam, client_id="browser-support-while-away")

    in_app(sam_asks_for_support)
    alert = facilitator.locator("#alert-list li", has_text="Sam")
    facilitator.wait_for_timeout(500)  # a push, had one reached the page, would show by now
    expect(alert).to_have_count(0)

    facilitator.clock.run_for(1500)  # past the first retry (1 s, give or take a quarter), far short of the minute sync
    expect(alert).to_contain_text("needs support now")
    after = in_app(facilitators_sockets)
    assert len(after) == 1 and after != before


# The pages people live in (issue 11) ----------------------------------------------------------------------------------

PHONE = {"width": 375, "height": 740}
LAPTOP = {"width": 1280, "height": 800}
#: Nine more members, so that the demo group (Alex, Sam and Tay) has twelve; some with long names.
MORE_MEMBERS = ("Robin", "Kim", "Maximiliana", "Jo", "Fran", "Bartholomew", "Lee", "Noor", "Ana Sofía")


# Whether what the browser draws at an element's bottom corners is the element itself (or its label): nothing, such
# as a bar pinned to the bottom of the screen, covers it.
UNCOVERED = """el => {
  const r = el.getBoundingClientRect();
  return [[r.left + 2, r.bottom - 2], [r.right - 2, r.bottom - 2]].every(([x, y]) => {
    const hit = document.elementFromPoint(x, y);
    return hit !== null && (el.contains(hit) || hit.contains(el) || [...(el.labels || [])].some(l => l.contains(hit)));
  });
}"""


def bottom_of(locator) -> float:
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not shown"
    return box["y"] + box["height"]


def test_a_member_on_a_phone_has_the_checkin_and_support_on_the_first_screen(signed_in, live_session,
                                                                             assert_no_axe_violations):
    facilitator = signed_in("facilitator@example.org")
    facilitator.goto(live_session.url)
    facilitator.get_by_role("button", name="Open the room").click()
    alex = signed_in("alex@example.org", viewport=PHONE)
    alex.goto(live_session.url)
    expect(alex.locator("#room-status")).to_have_text("The room is open.")

    first_screen = [alex.get_by_role("group", name="Mood", exact=True),
                    alex.get_by_role("radio", name="0", exact=True), alex.get_by_role("radio", name="10", exact=True),
                    alex.get_by_role("group", name="Energy"), alex.get_by_label("A line to share (optional)"),
                    alex.get_by_role("button", name="Check in"), alex.get_by_role("button", name="Pass"),
                    alex.get_by_role("button", name="I need support now")]
    assert alex.evaluate("() => window.scrollY") == 0
    for control in first_screen:
        expect(control).to_be_visible()
        assert bottom_of(control) <= PHONE["height"], f"{control} is below the first screen"
        assert control.evaluate(UNCOVERED), f"{control} is covered by something drawn over it"
    # The call for support has a colour of its own (calm, not the alarm red of an error), and "Raise my hand" is the
    # quieter, secondary control.
    colours = alex.evaluate("""() => ['#support-button', '#checkin-form button[type=submit]', '#hand-button']
        .map(s => getComputedStyle(document.querySelector(s)).backgroundColor)""")
    support, primary, hand = colours
    assert support not in (primary, hand) and support != "rgb(164, 38, 44)"
    assert alex.get_by_role("button", name="Raise my hand").get_attribute("class") == "secondary"
    assert_no_axe_violations(alex)

    # Without a mood nothing is sent; the member is told what is missing.
    alex.get_by_role("button", name="Check in").click()
    expect(alex.get_by_text("Choose a mood from 0 to 10, or pass.")).to_be_visible()
    expect(alex.get_by_role("radio", name="0", exact=True)).to_be_focused()
    alex.keyboard.press("ArrowRight")  # the keyboard walks the scale
    expect(alex.get_by_role("radio", name="1", exact=True)).to_be_checked()
    expect(alex.get_by_text("Choose a mood from 0 to 10, or pass.")).to_be_hidden()


def test_the_same_mood_scale_is_on_the_home_page(signed_in, in_app, assert_no_axe_violations):
    alex = signed_in("alex@example.org", viewport=PHONE)
    form = alex.locator("#home-checkin")
    scale = form.get_by_role("group", name="Mood today, from 0 (very low) to 10 (very good)")
    expect(scale.get_by_role("radio")).to_have_count(11)
    scale.get_by_role("radio", name="4", exact=True).check()
    form.get_by_label("Low").check()
    form.get_by_role("button", name="Check in").click()
    expect(alex.get_by_text("Thank you for checking in.")).to_be_visible()

    def alexs_last_mood():
        alex_id = db.session.scalar(select(User.id).where(User.email == "alex@example.org"))
        last = db.session.scalar(select(CheckIn).where(CheckIn.user_id == alex_id).order_by(CheckIn.id.desc()))
        return last.mood, last.energy.value

    assert in_app(alexs_last_mood) == (4, "low")


def test_the_facilitator_sees_the_group_as_tiles_that_update_live(signed_in, in_app, live_session,
                                                                   assert_no_axe_violations, assert_fits):
    def nine_more_members():
        organisation = db.session.scalar(select(Organisation).where(Organisation.slug == DEMO_SLUG))
        group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP))
        for name in MORE_MEMBERS:
            person = account_services.create_account(f"{name.split()[0].lower()}@example.org", DEMO_PASSWORD, name,
                                                     organisation, RoleName.PATIENT, timezone="Europe/London")
            db.session.add(Membership(group_id=group.id, user_id=person.id, status=MembershipStatus.ACTIVE,
                                      joined_at=utcnow(), agreement_id=group.current_agreement.id,
                                      agreement_accepted_at=utcnow()))

    in_app(nine_more_members)
    facilitator = signed_in("facilitator@example.org", viewport=LAPTOP)
    facilitator.goto(live_session.url)
    controls = facilitator.get_by_role("button", name=re.compile(
        "^(Open the room|Close the room|Start a check-in round|Next speaker|Skip)$"))
    expect(controls).to_have_text(["Open the room"])  # a closed room: only opening it
    facilitator.get_by_role("button", name="Open the room").click()
    expect(facilitator.locator("#room-status")).to_have_text("The room is open.")
    expect(controls).to_have_text(["Start a check-in round", "Close the room"])  # no "Open the room" while open

    tiles = facilitator.locator("#tiles > li")
    expect(tiles).to_have_count(12)
    expect(facilitator.locator("#group-count")).to_have_text("(0 of 12 here)")
    for index in range(12):
        assert bottom_of(tiles.nth(index)) <= LAPTOP["height"], f"tile {index + 1} is below the first screen"
    assert facilitator.evaluate("() => window.scrollY") == 0
    expect(tile(facilitator, "Alex").locator(".badge").first).to_have_text("Not here")
    expect(tile(facilitator, "Alex").locator(".tile-checkin")).to_have_text("Not checked in yet")
    assert_no_axe_violations(facilitator)
    assert_fits(facilitator)

    # Alex comes in, on a phone in another browser, checks in, raises a hand and asks for support: the tile follows.
    alex = signed_in("alex@example.org", viewport=PHONE)
    alex.goto(live_session.url)
    expect(tile(facilitator, "Alex").locator(".badge").first).to_have_text("Here")
    expect(facilitator.locator("#group-count")).to_have_text("(1 of 12 here)")
    alex.get_by_role("radio", name="3", exact=True).check()
    alex.get_by_label("Low").check()
    alex.get_by_label("A line to share (optional)").fill("Tired but here")
    alex.get_by_role("button", name="Check in").click()
    alex_tile = tile(facilitator, "Alex")
    expect(alex_tile.locator(".tile-checkin")).to_have_text("Mood 3/10, low · Energy: low")
    expect(alex_tile.locator(".tile-note")).to_have_text("“Tired but here”")
    alex.get_by_role("button", name="Raise my hand").click()
    expect(alex_tile.locator(".tile-flags")).to_have_text("Hand raised")
    alex.get_by_role("button", name="I need support now").click()
    expect(alex_tile.locator(".tile-flags .badge")).to_have_text(["Needs support now", "Hand raised"])

    # A round: the order is shown, and the tile says who speaks now; the controls are the round's.
    facilitator.get_by_role("button", name="Start a check-in round").click()
    expect(facilitator.locator("#speaker-order li")).to_have_text(["Alex"])
    expect(alex_tile.locator(".tile-flags .badge")).to_have_text(["Needs support now", "Speaking now", "Hand raised"])
    expect(controls).to_have_text(["Next speaker", "Skip", "Close the room"])
    assert_no_axe_violations(facilitator)

    # The facilitator acknowledges the call; Alex is told, in calm words, who has seen it, and a reload says so too.
    facilitator.locator("#room-alerts").get_by_role("button", name="Acknowledge").click()
    expect(alex_tile.locator(".tile-flags .badge")).to_have_text(["Speaking now", "Hand raised"])
    seen = "Dr. Morgan Lee has seen your message and will be in touch."
    expect(alex.locator("#support-status")).to_have_text(seen)
    alex.reload()
    expect(alex.locator("#support-status")).to_have_text(seen)
    assert_no_axe_violations(alex)

    # Lowering Alex's hand from the tile: the tile is drawn anew, and the keyboard focus stays in it.
    alex_tile.get_by_role("button", name="Lower hand").click()
    expect(alex.locator("#hand-button")).to_have_text("Raise my hand")
    expect(alex_tile.get_by_role("button", name="Mark as left early")).to_be_focused()

    # Everyone comes in and checks in, with something to say: the twelve tiles still fit the laptop's screen.
    def everyone_checks_in():
        group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP))
        occurrence = db.session.get(SessionOccurrence, live_session.id)
        room = room_services.room_of(occurrence)
        for index, membership in enumerate(group_queries.active_members(group)):
            db.session.add(RoomPresence(room_id=room.id, user_id=membership.user_id, sid=f"browser-test-{index}"))
            room_services.record_checkin(membership.user, occurrence=occurrence, client_id=f"browser-tiles-{index}",
                                         mood=index % 11, energy="medium",
                                         note="A long week, but I went for a walk every day and it helped a bit.")
        room_services.set_hand(db.session.scalar(select(User).where(User.email == "sam@example.org")), occurrence,
                               True)

    in_app(everyone_checks_in)
    facilitator.reload()
    expect(facilitator.locator("#group-count")).to_have_text("(12 of 12 here)")
    expect(tile(facilitator, "Sam").locator(".tile-flags")).to_have_text("Hand raised")
    for index in range(12):
        assert bottom_of(tiles.nth(index)) <= LAPTOP["height"], f"tile {index + 1} is below the first screen"
    assert_no_axe_violations(facilitator)


def test_a_facilitator_opening_days_early_is_told_what_members_see(signed_in, in_app):
    def a_session_in_three_days():
        group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP))
        starts = utcnow().replace(microsecond=0) + timedelta(days=3)
        occurrence = SessionOccurrence(group_id=group.id, starts_at=starts, duration_minutes=60, is_exception=True)
        db.session.add(occurrence)
        db.session.flush()
        return occurrence.id

    session_id = in_app(a_session_in_three_days)
    facilitator = signed_in("facilitator@example.org")
    facilitator.goto(f"/sessions/{session_id}/room")
    facilitator.get_by_role("button", name="Open the room").click()
    expect(facilitator.locator("#room-status")).to_have_text(re.compile(
        r"^The room is open for you\. Members can come in from \w{3} \d{1,2} \w{3}, \d\d:\d\d, 15 minutes before "
        r"the session\.$"))


def test_the_facilitator_notes_what_was_done_on_the_list_of_past_alerts(signed_in, in_app, visit, assert_fits):
    def sam_asks_for_support():
        sam = db.session.scalar(select(User).where(User.email == "sam@example.org"))
        room_services.need_support(sam, client_id="browser-support-history")

    in_app(sam_asks_for_support)
    sam = signed_in("sam@example.org", viewport=NARROW)  # Sam's home page stays open meanwhile
    expect(sam.locator("#support-call")).to_contain_text("Your facilitator has been told privately.")
    facilitator = signed_in("facilitator@example.org", viewport=NARROW)
    facilitator.get_by_role("link", name="Past alerts and what was done").click()
    expect(facilitator.get_by_role("heading", level=1)).to_have_text("Safety alerts")
    visit(facilitator, "/alerts")
    assert_fits(facilitator)
    item = facilitator.locator(".alert-history > li").first
    expect(item.get_by_role("heading")).to_have_text("Sam asked for support")
    item.get_by_label("What was done (optional, only facilitators of the group see it)").fill("Called Sam: safe.")
    item.get_by_role("button", name="Acknowledge").click()
    expect(facilitator.get_by_text("The alert is acknowledged.")).to_be_visible()
    item = facilitator.locator(".alert-history > li").first
    expect(item).to_contain_text("Acknowledged by Dr. Morgan Lee")
    expect(item).to_contain_text("What was done: Called Sam: safe.")
    visit(facilitator, "/alerts")

    # Sam's open page is told at once, and a reload says the same; what was done stays with the facilitators.
    seen = "Dr. Morgan Lee has seen your message and will be in touch."
    expect(sam.locator("#support-call")).to_have_text(seen)
    sam.reload()
    expect(sam.locator("#support-call")).to_have_text(seen)
    expect(sam.get_by_text("Called Sam")).to_have_count(0)
