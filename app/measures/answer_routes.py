"""Pages: a member answering their own measure (signed in, or from the single-use link of a reminder), the crisis
resources straight after PHQ-9 item 9 is answered with anything but "Not at all" (CLINICAL.md safety rule 1), the
home page's card for each due measure, and the member's own pause."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from math import ceil
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, match_skeleton
from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from itsdangerous import BadSignature, URLSafeSerializer

from app import policy
from app.accounts.forms import EmptyForm
from app.accounts.models import Organisation
from app.extensions import db, limiter
from app.measures import bp, queries, services
from app.measures.forms import answer_form, item_field_name
from app.measures.instruments import SAFETY_ITEM, InstrumentDefinition, definition
from app.measures.labels import severity_label
from app.measures.models import Measure, MeasureStatus
from app.measures.scoring import needs_safety_alert, severity
from app.models_base import utcnow
from app.web import flash_refusal, show_error

#: How long one question takes to answer, for the card's "about N minutes" (a PHQ-9 takes about 3 minutes).
SECONDS_PER_QUESTION = 20
#: The sign-in-free link's cookie: it lets the person who opened the link save and finish that one questionnaire.
LINK_COOKIE = "momentum_measure"
LINK_COOKIE_PATH = "/m/"
LINK_SALT = "measure-link"
#: A link is opened, saved and finished a handful of times; more from one address is someone guessing.
LINK_LIMIT = "30 per hour"


@dataclass(frozen=True)
class Screen:
    """What answering leads to: the crisis step, the thanks, a part saved, or the form again with what was wrong."""

    kind: str  # "support", "done", "saved" or "form"
    measure: Measure
    form: object = None
    status: int = 200


# Words and times -----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _day_pattern(language: str) -> str:
    """ "Tuesday 24 March" in English; each other language its own order and words for a weekday, day and month."""
    if language == "en":
        return "EEEE d MMMM"
    locale = Locale.parse(language)
    return str(locale.datetime_skeletons[match_skeleton("MMMMEEEEd", locale.datetime_skeletons)].pattern)


def last_day_text(closes_at: datetime, zone: str) -> str:
    """The last day a measure can be answered (a window closing at midnight ends the day before)."""
    language = get_locale().language if get_locale() else "en"
    return format_datetime(
        closes_at - timedelta(seconds=1), _day_pattern(language), tzinfo=ZoneInfo(zone), locale=language
    )


def minutes_for(instrument_definition: InstrumentDefinition) -> int:
    return max(1, ceil(instrument_definition.item_count * SECONDS_PER_QUESTION / 60))


def closed_message(measure: Measure, now: datetime) -> str:
    status = queries.shown_status(measure, now)
    if status == MeasureStatus.DONE:
        band = severity_label(severity(measure.instrument, measure.total))
        return _("Thank you. Your answers are saved. Your score is in the “%(band)s” range.", band=band.lower())
    if status == MeasureStatus.WITHDRAWN:
        return _("This questionnaire is no longer needed. Thank you all the same.")
    if now < measure.opens_at:
        return _("This questionnaire is not open yet.")
    return _("This questionnaire has closed. There will be another chance.")


# Answering, signed in or from the link -------------------------------------------------------------------------------


def _saved_answers(measure: Measure) -> dict:
    data = {item_field_name(number): value for number, value in enumerate(measure.answers or [], start=1)}
    data["difficulty"] = measure.difficulty
    return data


def _answer(user, measure: Measure) -> Screen:
    """Save or finish from the posted form. Bad input keeps everything sent on the form again, with a message."""
    form = answer_form(definition(measure.instrument), stored=measure.answers)
    if not form.validate_on_submit():
        return Screen("form", measure, form, 422)
    was_done = measure.status == MeasureStatus.DONE
    try:
        services.save_answers(user, measure, form.answers(), form.difficulty.data, complete=form.finishing)
    except services.MeasureRefused as error:
        show_error(form, error)
        return Screen("form", measure, form, 409 if error.code == "closed" else 422)
    if needs_safety_alert(measure.instrument, measure.answers):
        return Screen("support", measure)
    if measure.status == MeasureStatus.DONE or was_done:
        return Screen("done", measure)
    return Screen("saved", measure)


def _page(measure: Measure, form=None, *, action: str, link: bool, zone: str, status: int = 200):
    now = utcnow()
    instrument = definition(measure.instrument)
    if not measure.is_open(now):
        return render_template(
            "measures/closed.html",
            measure=measure,
            message=closed_message(measure, now),
            link=link,
            layout=_layout(link),
            organisation=_organisation(measure),
            done=queries.shown_status(measure, now) == MeasureStatus.DONE,
        ), status
    form = form or answer_form(instrument, stored=measure.answers, data=_saved_answers(measure))
    return render_template(
        "measures/answer.html",
        measure=measure,
        definition=instrument,
        form=form,
        item_field_name=item_field_name,
        safety_number=SAFETY_ITEM.number,
        action=action,
        link=link,
        layout=_layout(link),
        organisation=_organisation(measure),
        last_day=last_day_text(measure.closes_at, zone),
        pause_form=EmptyForm(),
    ), status


def _layout(link: bool) -> str:
    return "measures/link_base.html" if link else "base.html"


def _organisation(measure: Measure) -> Organisation:
    return db.session.get(Organisation, measure.organisation_id)


def _support_page(measure: Measure, *, link: bool, go_on: str):
    return render_template(
        "measures/support.html",
        measure=measure,
        organisation=_organisation(measure),
        link=link,
        layout=_layout(link),
        go_on=go_on,
    )


def _own_measure(measure_id: int) -> Measure:
    """Load scoped to the member, then ask the policy: anyone else's measure is not found."""
    policy.require_keep_measures(current_user)
    measure = queries.measure_of(current_user.id, measure_id)
    if measure is None:
        policy.hidden(Measure, measure_id)
    policy.require_answer_measure(current_user, measure)
    return measure


