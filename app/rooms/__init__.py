"""The live room of a session: presence, rounds, raised hands, check-ins (in the room and between sessions), safety
alerts and their acknowledgement."""

from flask import Blueprint

bp = Blueprint("rooms", __name__)
