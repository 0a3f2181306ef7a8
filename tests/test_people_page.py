"""The admin's people page: everyone in the organisation, found by name or email, and deactivated when need be."""

from __future__ import annotations

import re

import pytest
from page_forms import is_signed_in, submit
from sqlalchemy import select

from app.accounts.models import ApiToken, LoginSession, RoleName, User
from app.audit import AuditEvent
from app.extensions import db


def names_listed(html: str) -> list[str]:
    return re.findall(r'<li class="card person" id="person-\d+">\s*<h3>([^<]*)</h3>', html)


@pytest.fixture
def clinic(make_user, admin, facilitator):
    """An organisation with a member and a supporter besides its staff."""
    member = make_user(RoleName.PATIENT, display_name="Alex Member", email="alex.member@example.org")
    helper = make_user(RoleName.SUPPORTER, display_name="Jordan Supporter", email="jordan.s@example.org")
    return {"admin": admin, "facilitator": facilitator, "member": member, "supporter": helper}


def test_the_admin_sees_staff_members_and_supporters_with_their_roles(client, login, clinic):
    login(client, clinic["admin"])

    page = client.get("/admin/people").text

    assert set(names_listed(page)) == {u.display_name for u in clinic.values()}
    member_card = page.split('id="person-%d"' % clinic["member"].id)[1].split("</li>")[0]
    assert "Member" in member_card and "Active" in member_card


def test_a_members_email_is_never_shown_only_staff_emails_are(client, login, clinic):
    login(client, clinic["admin"])

    page = client.get("/admin/people").text

    assert clinic["facilitator"].email in page
    assert clinic["member"].email not in page and clinic["supporter"].email not in page


def test_search_finds_by_part_of_a_name(client, login, clinic):
    login(client, clinic["admin"])

    assert names_listed(client.get("/admin/people?q=alex").text) == ["Alex Member"]
    assert names_listed(client.get("/admin/people?q=SUPPORT").text) == ["Jordan Supporter"]


def test_search_finds_a_member_by_their_whole_email_but_not_by_a_part_of_it(client, login, clinic):
    login(client, clinic["admin"])

    assert names_listed(client.get("/admin/people?q=Alex.Member@Example.org").text) == ["Alex Member"]
    assert names_listed(client.get("/admin/people?q=jordan.s@example.org").text) == ["Jordan Supporter"]
    # A part of a member's address would let an admin spell it out letter by letter.
    assert names_listed(client.get("/admin/people?q=alex.member@").text) == []


def test_search_finds_staff_by_part_of_their_email(client, login, clinic):
    login(client, clinic["admin"])
    part = clinic["facilitator"].email.split("@")[0]

    assert names_listed(client.get(f"/admin/people?q={part}").text) == [clinic["facilitator"].display_name]


def test_search_treats_wildcards_as_plain_text(client, login, clinic):
    login(client, clinic["admin"])

    assert names_listed(client.get("/admin/people?q=%25").text) == []
    assert names_listed(client.get("/admin/people?q=_").text) == []


@pytest.mark.parametrize(("role", "who"), [("patient", "member"), ("supporter", "supporter"),
                                           ("facilitator", "facilitator"), ("admin", "admin")])
def test_the_role_filter_shows_that_role_only(client, login, clinic, role, who):
    login(client, clinic["admin"])

    assert names_listed(client.get(f"/admin/people?role={role}").text) == [clinic[who].display_name]


def test_an_unknown_role_in_the_filter_is_refused_with_a_message_and_everyone_listed(client, login, clinic):
    login(client, clinic["admin"])

    page = client.get("/admin/people?role=owner").text

    assert "Not a valid choice" in page
    assert len(names_listed(page)) == 4


