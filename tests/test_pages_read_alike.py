"""Every page shows a moment one way (in the reader's zone and language, without seconds), holds each id once, and
puts what a new member has still to do first."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from groups_fixtures import *  # noqa: F403
from groups_fixtures import occurrences_of
from page_checks import duplicate_ids, shown_times
from sqlalchemy import select

from app.accounts import services as account_services
from app.accounts.models import RoleName
from app.extensions import db
from app.groups import schedules, services
from app.groups.models import Membership, MembershipStatus

DAY = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}"
CLOCK = r"\d{2}:\d{2}"
#: The English forms: a day, a time, both, and a session's time with the reader's city.
ONE_WAY = re.compile(rf"^(?:{DAY}|{CLOCK}|{DAY}, {CLOCK}(?:, [A-Z][\w .'-]+ time)?)$")
SPANISH = re.compile(r"^(lun|mar|mié|jue|vie|sáb|dom), \d{1,2} \w{3} \d{4}, \d{1,2}:\d{2}(?:, hora de .+|, .+)?$")


@pytest.fixture
def full_group(app, group_with_members, facilitator, patient, clock):
    """The Berlin group with a note, an extra session, a moved session, a staff invitation and an API token."""
    group = group_with_members
    sessions = occurrences_of(group)
    with app.test_request_context():
        services.add_note(facilitator, group, "A calm start.", occurrence=sessions[1], member=patient)
        schedules.add_extra_session(facilitator, group, start_local=datetime(2026, 4, 20, 10, 0), duration_minutes=60)
        schedules.update_occurrence(facilitator, sessions[5], start_local=datetime(2026, 4, 10, 9, 30),
                                    duration_minutes=90)
        account_services.create_invitation(facilitator, group.organisation, RoleName.FACILITATOR, "new@example.org")
        account_services.create_api_token(patient, "My phone")
        db.session.commit()
    return group


def pages_of(group, patient) -> dict[str, list[str]]:
    sessions = occurrences_of(group)
    membership = db.session.scalar(select(Membership).where(Membership.group_id == group.id,
                                                           Membership.user_id == patient.id))
    return {
        "facilitator": [f"/groups/{group.id}", f"/groups/{group.id}/schedule", f"/groups/{group.id}/edit",
                        f"/sessions/{sessions[1].id}", f"/sessions/{sessions[1].id}/notes",
                        f"/sessions/{sessions[1].id}/attendance",
                        f"/groups/{group.id}/members/{membership.id}/notes", "/profile", "/"],
        "patient": [f"/groups/{group.id}", f"/sessions/{sessions[4].id}", "/profile", "/"],
        "admin": ["/admin/people", "/admin/audit", "/admin/organisation", "/profile"],
    }


def test_every_moment_shown_reads_one_way_without_seconds(client, login, full_group, facilitator, patient, admin):
    seen = []
    for who, user in (("facilitator", facilitator), ("patient", patient), ("admin", admin)):
        login(client, user)
        for path in pages_of(full_group, patient)[who]:
            response = client.get(path)
            assert response.status_code == 200, path
            times = shown_times(response.text)
            seen += [(path, text) for _machine, text in times]
            for _machine, text in times:
                assert not re.search(r"\d:\d{2}:\d{2}", text), (path, text)
                assert ONE_WAY.match(text), (path, text)
    # Pages with moments on them were among those read: sessions, notes, invitations, tokens, the audit trail.
    assert {"/admin/people", "/admin/audit", "/profile", f"/groups/{full_group.id}"} <= {path for path, _ in seen}


def test_a_moment_reads_in_the_readers_zone(client, login, full_group, facilitator):
    login(client, facilitator)  # Berlin
    first = occurrences_of(full_group)[0]  # Thursday 5 March, 18:00 in Berlin

    page = client.get(f"/sessions/{first.id}").text

    assert "Thu 5 Mar 2026, 18:00, Berlin time" in [text for _m, text in shown_times(page)]


def test_spanish_readers_read_spanish_dates_the_same_way_everywhere(client, login, full_group, patient):
    patient.locale = "es"
    db.session.commit()
    login(client, patient)

    for path in (f"/groups/{full_group.id}", "/profile"):
        for _machine, text in shown_times(client.get(path).text):
            assert not re.search(r"\d:\d{2}:\d{2}", text)
            assert SPANISH.match(text), (path, text)


def test_no_page_holds_an_id_twice(client, login, full_group, facilitator, patient, admin):
    for who, user in (("facilitator", facilitator), ("patient", patient), ("admin", admin)):
        login(client, user)
        for path in pages_of(full_group, patient)[who]:
            assert duplicate_ids(client.get(path).text) == {}, path


def test_the_schedule_page_holds_two_lengths_with_an_id_each(client, login, full_group, facilitator):
    login(client, facilitator)

    page = client.get(f"/groups/{full_group.id}/schedule").text

    assert 'id="series_duration_minutes"' in page and 'id="duration_minutes"' in page
    assert 'for="series_duration_minutes"' in page


def test_duplicate_ids_are_found():
    assert duplicate_ids('<p id="a"></p><input id="a"><b id="b"></b>') == {"a": 2}


def test_an_extra_session_says_so_and_a_moved_one_says_it_changed(client, login, full_group, facilitator):
    login(client, facilitator)
    sessions = occurrences_of(full_group)
    extra = next(o for o in sessions if o.is_extra)
    moved = next(o for o in sessions if o.is_exception and not o.is_extra)

    page = client.get(f"/groups/{full_group.id}").text

    def line(occurrence) -> str:
        return page.split(f'href="/sessions/{occurrence.id}">')[1].split("</a>")[0]

    assert 'class="badge badge-info">Extra session' in line(extra) and "Changed" not in line(extra)
    assert 'class="badge badge-warn">Changed' in line(moved)


def test_every_badge_says_which_state_it_shows(client, login, full_group, facilitator, patient, admin):
    for who, user in (("facilitator", facilitator), ("patient", patient), ("admin", admin)):
        login(client, user)
        for path in pages_of(full_group, patient)[who]:
            for classes in re.findall(r'class="([^"]*\bbadge\b[^"]*)"', client.get(path).text):
                assert re.search(r"\bbadge-(ok|warn|danger|info|muted)\b", classes), (path, classes)


# A new member: what joining still asks comes first -------------------------------------------------------------------


def test_an_invited_member_finds_finishing_joining_first_on_their_home_page(client, login, make_group, facilitator,
                                                                           make_user):
    group = make_group(facilitator, name="Thursday group")
    newcomer = make_user(RoleName.PATIENT, display_name="Nia")
    db.session.add(Membership(group_id=group.id, user_id=newcomer.id, status=MembershipStatus.INVITED))
    db.session.commit()
    login(client, newcomer)

    page = client.get("/").text

    assert page.index(f'href="/groups/{group.id}/join"') < page.index('id="checkin-heading"')
    assert "Finish joining Thursday group" in page


def test_a_member_who_accepted_the_current_agreement_is_not_asked_to_read_it(client, login, group_with_members,
                                                                            patient):
    login(client, patient)

    assert "agreement-changed-heading" not in client.get("/").text


def test_a_changed_agreement_comes_first_on_the_group_page_and_home(app, client, login, group_with_members,
                                                                   facilitator, patient):
    with app.test_request_context():
        services.update_agreement(facilitator, group_with_members, "We listen, and we keep what is said here.")
        db.session.commit()
    login(client, patient)

    group_page = client.get(f"/groups/{group_with_members.id}").text
    home = client.get("/").text

    assert group_page.index('id="agreement-heading"') < group_page.index('id="next-heading"')
    assert f"/groups/{group_with_members.id}/agreement/accept" in group_page
    assert home.index('id="agreement-changed-heading"') < home.index('id="checkin-heading"')
    assert "Read the new agreement of" in home


def test_an_accepted_agreement_stays_below_the_sessions(client, login, group_with_members, patient):
    login(client, patient)

    page = client.get(f"/groups/{group_with_members.id}").text

    assert page.index('id="next-heading"') < page.index('id="agreement-heading"')
