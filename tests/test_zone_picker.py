"""The zone picker: the zones people live in, likely ones first, searchable by place; stored aliases still work."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from groups_fixtures import *  # noqa: F403
from page_forms import submit

from app.accounts import services
from app.accounts.models import RoleName, User
from app.extensions import db
from app.groups.models import TherapyGroup
from app.zones import ALIASES, CHOOSABLE, LINKS, equivalent, likely_zones, may_choose

PROFILE = {"display_name": "Pat", "pronouns": "", "locale": "en"}


def offered(html: str, field_id: str = "timezone") -> list[tuple[str, str]]:
    """The suggestions of a zone box, in order: (zone, the place it is shown as)."""
    datalist = re.search(rf'<datalist id="{field_id}-zones">(.*?)</datalist>', html, re.S).group(1)
    return re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)</option>', datalist)


def box_value(html: str, field_id: str = "timezone") -> str:
    tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', html).group(0)
    found = re.search(r'value="([^"]*)"', tag)
    return found.group(1) if found else ""


def test_the_zones_offered_are_places_people_live_with_utc_and_no_legacy_aliases():
    assert {"Europe/Berlin", "America/New_York", "Asia/Kolkata", "Europe/Kyiv", "UTC"} <= CHOOSABLE
    assert {"US/Eastern", "GB", "Asia/Calcutta", "Europe/Kiev", "EST5EDT", "Etc/GMT+5", "Etc/UTC"}.isdisjoint(CHOOSABLE)
    assert [name for name in CHOOSABLE if name.startswith("Etc/") or "/" not in name] == ["UTC"]
    for name in CHOOSABLE:
        ZoneInfo(name)


def test_an_alias_stands_for_the_zone_it_links_to():
    assert equivalent("US/Eastern") == "America/New_York"
    assert equivalent("Asia/Calcutta") == "Asia/Kolkata"
    assert equivalent("GB") == "Europe/London"
    assert equivalent("Etc/GMT+5") is None and equivalent("Mars/Olympus_Mons") is None
    assert "Asia/Calcutta" in ALIASES["Asia/Kolkata"]
    assert all(equivalent(alias) in CHOOSABLE or equivalent(alias) is None for alias in LINKS)


def test_a_stored_zone_may_stay_but_a_new_one_must_be_offered():
    assert may_choose("Europe/Berlin") and may_choose("US/Eastern", kept="US/Eastern")
    assert not may_choose("US/Eastern") and not may_choose("US/Eastern", kept="Europe/Berlin")
    assert not may_choose("Factory", kept="Factory")  # it does not load


def test_likely_zones_are_ones_own_then_the_organisations_then_the_languages_common_ones():
    assert likely_zones("Europe/Berlin", "Pacific/Auckland", language="en")[:4] == [
        "Europe/Berlin", "Pacific/Auckland", "Europe/London", "Europe/Dublin"]
    assert likely_zones("US/Eastern", None, language="es")[:3] == ["America/New_York", "Europe/Madrid",
                                                                   "Atlantic/Canary"]


def test_the_profile_offers_the_likely_zones_first_then_every_other_once(client, login, patient):
    patient.organisation.timezone = "Pacific/Auckland"
    db.session.commit()
    login(client, patient)

    options = offered(client.get("/profile").text)

    names = [name for name, _place in options]
    assert names[:3] == ["Europe/Berlin", "Pacific/Auckland", "Europe/London"]
    assert sorted(names) == sorted(CHOOSABLE) and len(names) == len(set(names))


def test_each_zone_is_named_by_its_place_in_the_readers_language(client, login, patient):
    login(client, patient)
    assert ("Europe/Berlin", "Berlin · Germany") in offered(client.get("/profile").text)

    patient.locale = "es"
    db.session.commit()
    options = offered(client.get("/profile").text)
    assert ("Europe/Berlin", "Berlín · Alemania") in options
    # After their own and their organisation's: the zones of Spanish speakers, before the rest from A to Z.
    assert [name for name, _place in options][:4] == ["Europe/Berlin", "UTC", "Europe/Madrid", "Atlantic/Canary"]


def test_the_zone_box_suggests_without_scripts(client, login, patient):
    login(client, patient)
    page = client.get("/profile").text

    tag = re.search(r'<input[^>]*id="timezone"[^>]*>', page).group(0)
    assert 'list="timezone-zones"' in tag and 'type="text"' in tag and "required" in tag
    assert box_value(page) == "Europe/Berlin"


def test_the_profile_refuses_a_legacy_alias_as_a_new_choice(client, login, patient):
    login(client, patient)

    response = submit(client, "/profile", {**PROFILE, "timezone": "US/Eastern"})

    assert "Choose a time zone from the list." in response.text
    db.session.expire_all()
    assert db.session.get(User, patient.id).timezone == "Europe/Berlin"


def test_a_stored_alias_shows_as_its_zone_and_is_saved_as_it(client, login, patient):
    patient.timezone = "US/Eastern"
    db.session.commit()
    login(client, patient)

    page = client.get("/profile").text
    assert box_value(page) == "America/New_York"
    assert "is no longer available" not in page  # it still loads: nothing is lost

    submit(client, "/profile", {**PROFILE, "timezone": box_value(page)})
    db.session.expire_all()
    assert db.session.get(User, patient.id).timezone == "America/New_York"


def test_a_stored_zone_that_is_no_longer_offered_may_stay_as_it_is(client, login, patient):
    patient.timezone = "Etc/GMT+5"
    db.session.commit()
    login(client, patient)

    page = client.get("/profile").text
    response = submit(client, "/profile", {**PROFILE, "timezone": "Etc/GMT+5"})

    assert box_value(page) == "Etc/GMT+5"
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, patient.id).timezone == "Etc/GMT+5"


def test_a_stored_zone_that_no_longer_loads_leaves_the_box_empty_to_choose_again(client, login, patient):
    patient.timezone = "US/Pacific-New"
    db.session.commit()
    login(client, patient)

    page = client.get("/profile").text

    assert box_value(page) == ""
    assert "Your time zone (US/Pacific-New) is no longer available" in page


@pytest.mark.parametrize(("new_zone", "saved"), [("GB", False), ("Europe/London", True)])
def test_a_groups_zone_is_chosen_from_the_offered_ones(client, login, group_with_members, facilitator, new_zone,
                                                       saved):
    login(client, facilitator)
    page = client.get(f"/groups/{group_with_members.id}/edit").text
    assert ("Europe/Berlin", "Berlin · Germany") in offered(page)

    form = {"name": group_with_members.name, "format": "online", "video_link": "https://video.example.org/room",
            "capacity": "8", "enrolment": "rolling", "status": "active", "timezone": new_zone,
            "checkin_visibility": "all", "distress_threshold": "2", "lobby_minutes": "15"}
    submit(client, f"/groups/{group_with_members.id}/edit", form)

    db.session.expire_all()
    assert (db.session.get(TherapyGroup, group_with_members.id).timezone == "Europe/London") == saved


def test_a_group_keeps_a_stored_alias_when_its_other_settings_change(client, login, group_with_members, facilitator):
    group_with_members.timezone = "Etc/GMT-1"
    db.session.commit()
    login(client, facilitator)

    form = {"name": "Renamed group", "format": "online", "video_link": "https://video.example.org/room",
            "capacity": "8", "enrolment": "rolling", "status": "active", "timezone": "Etc/GMT-1",
            "checkin_visibility": "all", "distress_threshold": "2", "lobby_minutes": "15"}
    response = submit(client, f"/groups/{group_with_members.id}/edit", form)

    assert response.status_code == 302
    db.session.expire_all()
    group = db.session.get(TherapyGroup, group_with_members.id)
    assert (group.name, group.timezone) == ("Renamed group", "Etc/GMT-1")


def test_a_new_account_from_an_invitation_gets_an_offered_zone_only(client, app, admin, organisation):
    with app.test_request_context():
        _invitation, code = services.create_invitation(admin, organisation, RoleName.FACILITATOR, "nia@example.org")
        db.session.commit()

    page = client.get(f"/invitations/{code}").text
    refused = submit(client, f"/invitations/{code}", {"display_name": "Nia", "email": "nia@example.org",
                                                       "password": "a long enough passphrase", "timezone": "GB"})

    assert box_value(page) == "" and offered(page)
    assert "Choose a time zone from the list." in refused.text