def test_a_long_list_comes_a_page_at_a_time_keeping_the_search(client, login, admin, make_user):
    for n in range(30):
        make_user(RoleName.PATIENT, display_name=f"Member {n:02d}")
    login(client, admin)

    first = client.get("/admin/people?q=member").text
    second = client.get("/admin/people?q=member&page=2").text

    assert names_listed(first) == [f"Member {n:02d}" for n in range(25)]
    assert names_listed(second) == [f"Member {n:02d}" for n in range(25, 30)]
    assert 'href="/admin/people?q=member&amp;page=2" rel="next"' in first
    assert "Page 2 of 2." in second


def test_each_look_at_the_list_is_in_the_audit_trail(client, login, clinic):
    login(client, clinic["admin"])

    client.get("/admin/people?role=patient")

    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "people_viewed")).one()
    assert event.actor_id == clinic["admin"].id
    assert '"role": "patient"' in event.details and '"shown": 1' in event.details


@pytest.mark.parametrize("who", ["member", "supporter"])
def test_deactivating_a_member_or_supporter_ends_their_sessions_and_tokens_and_is_audited(
        app, client, login, api_token, clinic, who):
    account = clinic[who]
    device = app.test_client()
    login(device, account)
    bearer = api_token(account)
    login(client, clinic["admin"])

    response = submit(client, "/admin/people?q=alex", {},
                      action=f"/admin/people/{account.id}/deactivate?next=/admin/people?q%3Dalex")

    assert response.status_code == 302 and response.location.endswith("/admin/people?q=alex")
    assert not is_signed_in(device)
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 401
    db.session.expire_all()
    assert not db.session.get(User, account.id).active
    sessions = db.session.scalars(select(LoginSession).where(LoginSession.user_id == account.id)).all()
    assert {s.end_reason for s in sessions} == {"deactivated"}
    assert all(t.revoked_at for t in db.session.scalars(select(ApiToken).where(ApiToken.user_id == account.id)))
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "account_deactivate")).one()
    assert (event.actor_id, event.subject_id) == (clinic["admin"].id, account.id)


def test_a_deactivated_member_is_shown_so_and_can_be_reactivated(client, login, clinic):
    member = clinic["member"]
    login(client, clinic["admin"])
    submit(client, "/admin/people", {}, action=f"/admin/people/{member.id}/deactivate")

    card = client.get("/admin/people?q=alex").text
    assert "Deactivated" in card and f"/admin/people/{member.id}/reactivate" in card

    submit(client, "/admin/people", {}, action=f"/admin/people/{member.id}/reactivate")
    db.session.expire_all()
    assert db.session.get(User, member.id).active
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "account_reactivate")).one().subject_id \
        == member.id


def test_deactivation_asks_first_saying_what_it_does(client, login, clinic):
    login(client, clinic["admin"])

    card = client.get("/admin/people?q=alex").text.split('id="person-%d"' % clinic["member"].id)[1]

    fold = card.split('<details class="fold">')[1].split("</details>")[0]
    assert "signed out on every device" in fold
    assert f"/admin/people/{clinic['member'].id}/deactivate" in fold


def test_an_admin_of_another_organisation_neither_sees_nor_deactivates_a_member(
        client, login, clinic, make_organisation, make_user):
    outsider = make_user(RoleName.ADMIN, make_organisation(name="Hillside Clinic"))
    login(client, outsider)

    listed = client.get("/admin/people?q=alex.member@example.org").text
    response = submit(client, "/admin/people", {}, action=f"/admin/people/{clinic['member'].id}/deactivate")

    assert names_listed(listed) == []
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(User, clinic["member"].id).active


def test_a_facilitator_cannot_list_or_deactivate_a_member(client, login, clinic):
    login(client, clinic["facilitator"])

    listed = client.get("/admin/people")
    response = submit(client, "/profile", {}, action=f"/admin/people/{clinic['member'].id}/deactivate")

    assert listed.status_code == 403
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(User, clinic["member"].id).active


def test_second_factors_are_reset_for_staff_only(client, login, clinic):
    login(client, clinic["admin"])

    response = submit(client, "/admin/people", {}, action=f"/admin/people/{clinic['member'].id}/reset-second-factor")

    assert response.status_code == 404
