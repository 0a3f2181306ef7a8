"""The pair chat in Chromium (issue 12): Alex and Sam, a pair in the demo group, each in a browser context of their
own. Messages reach the other at once, the peer's typing and "seen" show, a message its author deletes goes from both
pages, a pause closes both open chats until it resumes, a page the server disconnected catches up from the database
and keeps its draft, and the page has 0 axe violations on a phone (375 px) and a laptop (1280 px)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import User
from app.demo import DEMO_PASSWORD
from app.extensions import db
from app.groups.demo import DEMO_GROUP
from app.groups.models import TherapyGroup
from app.models_base import utcnow
from app.peers import services as peer_services
from app.peers.models import MemberResponse, PairStatus, PeerPair, PeerPairMember
from app.realtime.sockets import disconnect_user

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
LAPTOP = {"width": 1280, "height": 800}
LIVE = "Live: new messages appear here."


def _user_id(email: str) -> int:
    return db.session.scalar(select(User.id).where(User.email == email))


def _alex_and_sams_pair() -> int:
    """The demo's active pair of Alex and Sam (made here when the demo has none)."""
    alex, sam = _user_id("alex@example.org"), _user_id("sam@example.org")
    mine = select(PeerPairMember.pair_id).where(PeerPairMember.user_id == alex)
    found = db.session.scalar(select(PeerPair.id).join(PeerPairMember).where(
        PeerPair.id.in_(mine), PeerPairMember.user_id == sam, PeerPair.status == PairStatus.ACTIVE))
    if found is not None:
        return found
    group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP))
    pair = PeerPair(organisation_id=group.organisation_id, group_id=group.id, status=PairStatus.ACTIVE,
                    activated_at=utcnow(),
                    members=[PeerPairMember(user_id=alex, response=MemberResponse.ACCEPTED),
                             PeerPairMember(user_id=sam, response=MemberResponse.ACCEPTED)])
    db.session.add(pair)
    db.session.flush()
    return pair.id


def _messages(page):
    return page.locator("#chat-messages")


def test_alex_and_sam_chat_live_and_the_page_passes_axe_on_a_phone_and_a_laptop(signed_in, visit, in_app,
                                                                                 assert_no_axe_violations,
                                                                                 assert_fits):
    pair_id = in_app(_alex_and_sams_pair)
    chat = f"/pairs/{pair_id}/chat"
    alex = signed_in("alex@example.org", viewport=PHONE)
    sam = signed_in("sam@example.org", viewport=LAPTOP)
    visit(alex, chat)
    visit(sam, chat)
    expect(alex.locator("#chat-status")).to_have_text(LIVE)
    expect(sam.locator("#chat-status")).to_have_text(LIVE)

    # Sam starts writing: Alex sees it; Sam sends, and the words reach Alex without a reload.
    sam.get_by_label("Your message", exact=True).press_sequentially("Hi Alex")
    expect(alex.locator("#chat-typing")).to_contain_text("is typing")
    sam.get_by_label("Your message", exact=True).fill("Hi Alex, how did the walk go?")
    sam.get_by_role("button", name="Send").click()
    expect(_messages(alex)).to_contain_text("Hi Alex, how did the walk go?")
    expect(alex.locator("#chat-typing")).to_have_text("")
    expect(sam.get_by_label("Your message", exact=True)).to_have_value("")
    # Alex's page is open and showing it: Sam sees it was seen.
    expect(_messages(sam).locator(".chat-mine").last).to_contain_text("Seen")

    alex.get_by_label("Your message", exact=True).fill("It went well! Around the block twice.")
    alex.get_by_label("Your message", exact=True).press("Tab")
    alex.get_by_role("button", name="Send").press("Enter")
    expect(_messages(sam)).to_contain_text("Around the block twice.")
    # Acknowledged: no longer "Sending…", and with its time.
    expect(_messages(alex).locator(".chat-mine:not(.chat-pending)").filter(has_text="Around the block twice.")) \
        .to_have_count(1)
    assert_fits(alex)
    assert_no_axe_violations(alex)
    assert_no_axe_violations(sam)

    # Sam deletes their message: it goes from both pages at once.
    sam.locator(".chat-mine").filter(has_text="how did the walk go").get_by_role("button", name="Delete").click()
    expect(_messages(alex)).not_to_contain_text("how did the walk go")
    expect(_messages(sam)).not_to_contain_text("how did the walk go")
    expect(sam.locator("#chat-status")).to_have_text("Message deleted.")

    # The server drops Alex's connection; meanwhile Sam writes. Alex's page comes back, reads what it missed from the
    # database, and Alex's half-written draft is still in the box.
    alex.get_by_label("Your message", exact=True).fill("A draft I am still writing")
    in_app(lambda: disconnect_user(_user_id("alex@example.org")))
    expect(alex.locator("#chat-status")).not_to_have_text(LIVE)
    sam.get_by_label("Your message", exact=True).fill("Sent while you were away")
    sam.get_by_role("button", name="Send").click()
    expect(_messages(sam)).to_contain_text("Sent while you were away")
    expect(alex.locator("#chat-status")).to_have_text(LIVE, timeout=15_000)
    expect(_messages(alex)).to_contain_text("Sent while you were away")
    expect(alex.get_by_label("Your message", exact=True)).to_have_value("A draft I am still writing")

    # The draft also survives a reload.
    alex.reload()
    expect(alex.get_by_label("Your message", exact=True)).to_have_value("A draft I am still writing")
    expect(_messages(alex)).to_contain_text("Around the block twice.")
    expect(alex.locator("#chat-status")).to_have_text(LIVE)

    # Sam blocks Alex: the pair ends, and Alex's open chat closes at once.
    in_app(lambda: peer_services.block(db.session.get(User, _user_id("sam@example.org")),
                                       db.session.get(PeerPair, pair_id)))
    expect(alex.locator("#chat-status")).to_have_text("The chat is closed while the pair is paused or has ended.")
    expect(alex.locator("#chat-form")).to_be_hidden()


