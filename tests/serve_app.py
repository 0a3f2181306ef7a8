"""A Momentum app process for the multi-process room tests (tests/test_rooms_scale.py).

    python tests/serve_app.py setup   # create the schema and a live room in DATABASE_URL; prints JSON
    python tests/serve_app.py serve --port N   # serve until killed; prints {"port": N} once listening
    python tests/serve_app.py serve --port N --standby   # build the app, print {"ready": true}, and bind the port
                                                         # only when a line arrives on stdin (a warm replacement)

The configuration is the development one, read from the environment like any deployment: DATABASE_URL (a SQLite file
shared by every process), REDIS_URL (the Socket.IO message queue, or a dead port to play an outage) and SECRET_KEY.
Served by werkzeug with a thread per connection, which carries WebSockets through simple-websocket.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app import create_app  # noqa: E402

MEMBERS = 8
#: Every account's password (the tests mostly use bearer tokens).
PASSWORD = "scale test passphrase"


def setup(app) -> dict:
    """An organisation with crisis resources, an admin, a facilitator, eight members, a group and a session starting in
    five minutes whose room is open, in the app's database; a bearer token for the facilitator and the members."""
    from datetime import timedelta

    from app.accounts import services as account_services
    from app.accounts.models import Organisation, Role, RoleName, User
    from app.extensions import db
    from app.groups import services
    from app.groups.models import Membership, MembershipStatus, SessionOccurrence
    from app.models_base import utcnow
    from app.rooms.models import LiveRoom

    with app.app_context(), app.test_request_context():
        db.create_all()
        organisation = Organisation(name="Scale Clinic", slug=f"scale-{uuid.uuid4().hex[:8]}",
                                    crisis_name="Scale Crisis Line", crisis_phone="0800 000 111")
        db.session.add(organisation)
        db.session.flush()
        password = account_services.hash_password(PASSWORD)

        def person(role: RoleName, name: str) -> User:
            user = User(email=f"{uuid.uuid4().hex[:12]}@example.org", password_hash=password, display_name=name)
            user.roles.append(Role(organisation_id=organisation.id, name=role))
            db.session.add(user)
            db.session.flush()
            return user

        facilitator = person(RoleName.FACILITATOR, "Fran Facilitator")
        admin = person(RoleName.ADMIN, "Ari Admin")
        group = services.create_group(facilitator, {"name": "Scale group", "status": "active", "timezone": "UTC",
                                                    "format": "online", "capacity": 20,
                                                    "video_link": "https://video.example.org/scale"})
        occurrence = SessionOccurrence(group_id=group.id, starts_at=utcnow() + timedelta(minutes=5),
                                       duration_minutes=90)
        db.session.add(occurrence)
        db.session.flush()
        db.session.add(LiveRoom(occurrence_id=occurrence.id, opened_at=utcnow(), opened_by_id=facilitator.id))
        members = []
        for n in range(MEMBERS):
            member = person(RoleName.PATIENT, f"Member {n}")
            membership = Membership(group_id=group.id, user_id=member.id, status=MembershipStatus.ACTIVE,
                                    preferred_name=f"M{n}", joined_at=utcnow())
            db.session.add(membership)
            db.session.flush()
            members.append({"id": member.id, "email": member.email, "membership_id": membership.id,
                            "token": account_services.create_api_token(member, "scale")[1]})
        answer = {"session_id": occurrence.id, "group_id": group.id, "members": members,
                  "facilitator": {"id": facilitator.id,
                                  "token": account_services.create_api_token(facilitator, "scale")[1]},
                  "admin": {"id": admin.id, "email": admin.email}}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return answer


def serve(host: str, port: int, standby: bool = False) -> None:
    from werkzeug.serving import make_server

    app = create_app("development")
    if standby:
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.readline()
    server = make_server(host, port, app, threaded=True)
    print(json.dumps({"port": server.port}), flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["setup", "serve"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--standby", action="store_true")
    args = parser.parse_args()
    if args.command == "setup":
        print(json.dumps(setup(create_app("development"))), flush=True)
    else:
        serve(args.host, args.port, args.standby)


if __name__ == "__main__":
    main()
