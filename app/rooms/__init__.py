"""The live room of a session: presence, rounds, raised hands, check-ins (in the room and between sessions), safety
alerts and their acknowledgement."""

from flask import Blueprint

from app.dashboard import register_panel, register_session_panel

bp = Blueprint("rooms", __name__)

from app.rooms import events, queries, routes  # noqa: E402,F401

register_panel("facilitator", "rooms/_dashboard_alerts.html", queries.facilitator_alerts_panel, order=10)
register_panel("patient", "rooms/_dashboard_checkin.html", queries.patient_checkin_panel, order=10)
register_session_panel("rooms/_session_checkins.html", queries.session_checkins_panel, order=10)
