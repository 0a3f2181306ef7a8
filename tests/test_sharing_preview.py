"""Sharing from the Sharing page (issue 11): the form offers the data period, and before anything is shared the
patient sees the supporter's page exactly as it would be, then confirms or changes it. Nothing is granted by the
preview, and the patient's look at it is not a supporter's look."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select
from supporter_fixtures import *  # noqa: F403
from supporter_fixtures import NOW, grant, hold, link_supporter

from app.audit import AuditEvent
from app.extensions import db
from app.progress import services as progress_services
from app.supporters.models import AccessLog, Consent, DataClass

GOALS, SESSIONS, MOOD = DataClass.GOALS.value, DataClass.SESSIONS.value, DataClass.MOOD.value
GOAL = "Walk to the river twice a week"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def supporter_reads() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "supporter_read"))


def the_goal_set_ten_days_ago(patient, clock):
    progress_services.create_goal(patient, title=GOAL, why="I sleep better after")
    db.session.commit()
    clock.shift(timedelta(days=10))


def test_the_share_form_on_the_sharing_page_offers_the_data_period_and_leads_to_the_preview(
        client, login, patient, supporter):
    link = link_supporter(patient, supporter)
    login(client, patient)
    html = client.get("/sharing").get_data(as_text=True)
    form = html[html.index(f'action="/sharing/supporters/{link.id}/preview"'):]
    form = form[:form.index("</form>")]
    assert f'<input type="date" id="grant-from-{link.id}" name="data_from"' in form
    assert f'<label for="grant-from-{link.id}">Share data from (optional)</label>' in form
    assert "Nothing is shared until you confirm on the next page." in form


def test_the_preview_shows_the_supporters_page_for_the_chosen_period_and_grants_nothing(
        client, login, post, patient, supporter, clock):
    the_goal_set_ten_days_ago(patient, clock)
    link = link_supporter(patient, supporter)
    login(client, patient)
    eleven_days_ago = (NOW - timedelta(days=11)).date().isoformat()

    response = post(client, f"/sharing/supporters/{link.id}/preview",
                    {"data_classes": [GOALS, SESSIONS], "days": "30", "data_from": eleven_days_ago})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "What Sol Supporter will see" in html and "Nothing is shared yet." in html
    # The supporter's own fragment: their headings, of the patient in the third person, with the goal in it.
    preview = html[html.index('id="shared-preview"'):]
    assert "What Pat Patient shares with you" in preview
    assert "Pat Patient&#39;s goals and small wins" in preview
    assert "Pat Patient&#39;s sessions and attendance" in preview
    assert GOAL in preview and "No goals to show yet." not in preview
    # Confirm and Change carry the very terms on.
    for action in (f"/sharing/supporters/{link.id}/consents", f"/sharing/supporters/{link.id}/preview"):
        form = html[html.index(f'action="{action}"'):]
        form = form[:form.index("</form>")]
        assert re.findall(r'name="data_classes" value="([^"]+)"', form) == [GOALS, SESSIONS]
        assert f'name="data_from" value="{eleven_days_ago}"' in form and 'name="days" value="30"' in form
    assert count(Consent) == 0 and count(AccessLog) == 0 and supporter_reads() == 0

    # Confirmed: granted with that data period, and the supporter sees what the preview showed.
    response = post(client, f"/sharing/supporters/{link.id}/consents",
                    {"data_classes": [GOALS, SESSIONS], "days": "30", "data_from": eleven_days_ago})
    assert response.status_code == 302
    consent = db.session.scalar(select(Consent))
    assert sorted(consent.data_classes) == [GOALS, SESSIONS]
    assert consent.data_from == NOW - timedelta(days=11) - timedelta(hours=12) - timedelta(hours=1)  # Berlin midnight


def test_without_a_data_period_the_preview_says_plainly_that_no_goal_will_show(client, login, post, patient,
                                                                               supporter, clock):
    the_goal_set_ten_days_ago(patient, clock)
    link = link_supporter(patient, supporter)
    login(client, patient)
    html = post(client, f"/sharing/supporters/{link.id}/preview",
                {"data_classes": [GOALS], "days": "30"}).get_data(as_text=True)
    assert "No goals to show yet." in html and GOAL not in html
    assert "Nothing from before" in html and "Mon 30 Mar 2026" in html[html.index("Nothing from before"):]


def test_change_brings_the_chosen_terms_back_into_the_form(client, login, post, patient, supporter):
    link = link_supporter(patient, supporter)
    login(client, patient)
    response = post(client, f"/sharing/supporters/{link.id}/preview", {
        "data_classes": [MOOD, GOALS], "days": "45", "data_from": "2026-03-01", "purpose": "So Sol knows",
        "change": "1"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Share with Sol Supporter" in html
    checked = re.findall(r'<input checked id="data_classes-\d" name="data_classes" type="checkbox" value="([^"]+)">',
                         html)  # and no "required" on each box: one of them is enough
    assert sorted(checked) == sorted([MOOD, GOALS])
    assert 'value="45"' in html and 'value="2026-03-01"' in html and "So Sol knows" in html
    assert count(Consent) == 0


def test_a_preview_is_refused_as_the_grant_would_be_and_shows_nothing(client, login, post, patient, supporter,
                                                                     facilitator, sharing_group):
    link = link_supporter(patient, supporter)
    login(client, patient)
    response = post(client, f"/sharing/supporters/{link.id}/preview",
                    {"data_classes": [GOALS], "days": "30", "data_from": "2026-04-01"})
    assert response.status_code == 422
    assert "The data period must start today or earlier." in response.get_data(as_text=True)
    assert post(client, f"/sharing/supporters/{link.id}/preview", {"days": "30"}).status_code == 422

    hold(facilitator, patient, supporter)
    response = post(client, f"/sharing/supporters/{link.id}/preview", {"data_classes": [GOALS], "days": "30"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Sharing with this person is on hold" in html and 'id="shared-preview"' not in html
    assert count(Consent) == 0


def test_only_the_patient_previews_sharing_with_their_own_supporter(app, client, login, post, patient, supporter,
                                                                    other_patient, supporter_client):
    link = link_supporter(patient, supporter)
    login(client, other_patient)
    assert post(client, f"/sharing/supporters/{link.id}/preview",
                {"data_classes": [GOALS], "days": "30"}).status_code == 404
    assert post(supporter_client, f"/sharing/supporters/{link.id}/preview",
                {"data_classes": [GOALS], "days": "30"}).status_code == 403
    login(client, patient)
    assert client.post(f"/sharing/supporters/{link.id}/preview",
                       data={"data_classes": [GOALS], "days": "30"}).status_code == 400  # no CSRF token
    assert count(Consent) == 0


def test_a_preview_adds_nothing_to_an_access_log_already_kept(client, login, post, patient, supporter,
                                                              supporter_client):
    grant(patient, supporter, [SESSIONS])
    assert supporter_client.get(f"/shared/{patient.id}").status_code == 200
    link = link_supporter(patient, supporter)
    login(client, patient)
    looks, reads = count(AccessLog), supporter_reads()
    assert post(client, f"/sharing/supporters/{link.id}/preview",
                {"data_classes": [GOALS], "days": "30"}).status_code == 200
    assert (count(AccessLog), supporter_reads()) == (looks, reads) == (1, 1)
