"""The audit page: an organisation's admins read its rows of the trail (filtered by person, whose data, kind and days
in their own time zone, paged), export exactly those rows as CSV, and see whether the whole chain verifies; nobody
else reads a row, and every reading is itself recorded."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from sqlalchemy import select, text

from app import audit
from app.accounts.labels import ACTION_LABELS, action_label
from app.accounts.models import RoleName
from app.audit import AuditEvent
from app.extensions import db
from app.supporters.models import ConsentState

APP = Path(__file__).resolve().parents[1] / "app"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def record_at(when: datetime, target: str, *, action: str = "supporter_read", actor=None, subject=None,
              organisation=None, details: dict | None = None) -> None:
    """One row of the trail written at `when` (UTC), told apart from the others by its target."""
    with time_machine.travel(when, tick=False):
        audit.record(action, actor=actor, subject=subject, target=target, details=details,
                     organisation_id=organisation.id if organisation is not None else None)
    db.session.commit()


def probes(html: str) -> set[str]:
    """The probe rows (targets "probe:...") a page shows."""
    return set(re.findall(r"probe:[\w-]+", html))


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))


@pytest.fixture
def other_organisation(make_organisation):
    return make_organisation(name="Hillside Clinic")


@pytest.fixture
def other_admin(make_user, other_organisation):
    return make_user(RoleName.ADMIN, organisation_=other_organisation, display_name="Olive Otheradmin")


@pytest.fixture
def as_admin(client, login, admin):
    login(client, admin)
    return client


@pytest.fixture
def rows(organisation, other_organisation, admin, facilitator, patient, other_patient, other_admin):
    """Probe rows of both organisations: who did what with whose data, over a few days."""
    record_at(utc(2026, 3, 2, 9), "probe:fran-reads-pat", action="note_read", actor=facilitator, subject=patient,
              organisation=organisation)
    record_at(utc(2026, 3, 3, 9), "probe:fran-reads-olly", action="note_read", actor=facilitator,
              subject=other_patient, organisation=organisation)
    record_at(utc(2026, 3, 4, 9), "probe:pat-checks-in", action="checkin", actor=patient, subject=patient,
              organisation=organisation)
    record_at(utc(2026, 3, 5, 9), "probe:avery-deactivates-fran", action="account_deactivate", actor=admin,
              subject=facilitator, organisation=organisation)
    record_at(utc(2026, 3, 5, 10), "probe-other:hillside", action="note_read", actor=other_admin,
              subject=other_admin, organisation=other_organisation)


ALL_PROBES = {"probe:fran-reads-pat", "probe:fran-reads-olly", "probe:pat-checks-in", "probe:avery-deactivates-fran"}


# Who may read it -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/audit", "/admin/audit/export"])
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


@pytest.mark.parametrize("role", ["patient", "facilitator", "supporter"])
@pytest.mark.parametrize("path", ["/admin/audit", "/admin/audit/export"])
def test_patients_facilitators_and_supporters_are_refused(client, login, rows, request, role, path):
    login(client, request.getfixturevalue(role))

    response = client.get(path)

    assert response.status_code == 403
    assert not probes(response.text)


def test_an_admin_reads_their_organisations_rows_and_never_anothers(as_admin, rows):
    response = as_admin.get("/admin/audit")

    assert response.status_code == 200
    assert probes(response.text) == ALL_PROBES
    assert "probe-other" not in response.text and "Olive Otheradmin" not in response.text


def test_another_organisations_admin_never_sees_a_row_of_this_one(client, login, other_admin, rows, facilitator,
                                                                  patient):
    login(client, other_admin)

    page = client.get("/admin/audit")
    assert page.status_code == 200
    assert "probe-other:hillside" in page.text
    assert not probes(page.text)
    assert facilitator.display_name not in page.text and patient.display_name not in page.text

    # Reaching for this organisation's people by their ids finds no one, and no row.
    for query in (f"actor={facilitator.id}", f"subject={patient.id}"):
        for path in ("/admin/audit", "/admin/audit/export"):
            response = client.get(f"{path}?{query}")
            assert response.status_code == 422, (path, query)
            assert "No one at your organisation has this id" in response.text
            assert not probes(response.text) and "probe-other" not in response.text


def test_the_navigation_and_home_page_lead_admins_to_it_and_no_one_else(client, login, admin, patient):
    login(client, admin)
    assert 'href="/admin/audit"' in client.get("/").text

    login(client, patient)
    assert 'href="/admin/audit"' not in client.get("/").text


# Filters --------------------------------------------------------------------------------------------------------------


def test_filtering_by_the_person_who_acted(as_admin, rows, facilitator, patient):
    assert probes(as_admin.get(f"/admin/audit?actor={facilitator.id}").text) == {
        "probe:fran-reads-pat", "probe:fran-reads-olly"}
    assert probes(as_admin.get(f"/admin/audit?actor={patient.id}").text) == {"probe:pat-checks-in"}


def test_filtering_by_whose_data_was_touched(as_admin, rows, patient, other_patient, facilitator):
    assert probes(as_admin.get(f"/admin/audit?subject={patient.id}").text) == {
        "probe:fran-reads-pat", "probe:pat-checks-in"}
    assert probes(as_admin.get(f"/admin/audit?subject={other_patient.id}").text) == {"probe:fran-reads-olly"}
    assert probes(as_admin.get(f"/admin/audit?actor={facilitator.id}&subject={patient.id}").text) == {
        "probe:fran-reads-pat"}


def test_filtering_by_kind_offers_labels_not_codes(as_admin, rows):
    response = as_admin.get("/admin/audit?kind=note_read")

    assert probes(response.text) == {"probe:fran-reads-pat", "probe:fran-reads-olly"}
    assert '<option selected value="note_read">Facilitator notes read</option>' in response.text
    assert '<option value="account_deactivate">Account deactivated</option>' in response.text
    assert ">note_read<" not in response.text


def test_a_kind_without_a_label_is_offered_and_shown_in_a_readable_form(as_admin, organisation, admin):
    record_at(utc(2026, 3, 2, 9), "probe:future", action="some_future_thing", actor=admin, organisation=organisation)

    response = as_admin.get("/admin/audit?kind=some_future_thing")

    assert probes(response.text) == {"probe:future"}
    assert '<option selected value="some_future_thing">Some future thing</option>' in response.text
    assert action_label("some_future_thing") == "Some future thing"


# The first and last minute of 10 March 2026, in each zone, in UTC; just outside them, the day before and after.
DAY_EDGES = {
    "Pacific/Auckland": (utc(2026, 3, 9, 11, 0), utc(2026, 3, 10, 10, 59)),  # NZDT, UTC+13
    "America/Los_Angeles": (utc(2026, 3, 10, 7, 0), utc(2026, 3, 11, 6, 59)),  # PDT since 8 March, UTC-7
}


@pytest.mark.parametrize("zone", sorted(DAY_EDGES))
def test_dates_are_days_in_the_admins_own_zone_at_their_edges(client, login, admin, organisation, zone):
    first, last = DAY_EDGES[zone]
    record_at(first - timedelta(seconds=1), "probe:day-before", actor=admin, organisation=organisation)
    record_at(first, "probe:first-minute", actor=admin, organisation=organisation)
    record_at(last + timedelta(seconds=59), "probe:last-minute", actor=admin, organisation=organisation)
    record_at(last + timedelta(minutes=1), "probe:day-after", actor=admin, organisation=organisation)
    admin.timezone = zone
    db.session.commit()
    login(client, admin)

    assert probes(client.get("/admin/audit?start=2026-03-10&end=2026-03-10").text) == {
        "probe:first-minute", "probe:last-minute"}
    assert probes(client.get("/admin/audit?start=2026-03-10").text) == {
        "probe:first-minute", "probe:last-minute", "probe:day-after"}
    assert probes(client.get("/admin/audit?end=2026-03-10").text) == {
        "probe:day-before", "probe:first-minute", "probe:last-minute"}
    # Shown in the admin's zone: both rows on 10 March (in UTC one of them is on the 9th or the 11th).
    page = client.get("/admin/audit?start=2026-03-10&end=2026-03-10").text
    rows = re.findall(r'<td><time datetime="[^"]*">([^<]*)</time>', page)
    assert len(rows) == 2 and all(row.startswith("Tue 10 Mar 2026, ") for row in rows), rows


def test_paging_keeps_the_filters_and_shows_fifty_a_page(as_admin, organisation, admin, patient, facilitator):
    for n in range(120):
        record_at(utc(2026, 3, 1, 0, n // 60, n % 60), f"probe:read-{n:03d}", actor=facilitator, subject=patient,
                  organisation=organisation, action="note_read")
    record_at(utc(2026, 3, 2), "probe:other-kind", actor=facilitator, subject=patient, organisation=organisation)

    first = as_admin.get(f"/admin/audit?kind=note_read&subject={patient.id}")
    assert len(probes(first.text)) == 50
    assert "120 events match." in first.text and "Page 1 of 3" in first.text
    assert probes(first.text) == {f"probe:read-{n:03d}" for n in range(70, 120)}  # newest first

    next_link = re.search(r'<a href="([^"]+)" rel="next">', first.text).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(next_link).query) == {"kind": ["note_read"], "subject": [str(patient.id)],
                                                   "page": ["2"]}
    second = as_admin.get(next_link)
    assert probes(second.text) == {f"probe:read-{n:03d}" for n in range(20, 70)}

    third = as_admin.get(f"/admin/audit?kind=note_read&subject={patient.id}&page=3")
    assert probes(third.text) == {f"probe:read-{n:03d}" for n in range(20)}
    assert 'rel="next"' not in third.text
    previous = re.search(r'<a href="([^"]+)" rel="prev">', third.text).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(previous).query)["kind"] == ["note_read"]


@pytest.mark.parametrize(("query", "message"), [
    ("actor=999999", "No one at your organisation has this id"),
    ("subject=not-a-number", "No one at your organisation has this id"),
    ("actor=99999999999999999999999999", "No one at your organisation has this id"),
    ("kind=no_such_kind", "Choose a kind of event from the list."),
    ("start=2026-02-30", "Enter a date as year-month-day"),
    ("end=next+tuesday", "Enter a date as year-month-day"),
    ("start=2026-03-10&end=2026-03-09", "The end date is before the start date."),
    ("start=1899-12-31", "Choose a date between 1900 and 2200."),
    ("end=2201-01-01", "Choose a date between 1900 and 2200."),
    ("start=0001-01-01", "Choose a date between 1900 and 2200."),
    ("end=9999-12-31", "Choose a date between 1900 and 2200."),
])
@pytest.mark.parametrize("path", ["/admin/audit", "/admin/audit/export"])
def test_bad_filter_input_gets_a_message_on_the_form_and_no_rows(as_admin, rows, path, query, message):
    response = as_admin.get(f"{path}?{query}")

    assert response.status_code == 422
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert "Correct the filters above to see the events." in response.text
    assert not probes(response.text)


def test_a_page_number_that_is_not_one_is_the_first_page(as_admin, rows):
    assert probes(as_admin.get("/admin/audit?page=abc").text) == ALL_PROBES
    assert probes(as_admin.get("/admin/audit?page=-3").text) == ALL_PROBES


def test_an_empty_result_says_what_to_do(as_admin, rows, admin):
    response = as_admin.get("/admin/audit?start=2030-01-01")

    assert response.status_code == 200
    assert "No events match these filters." in response.text
    assert "clear the filters" in response.text


# What the page shows and withholds -----------------------------------------------------------------------------------


def test_free_text_people_wrote_is_withheld_and_members_emails_are_not_shown(as_admin, organisation, facilitator,
                                                                             patient):
    record_at(utc(2026, 3, 2), "probe:hold", action="supporter_hold", actor=facilitator, subject=patient,
              organisation=organisation, details={"reason": "matrix-like private hold reason"})
    record_at(utc(2026, 3, 3), "probe:invite", action="invitation_create", actor=patient, organisation=organisation,
              details={"role": "supporter", "context": {"relationship": "my sister who knows", "patient_id": 1}})

    page = as_admin.get("/admin/audit").text
    export = as_admin.get("/admin/audit/export").get_data(as_text=True)

    for answer in (page, export):
        assert "private hold reason" not in answer and "my sister who knows" not in answer
        assert "withheld" in answer
        assert patient.email not in answer
    assert facilitator.email in export  # staff addresses are no secret inside the organisation


# The chain -----------------------------------------------------------------------------------------------------------


def test_the_page_says_the_whole_trail_verifies_up_to_its_last_event(as_admin, rows):
    last = db.session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))

    response = as_admin.get("/admin/audit")

    assert "The trail is intact" in response.text
    assert f"({last.seq} events)" in response.text
    assert "The whole trail, all organisations, was checked" in response.text
    assert f'<time datetime="{last.occurred_at.isoformat()}">' in response.text


def test_the_page_says_where_the_trail_is_broken_after_a_row_is_edited(as_admin, rows, patient):
    row = db.session.scalar(select(AuditEvent).where(AuditEvent.target == "probe:pat-checks-in"))
    seq = row.seq
    assert "The trail is intact" in as_admin.get("/admin/audit").text

    db.session.execute(text("UPDATE audit_event SET outcome = 'denied' WHERE seq = :seq"), {"seq": seq})
    db.session.commit()
    response = as_admin.get("/admin/audit")

    assert response.status_code == 200
    assert "The trail is broken" in response.text
    assert f"The trail is broken at event number {seq}:" in response.text
    assert f"({seq - 1} events before the break)" in response.text
    assert audit.verify().first_bad_seq == seq


def test_the_page_says_where_the_trail_is_broken_after_a_row_is_deleted(as_admin, rows):
    seq = db.session.scalar(select(AuditEvent.seq).where(AuditEvent.target == "probe:fran-reads-olly"))
    db.session.execute(text("DELETE FROM audit_event WHERE seq = :seq"), {"seq": seq})
    db.session.commit()

    assert f"The trail is broken at event number {seq}:" in as_admin.get("/admin/audit").text


# Reading is recorded --------------------------------------------------------------------------------------------------


def test_viewing_and_exporting_are_recorded_with_the_filters(as_admin, rows, admin, organisation, patient):
    as_admin.get(f"/admin/audit?subject={patient.id}&kind=note_read&start=2026-03-01&page=1")
    as_admin.get(f"/admin/audit/export?subject={patient.id}").get_data()

    viewed, exported = (db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
                        for action in ("audit_trail_viewed", "audit_trail_exported"))
    assert [(e.actor_id, e.organisation_id) for e in viewed + exported] == [(admin.id, organisation.id)] * 2
    assert json.loads(viewed[0].details) == {
        "filters": {"subject": str(patient.id), "kind": "note_read", "start": "2026-03-01"}, "page": 1}
    assert json.loads(exported[0].details) == {"filters": {"subject": str(patient.id)}}


def test_a_refused_reading_is_recorded_as_a_denial_not_a_view(client, login, patient):
    login(client, patient)
    client.get("/admin/audit")

    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert "request_denied" in actions and "audit_trail_viewed" not in actions


# CSV -----------------------------------------------------------------------------------------------------------------


def test_the_export_holds_exactly_the_filtered_rows_of_every_page(as_admin, organisation, admin, facilitator,
                                                                  patient):
    for n in range(60):
        record_at(utc(2026, 3, 1, 1, n), f"probe:read-{n:03d}", action="note_read", actor=facilitator,
                  subject=patient, organisation=organisation)
    record_at(utc(2026, 3, 2), "probe:not-a-read", action="checkin", actor=patient, subject=patient,
              organisation=organisation)

    response = as_admin.get(f"/admin/audit/export?kind=note_read&actor={facilitator.id}")

    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r'attachment; filename="audit-[a-z0-9-]+-\d{4}-\d{2}-\d{2}\.csv"',
                        response.headers["Content-Disposition"])
    assert organisation.slug in response.headers["Content-Disposition"]
    header, *lines = csv_rows(response)
    assert header[:3] == ["Number", "Time (UTC, ISO 8601)", "Time (UTC)"]
    assert [line[12] for line in lines] == [f"probe:read-{n:03d}" for n in reversed(range(60))]
    first = dict(zip(header, lines[-1], strict=True))
    assert first["Time (UTC, ISO 8601)"] == "2026-03-01T01:00:00+00:00"
    assert (first["Who did it: name"], first["Whose data: name"]) == (facilitator.display_name, patient.display_name)
    assert (first["Action code"], first["Kind of event"], first["Outcome"]) == ("note_read", "Facilitator notes read",
                                                                                 "Done")


def test_the_export_names_the_admins_zone_and_gives_times_in_it(client, login, admin, organisation):
    admin.timezone = "Pacific/Auckland"
    db.session.commit()
    record_at(utc(2026, 3, 9, 11), "probe:auckland", actor=admin, organisation=organisation)
    login(client, admin)

    header, *lines = csv_rows(client.get("/admin/audit/export?kind=supporter_read"))

    assert header[2] == "Time (Pacific/Auckland)"
    assert lines[0][1:3] == ["2026-03-09T11:00:00+00:00", "2026-03-10T00:00:00+13:00"]


@pytest.mark.parametrize("payload", ["=HYPERLINK(\"http://evil.example\")", "+1+2", "-2+3", "@SUM(A1)", "\tcmd"])
def test_the_export_neutralises_formulas(as_admin, organisation, admin, payload):
    record_at(utc(2026, 3, 2), payload, actor=admin, organisation=organisation)

    header, *lines = csv_rows(as_admin.get("/admin/audit/export?kind=supporter_read"))

    assert [line[12] for line in lines] == ["'" + payload]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for line in lines for cell in line)


# Labels ---------------------------------------------------------------------------------------------------------------


def _written_actions() -> set[str]:
    """Every action the code writes: the argument that names it in audit.record and in the helpers that pass theirs
    on (by position)."""
    helpers = {"record": 0, "_append": 0, "_changed": 3, "record_facilitator_read": 1, "_record_reading": 0}
    found: set[str] = set()
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name not in helpers or len(node.args) <= helpers[name]:
                continue
            if name == "record" and getattr(getattr(node.func, "value", None), "id", None) != "audit":
                continue
            arg = node.args[helpers[name]]
            for value in [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.add(value.value)
                elif isinstance(value, ast.JoinedStr):
                    assert ast.unparse(value) == "f'consent_{state.value}'", f"{path}: {ast.unparse(value)}"
                    found |= {f"consent_{state.value}" for state in ConsentState}
    return found | {audit.HEAD_REPAIRED}


def test_every_action_the_app_writes_has_a_label():
    written = _written_actions()

    assert {"login", "note_read", "room_skip", "attendance_read", "consent_revoked", "audit_trail_viewed",
            "audit_trail_exported"} <= written
    assert sorted(written - set(ACTION_LABELS)) == []