@bp.route("/measures/<int:measure_id>", methods=["GET", "POST"])
@login_required
def answer(measure_id: int):
    measure = _own_measure(measure_id)
    action = url_for("measures.answer", measure_id=measure.id)
    if request.method == "GET":
        return _page(measure, action=action, link=False, zone=current_user.zone)
    screen = _answer(current_user, measure)
    if screen.kind == "support":
        return redirect(url_for("measures.support", measure_id=measure.id), 303)
    if screen.kind == "done":
        return redirect(action, 303)
    if screen.kind == "saved":
        flash(
            _(
                "Your answers are saved. You can finish any time until %(day)s.",
                day=last_day_text(measure.closes_at, current_user.zone),
            ),
            "info",
        )
        return redirect(url_for("accounts.home"), 303)
    return _page(measure, screen.form, action=action, link=False, zone=current_user.zone, status=screen.status)


@bp.get("/measures/<int:measure_id>/support")
@login_required
def support(measure_id: int):
    """The next screen after item 9 is answered with anything but 0: crisis resources first, whatever the total."""
    measure = _own_measure(measure_id)
    if not needs_safety_alert(measure.instrument, measure.answers):
        return redirect(url_for("measures.answer", measure_id=measure.id))
    return _support_page(measure, link=False, go_on=url_for("measures.answer", measure_id=measure.id))


# A member's pause ----------------------------------------------------------------------------------------------------


@bp.post("/measures/pause")
@login_required
def pause():
    policy.require_keep_measures(current_user)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.pause(current_user)
    except services.MeasureRefused as error:
        flash_refusal(error)
    else:
        flash(
            _(
                "Your questionnaires are paused. Your facilitator will see this and may talk it through with you. "
                "Only you can start them again."
            ),
            "info",
        )
    return redirect(url_for("accounts.home"), 303)


