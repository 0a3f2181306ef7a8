"""Supporters and consent: patient-scoped, time-limited, revocable sharing, and the access log the patient reads."""

from flask import Blueprint

from app.dashboard import register_panel

bp = Blueprint("supporters", __name__)

from app.supporters import demo, queries, routes, sweep  # noqa: E402,F401

bp.before_app_request(sweep.start_once)

register_panel("patient", "supporters/_dashboard_patient.html", routes.patient_panel, order=60)
register_panel("supporter", "supporters/_dashboard_supporter.html", routes.supporter_panel, order=10)
