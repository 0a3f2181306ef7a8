"""The audit page: an organisation's admins read, filter and export its rows of the audit trail, and see whether the
whole trail still verifies."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from babel.dates import get_timezone_location
from flask import Response, render_template, request, stream_with_context, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import audit, policy
from app.accounts import bp, queries
from app.accounts.forms import AuditTrailForm
from app.accounts.labels import ACTION_LABELS, action_label, outcome_label, role_label
from app.accounts.models import Organisation, RoleName, User
from app.audit import AuditEvent

PER_PAGE = 50
#: Whose email the trail shows: staff addresses are no secret inside the organisation; members' and supporters' are
#: not the admin's to read (the same rule as the people page), so their rows carry name and account id.
STAFF = frozenset({RoleName.ADMIN, RoleName.FACILITATOR})
#: Details written by a person in their own words, for the patient and the facilitators, not for the admin who reads
#: the trail: how a supporter is related, wherever it appears, and the reason given for a hold or a change of sharing.
WITHHELD_KEYS = frozenset({"relationship"})
REASON_ACTIONS = ("consent_", "supporter_hold")
FILTERS = ("actor", "subject", "kind", "start", "end")


def _zone() -> ZoneInfo:
    return ZoneInfo(current_user.zone)


def _sort_key(label: str) -> str:
    """Alphabetical order as a reader expects it: "Ánimo" among the A's, not after the Z's."""
    return "".join(c for c in unicodedata.normalize("NFKD", label.casefold()) if not unicodedata.combining(c))


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(timezone.utc)


class Trail:
    """What one request of the audit page needs: the organisation's people, the filter form, and the query it
    stands for."""

    def __init__(self, organisation: Organisation):
        self.organisation = organisation
        self.zone = _zone()
        self.people: dict[int, tuple[User, RoleName]] = {user.id: (user, role)
                                                        for user, role in queries.people_of(organisation.id)}
        codes = set(ACTION_LABELS) | set(queries.trail_actions(organisation.id))
        kinds = sorted(((code, action_label(code)) for code in codes), key=lambda kind: _sort_key(kind[1]))
        people = [(str(user.id), f"{user.display_name} ({role_label(role)})") for user, role in self.people.values()]
        self.form = AuditTrailForm(request.args, people=people, kinds=kinds)
        self.valid = self.form.validate()

    def filters(self, **extra) -> queries.TrailFilters:
        form = self.form
        return queries.TrailFilters(
            actor_id=int(form.actor.data) if form.actor.data else None,
            subject_id=int(form.subject.data) if form.subject.data else None,
            action=form.kind.data or None,
            since=_start_of(form.start.data, self.zone) if form.start.data else None,
            until=_start_of(form.end.data + timedelta(days=1), self.zone) if form.end.data else None,
            **extra,
        )

    def query_args(self) -> dict[str, str]:
        """The filters that are set, as the query string carries them (for links and the trail's own record)."""
        values = {name: self.form[name].data for name in FILTERS}
        return {name: value.isoformat() if isinstance(value, date) else str(value)
                for name, value in values.items() if value}

    def name(self, user_id: int | None) -> str:
        if user_id is None:
            return _("No account")
        if user_id not in self.people:
            return _("Someone outside this organisation")
        return self.people[user_id][0].display_name

    def account_id(self, user_id: int | None) -> int | None:
        """An account's id when it is one of the organisation's (another organisation's ids are not shown)."""
        return user_id if user_id in self.people else None

    def email(self, user_id: int | None) -> str:
        user, role = self.people.get(user_id, (None, None))
        return user.email if user is not None and role in STAFF else ""

    def city(self) -> str:
        return get_timezone_location(self.zone.key, locale=get_locale(), return_city=True)


def details_of(event: AuditEvent) -> dict:
    """The event's details as the admin may read them: free text people wrote is withheld."""
    try:
        details = json.loads(event.details or "{}")
    except ValueError:
        return {"details": event.details}
    if not isinstance(details, dict):
        return {"details": details}
    return _withheld(details, withhold_reason=event.action.startswith(REASON_ACTIONS))


def _withheld(details: dict, withhold_reason: bool) -> dict:
    shown = {}
    for key, value in details.items():
        if key in WITHHELD_KEYS or (key == "reason" and withhold_reason):
            shown[key] = _("(withheld: written by a person)")
        elif isinstance(value, dict):
            shown[key] = _withheld(value, withhold_reason)
        else:
            shown[key] = value
    return shown


def _organisation() -> Organisation:
    organisation = current_user.organisation
    policy.require_read_audit_trail(current_user, organisation)
    return organisation


def _record_reading(action: str, trail: Trail, **details) -> None:
    audit.record(action, actor=current_user, organisation_id=trail.organisation.id,
                 target=f"organisation:{trail.organisation.id}", details={"filters": trail.query_args(), **details})


def _page(trail: Trail):
    """The page; filters that do not hold answer 422, with their messages on the form and no rows."""
    chain = audit.verify()
    events, total, page = [], 0, trail.form.page.number
    if trail.valid:
        events, total = queries.trail_page(trail.organisation.id, trail.filters(), page, PER_PAGE)
        _record_reading("audit_trail_viewed", trail, page=page)
    args = trail.query_args()
    pages = max(1, -(-total // PER_PAGE))
    return render_template(
        "accounts/audit.html", trail=trail, form=trail.form, chain=chain, events=events, total=total, page=page,
        pages=pages, details_of=details_of, action_label=action_label, outcome_label=outcome_label,
        previous_url=url_for("accounts.audit_trail", **args, page=page - 1) if page > 1 else None,
        next_url=url_for("accounts.audit_trail", **args, page=page + 1) if page < pages else None,
        export_url=url_for("accounts.export_audit_trail", **args), filtered=bool(args),
    ), 200 if trail.valid else 422


@bp.get("/admin/audit")
@login_required
def audit_trail():
    return _page(Trail(_organisation()))


@bp.get("/admin/audit/export")
@login_required
def export_audit_trail():
    trail = Trail(_organisation())
    if not trail.valid:
        return _page(trail)
    # The rows as they are now: the record of this export, and anything written while it streams, are not in it.
    filters = trail.filters(through_seq=queries.trail_end())
    _record_reading("audit_trail_exported", trail)
    today = datetime.now(trail.zone).date().isoformat()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", trail.organisation.slug).strip("-") or "organisation"
    return Response(stream_with_context(_csv(trail, filters)), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="audit-{slug}-{today}.csv"'})


def neutralise(value) -> str:
    """A cell a spreadsheet would read as a formula (= + - @, a tab or CR first) starts with an apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def _csv(trail: Trail, filters: queries.TrailFilters) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([neutralise(cell) for cell in cells])
        return buffer.getvalue()

    yield "\ufeff" + line([
        _("Number"), _("Time (UTC, ISO 8601)"), _("Time (%(zone)s)", zone=trail.zone.key),
        _("Who did it: account id"), _("Who did it: name"), _("Who did it: email"),
        _("Whose data: account id"), _("Whose data: name"), _("Whose data: email"),
        _("Action code"), _("Kind of event"), _("Outcome"), _("Target"), _("Consent id"), _("IP address"),
        _("Details"),
    ])
    for event in queries.trail_rows(trail.organisation.id, filters):
        yield line([
            event.seq, event.occurred_at.isoformat(), event.occurred_at.astimezone(trail.zone).isoformat(),
            trail.account_id(event.actor_id), trail.name(event.actor_id), trail.email(event.actor_id),
            trail.account_id(event.subject_id), trail.name(event.subject_id), trail.email(event.subject_id),
            event.action, action_label(event.action), outcome_label(event.outcome), event.target, event.consent_id,
            event.ip, json.dumps(details_of(event), sort_keys=True, ensure_ascii=False),
        ])