@bp.post("/measures/resume")
@login_required
def resume():
    policy.require_keep_measures(current_user)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.resume(current_user)
    except services.MeasureRefused as error:
        flash_refusal(error)
    else:
        flash(_("Your questionnaires are back on. Thank you."), "info")
    return redirect(url_for("accounts.home"), 303)


# The home page's card ------------------------------------------------------------------------------------------------


def patient_panel(user) -> dict:
    due = queries.due_for(user.id)
    cards = [
        {
            "measure": measure,
            "definition": definition(measure.instrument),
            "minutes": minutes_for(definition(measure.instrument)),
            "last_day": last_day_text(measure.closes_at, user.zone),
        }
        for measure in due
    ]
    return {"cards": cards, "paused": queries.current_pause(user.id) is not None, "form": EmptyForm()}


# The sign-in-free link -----------------------------------------------------------------------------------------------
# The token in the address opens its questionnaire once (services.use_link). Opening it sets a signed cookie for that
# one measure, sent only to /m/ and only from this site (SameSite=Strict), so that the person can save and finish
# until the window closes. Neither the cookie nor the token signs anyone in: no other route reads them. The token is
# never logged or stored (only its hash, on the measure).


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=LINK_SALT)


def link_cookie_value(measure: Measure) -> str:
    """The signed cookie for this measure and its link: a new link (another hash) makes it worthless."""
    return _serializer().dumps({"m": measure.id, "h": measure.link_hash})


def _measure_from_cookie(token: str) -> Measure | None:
    """The measure this browser opened with this very link, while its window is open and the link not revoked."""
    raw = request.cookies.get(LINK_COOKIE)
    if not raw:
        return None
    try:
        held = _serializer().loads(raw)
    except BadSignature:
        return None
    if not isinstance(held, dict) or not isinstance(held.get("m"), int) or not isinstance(held.get("h"), str):
        return None
    measure = db.session.get(Measure, held["m"])
    if measure is None or measure.link_hash is None or measure.link_revoked_at is not None:
        return None
    if not (
        hmac.compare_digest(measure.link_hash, held["h"])
        and hmac.compare_digest(measure.link_hash, services.link_hash(token))
    ):
        return None
    if utcnow() >= measure.closes_at:
        return None
    return measure


def _link_refused():
    return render_template("measures/link_refused.html", layout="measures/link_base.html", organisation=None), 410


def _link_too_many(_limit):
    return make_response(
        render_template(
            "measures/link_refused.html", layout="measures/link_base.html", organisation=None, too_many=True
        ),
        429,
    )


@bp.route("/m/<token>", methods=["GET", "POST"])
@limiter.limit(LINK_LIMIT, on_breach=_link_too_many)
def link(token: str):
    measure = _measure_from_cookie(token)
    first_open = False
    if measure is None and request.method == "GET":
        try:
            measure = services.measure_for_link(token)
        except services.MeasureRefused:
            return _link_refused()
        services.use_link(measure)
        first_open = True
    if measure is None:
        return _link_refused()
    zone = _organisation(measure).timezone or "UTC"
    action = url_for("measures.link", token=token)
    if request.method == "GET":
        response = make_response(_page(measure, action=action, link=True, zone=zone))
    else:
        screen = _answer(measure.patient, measure)
        if screen.kind == "support":
            response = make_response(_support_page(measure, link=True, go_on=action))
        elif screen.kind == "saved":
            flash(
                _(
                    "Your answers are saved. You can finish any time until %(day)s, from this page.",
                    day=last_day_text(measure.closes_at, zone),
                ),
                "info",
            )
            response = redirect(action, 303)
        elif screen.kind == "done":
            response = redirect(action, 303)
        else:
            response = make_response(
                _page(measure, screen.form, action=action, link=True, zone=zone, status=screen.status)
            )
    if first_open:
        response.set_cookie(
            LINK_COOKIE,
            link_cookie_value(measure),
            expires=measure.closes_at,
            path=LINK_COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
