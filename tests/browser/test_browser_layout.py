"""Signed-out pages at 320 px wide without sideways scrolling or axe violations; the API documentation page.

Signed-in pages get the same checks, per role, in test_browser_accounts.py.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts import services
from app.accounts.models import RoleName, User
from app.extensions import db

from . import NARROW

pytestmark = pytest.mark.browser


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def test_signed_out_pages_fit_320px(new_page, in_app, visit, assert_fits, assert_no_axe_violations):
    def set_up():
        admin = _user("admin@example.org")
        _invitation, code = services.create_invitation(admin, admin.organisation, RoleName.FACILITATOR,
                                                       email="a.very.long.address.for.testing@example.org")
        return code

    invitation_code = in_app(set_up)
    page = new_page(viewport=NARROW)
    for path, status in [("/login", 200), ("/password/forgot", 200), ("/password/reset/not-a-token", 404),
                         ("/crisis", 200), ("/no-such-page", 404), (f"/invitations/{invitation_code}", 200),
                         ("/invitations/not-a-code", 404)]:
        visit(page, path, status)
        assert_fits(page)

    page.goto("/password/forgot")
    page.get_by_label("Email").fill("nobody@example.org")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert_fits(page)
    assert_no_axe_violations(page)

    page.goto("/login")
    page.get_by_label("Email").fill("a.very.long.address.for.testing@example.org")
    page.get_by_label("Password").fill("x")
    page.get_by_role("main").get_by_role("button").click()
    expect(page.locator("main .flashes")).to_contain_text("That email and password do not match an active account.")
    assert_fits(page)
    assert_no_axe_violations(page)


def test_api_documentation_page(page, assert_no_axe_violations, assert_fits):
    page.goto("/api/v1/docs")
    operation = page.locator(".opblock").filter(has_text="/api/v1/auth/tokens").first
    expect(operation).to_be_visible()
    expect(page.get_by_role("main")).to_have_count(1)
    assert_no_axe_violations(page)

    operation.locator(".opblock-summary-control").click()
    page.get_by_role("button", name="Try it out").click()
    expect(operation.locator("textarea")).to_be_visible()
    assert_no_axe_violations(page)
    page.get_by_role("button", name="Authorize").first.click()
    close = page.locator(".modal-ux").get_by_role("button", name="Close").first
    expect(close).to_be_visible()
    assert_no_axe_violations(page)
    close.click()

    page.set_viewport_size(NARROW)
    assert_fits(page)
