"""Progress: goals and small wins, and the thoughts a patient asks their supporters for."""

from flask import Blueprint

from app.dashboard import register_panel

bp = Blueprint("progress", __name__)

from app.progress import demo, routes  # noqa: E402,F401

register_panel("patient", "progress/_dashboard_patient.html", routes.patient_panel, order=40)
