"""Therapy groups: groups and enrolment, schedules and sessions, attendance, agendas, notes and calendars."""

from flask import Blueprint

from app.dashboard import register_panel

bp = Blueprint("groups", __name__)

from app.groups import demo, queries, routes, session_pages  # noqa: E402,F401

register_panel("facilitator", "groups/_dashboard_facilitator.html", routes.facilitator_panel, order=50)
register_panel("patient", "groups/_dashboard_patient.html", queries.patient_dashboard, order=50)