def _set_paused(pair_id: int, paused: bool) -> None:
    alex, pair = db.session.get(User, _user_id("alex@example.org")), db.session.get(PeerPair, pair_id)
    (peer_services.pause if paused else peer_services.resume)(alex, pair)


def test_a_pause_closes_both_open_chats_and_a_resume_opens_them_again(signed_in, visit, in_app):
    pair_id = in_app(_alex_and_sams_pair)
    chat = f"/pairs/{pair_id}/chat"
    alex = signed_in("alex@example.org", viewport=PHONE)
    sam = signed_in("sam@example.org", viewport=LAPTOP)
    visit(alex, chat)
    visit(sam, chat)
    expect(sam.locator("#chat-status")).to_have_text(LIVE)

    in_app(lambda: _set_paused(pair_id, True))
    for page in (alex, sam):
        expect(page.locator("#chat-status")).to_have_text("The chat is closed while the pair is paused or has ended.")
        expect(page.locator("#chat-form")).to_be_hidden()

    in_app(lambda: _set_paused(pair_id, False))
    sam.reload()
    expect(sam.locator("#chat-status")).to_have_text(LIVE)
    sam.get_by_label("Your message", exact=True).fill("Back after the pause")
    sam.get_by_role("button", name="Send").click()
    alex.reload()
    expect(_messages(alex)).to_contain_text("Back after the pause")


def test_the_chat_works_without_its_script(new_page, in_app):
    """A form that posts and a page the server draws (axe needs a script, so this page is checked with one above)."""
    pair_id = in_app(_alex_and_sams_pair)
    page = new_page(java_script_enabled=False, viewport=PHONE)
    page.goto("/login")
    page.get_by_label("Email").fill("alex@example.org")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("main").get_by_role("button", name="Sign in").click()
    page.goto(f"/pairs/{pair_id}/chat")
    page.get_by_label("Your message", exact=True).fill("Written without the script")
    with page.expect_navigation():
        page.get_by_role("button", name="Send").click()
    expect(_messages(page)).to_contain_text("Written without the script")
    with page.expect_navigation():
        page.locator(".chat-mine").filter(has_text="Written without the script").get_by_role("button").click()
    expect(_messages(page)).not_to_contain_text("Written without the script")
