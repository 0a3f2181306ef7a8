"""The live check-in room in Chromium (issue 4): a facilitator and three members in separate browser contexts.

A member waiting in the lobby enters by themselves when the room opens, check-ins reach everyone live, a pass shows as
such, "I need support now" reaches the facilitator only (once, however often it is pressed), the facilitator
acknowledges it, a member loses nothing to a reload or to a lost connection, and what waits in the browser belongs to
one account and goes when it signs out. The facilitator's home page shows alerts and check-ins between sessions live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts import services as account_services
from app.accounts.models import Organisation, RoleName, User
from app.demo import DEMO_PASSWORD, DEMO_SLUG
from app.extensions import db
from app.groups.demo import DEMO_GROUP
from app.groups.models import Membership, MembershipStatus, SessionOccurrence, TherapyGroup
from app.models_base import utcnow
from app.realtime.sockets import account_sids, disconnect_user
from app.rooms import services as room_services
from app.rooms.models import CheckIn, SafetyAlert

from . import NARROW

pytestmark = pytest.mark.browser

CRISIS_LINE = "Riverside Crisis Line"
ALEX_CHECKIN = "Mood 7/10 · Energy: medium · “Slept better”"


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
    presence = facilitator.locator("#presence li")
    expect(presence).to_have_count(4)
    expect(presence.first).to_contain_text("Dr. Morgan Lee (facilitator) (you)")
    for name in ("Alex", "Sam", "Tay"):
        expect(presence.filter(has_text=name).get_by_role("button", name="Mark as left early")).to_be_visible()
    assert_no_axe_violations(alex)
    assert_fits(alex)

    # Alex checks in in full; everyone sees it (the group shows members each other's check-ins).
    alex.get_by_label("Mood").fill("7")
    expect(alex.locator("#mood-value")).to_have_text("7")
    alex.get_by_label("Medium").check()
    alex.get_by_label("A line to share (optional)").fill("Slept better")
    alex.get_by_role("button", name="Check in").click()
    expect(alex.locator("#own-checkin")).to_have_text(f"Your check-in is saved. {ALEX_CHECKIN}")
    for page in (facilitator, *members):
        expect(page.locator("#checkins li").filter(has_text="Alex")).to_have_text(
            f"Alex: {ALEX_CHECKIN}")

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
    for page in (facilitator, *members):
        expect(page.locator("#checkins li").filter(has_text="Sam")).to_have_text("Sam: Passed")
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
    sam.get_by_label("Mood").fill("6")
    sam.get_by_label("A line to share (optional)").fill("Back again")
    sam.get_by_role("button", name="Check in").click()
    expect(sam.locator("#own-checkin")).to_have_text("Sending your check-in…")
    kept = pending_checkins(sam, live_session.id)
    assert [(item["mood"], item["note"], item["passed"]) for item in kept] == [(6, "Back again", False)]
    expect(facilitator.locator("#checkins li").filter(has_text="Sam")).to_have_text("Sam: Passed")

    sam.context.set_offline(False)
    expect(sam.locator("#own-checkin")).to_have_text("Your check-in is saved. Mood 6/10 · “Back again”",
                                                     timeout=20_000)
    nothing_pending(sam, live_session.id)
    for page in (facilitator, alex, tay):
        expect(page.locator("#checkins li").filter(has_text="Sam")).to_have_text("Sam: Mood 6/10 · “Back again”")

    # Once more, and this time Sam reloads as soon as the connection is back, before the page has reconnected: the
    # check-in kept in storage goes out from the reloaded page, once.
    sam.context.set_offline(True)
    expect(sam.locator("#room-status")).to_have_text("Reconnecting… your check-in is kept and will be sent.")
    sam.get_by_label("Mood").fill("5")
    sam.get_by_label("A line to share (optional)").fill("Still here")
    sam.get_by_role("button", name="Check in").click()
    expect(sam.locator("#own-checkin")).to_have_text("Sending your check-in…")
    sam.context.set_offline(False)
    sam.reload()
    expect(sam.locator("#own-checkin")).to_have_text("Your check-in is saved. Mood 5/10 · “Still here”")
    expect(facilitator.locator("#checkins li").filter(has_text="Sam")).to_have_text("Sam: Mood 5/10 · “Still here”")
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
    expect(facilitator.locator("#checkins li").filter(has_text="Alex")).to_have_text("Alex: Passed")


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
