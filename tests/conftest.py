"""Fixtures: the app in test configuration, a client, people in each role, and signing in as them."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import g
from flask.testing import FlaskClient
from flask_socketio.test_client import SocketIOTestClient
from itsdangerous import URLSafeTimedSerializer

import app as app_package
from app import audit
from app.accounts import services
from app.accounts.models import Organisation, Role, RoleName, User
from app.extensions import db, limiter, socketio

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)
_password_hash = None
_schema_ready = None


def password_hash() -> str:
    """One argon2 hash for every test account: hashing per account would dominate the suite's time."""
    global _password_hash
    if _password_hash is None:
        _password_hash = services.hash_password(PASSWORD)
    return _password_hash


def _reset_database() -> None:
    """Empty every table, creating the schema the first time this database is seen (an in-memory SQLite database is
    new with each engine; a PostgreSQL database is the same one for the whole run)."""
    global _schema_ready
    engine = db.engine
    key = engine.url.render_as_string() if engine.dialect.name == "postgresql" else engine
    if _schema_ready != key:
        if engine.dialect.name == "postgresql":
            db.drop_all()
        db.create_all()
        _schema_ready = key
    # DELETE is ten times faster than TRUNCATE on tables this small; ids are not reset, and no test relies on them.
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    audit.start_trail()  # as a new database has it (an emptied trail without its head is a tampered one)
    db.session.commit()


class FreshUserClient(FlaskClient):
    """The tests keep one app context open, so `g` outlives a request; each request starts with an empty `g`, as it
    would in production (Flask-Login's user, Flask-Babel's locale and Flask-WTF's CSRF token are cached there)."""

    def open(self, *args, **kwargs):
        for name in list(vars(g)):
            g.pop(name, None)
        return super().open(*args, **kwargs)


class _SharedApp:
    """One test app per process, reused by every test that takes the `app` fixture: building one costs more than most
    tests (the URL map and the OpenAPI document), and the suite builds hundreds. Each test still starts from the same
    configuration, an empty database, empty rate limits and no sockets.

    The extensions are module-level objects bound by `init_app`, so an app built elsewhere (a live server, a test with
    its own configuration) re-binds them; counting `create_app` calls tells when the shared app must be built anew."""

    builds = 0

    def __init__(self):
        self.app = None
        self.config = None
        self.generation = -1

    def get(self):
        if self.app is None or self.generation != _SharedApp.builds:
            self.close()
            self.app = create_app("test")
            self.app.test_client_class = FreshUserClient
            self.config = dict(self.app.config)
            self.generation = _SharedApp.builds
        return self.app

    def close(self) -> None:
        if self.app is not None:
            with self.app.app_context():
                db.engine.dispose()
            self.app = None

    def reset(self, app) -> None:
        app.config.clear()
        app.config.update(self.config)
        server = socketio.server
        if server is not None:
            # Sockets the test left open: the next test's rows reuse their ids, and so their room names.
            server.manager.rooms.clear()
            server.manager.callbacks.clear()
            server.environ.clear()
        SocketIOTestClient.clients.clear()


def _counting(build):
    def create_app_counted(*args, **kwargs):
        _SharedApp.builds += 1
        return build(*args, **kwargs)

    return create_app_counted


# Test modules import `create_app` after this conftest, so they get the counting one.
app_package.create_app = create_app = _counting(app_package.create_app)
_shared = _SharedApp()


@contextmanager
def app_of_its_own(database_file=None, **config) -> Iterator:
    """An app with a configuration and database of its own, emptied like the shared one, dropped afterwards; do not
    combine with the `app` fixture. With `database_file` (a path), the database is TEST_DATABASE_URL when set, or that
    SQLite file: the test configuration's in-memory SQLite is one connection, which threads or processes cannot share.
    """
    if database_file is not None:
        config.setdefault("SQLALCHEMY_DATABASE_URI", os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{database_file}")
    app = create_app("test", **config)
    app.test_client_class = FreshUserClient
    with app.app_context():
        _reset_database()
        if app.config.get("RATELIMIT_ENABLED", True):  # a limiter that is off has no storage to empty
            limiter.reset()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            if db.engine.dialect.name == "sqlite":
                db.drop_all()
            db.engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _close_shared_app():
    yield
    _shared.close()


@pytest.fixture
def app():
    app = _shared.get()
    with app.app_context():
        _reset_database()
        limiter.reset()
        yield app
        db.session.remove()
        _shared.reset(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_organisation(app):
    def make(**overrides) -> Organisation:
        n = next(_counter)
        organisation = Organisation(name=overrides.pop("name", f"Clinic {n}"), slug=overrides.pop("slug", f"clinic-{n}"),
                                    **overrides)
        db.session.add(organisation)
        db.session.commit()
        return organisation

    return make


@pytest.fixture
def organisation(make_organisation):
    return make_organisation(name="Riverside Clinic")


@pytest.fixture
def make_user(app, organisation):
    def make(role: RoleName | str = RoleName.PATIENT, organisation_: Organisation | None = None, **overrides) -> User:
        n = next(_counter)
        org = organisation_ or organisation
        user = User(
            email=overrides.pop("email", f"person{n}@example.org"),
            password_hash=password_hash(),
            display_name=overrides.pop("display_name", f"Person {n}"),
            **overrides,
        )
        user.roles.append(Role(organisation_id=org.id, name=RoleName(role)))
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def admin(make_user):
    return make_user(RoleName.ADMIN, display_name="Avery Admin")


@pytest.fixture
def facilitator(make_user):
    return make_user(RoleName.FACILITATOR, display_name="Dr. Fran Facilitator", timezone="Europe/Berlin")


@pytest.fixture
def patient(make_user):
    return make_user(RoleName.PATIENT, display_name="Pat Patient", timezone="Europe/Berlin")


@pytest.fixture
def other_patient(make_user):
    return make_user(RoleName.PATIENT, display_name="Olly Other")


@pytest.fixture
def supporter(make_user):
    return make_user(RoleName.SUPPORTER, display_name="Sol Supporter")


@pytest.fixture
def login(app):
    """Sign a test client in as someone, through a real login session (without the cost of argon2)."""

    def do_login(client, user: User) -> str:
        with app.test_request_context():
            token = services.start_login_session(user, "pytest")
            db.session.commit()
        with client.session_transaction() as session:
            session.clear()
            session["_user_id"] = token
            session["_fresh"] = True
        return token

    return do_login


def csrf_token(client, app) -> str:
    """A valid CSRF token for this client's session, as a form would carry it."""
    with client.session_transaction() as session:
        raw = session.get("csrf_token")
        if raw is None:
            import hashlib
            import os

            raw = session["csrf_token"] = hashlib.sha1(os.urandom(64)).hexdigest()
    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="wtf-csrf-token").dumps(raw)


@pytest.fixture
def post(app):
    """POST a form with a valid CSRF token."""

    def do_post(client, url: str, data: dict | None = None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", csrf_token(client, app))
        return client.post(url, data=data, **kwargs)

    return do_post


@pytest.fixture
def api_token(app):
    """A bearer token for a user, as POST /api/v1/auth/tokens would give."""

    def make(user: User) -> dict:
        with app.test_request_context():
            _token, raw = services.create_api_token(user, "pytest")
            db.session.commit()
        return {"Authorization": f"Bearer {raw}"}

    return make


def strip_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]*"|value="[^"]*" name="csrf_token"', "", html)


# ---------------------------------------------------------------------------------------------------------------------
# Authorization matrix and socket tests: a CSRF token for JSON calls, the test password, and a live server.
# ---------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def csrf(app):
    """A valid CSRF token for a client's session, for an X-CSRFToken header on JSON calls."""

    def make(client) -> str:
        return csrf_token(client, app)

    return make


@pytest.fixture
def known_password() -> str:
    """The password of every account the fixtures make."""
    return PASSWORD


class LiveServer:
    """The app served over real HTTP and WebSocket by werkzeug in a thread, on a port of its own."""

    def __init__(self, app, url: str):
        self.app = app
        self.url = url

    def make_user(self, role: RoleName | str, organisation: str = "Live Clinic", **overrides) -> User:
        """An account (password PASSWORD) in the named organisation, created if need be."""
        with self.app.app_context():
            from sqlalchemy import select

            org = db.session.scalar(select(Organisation).where(Organisation.name == organisation))
            if org is None:
                n = next(_counter)
                org = Organisation(name=organisation, slug=f"live-{n}")
                db.session.add(org)
                db.session.flush()
            n = next(_counter)
            user = User(email=overrides.pop("email", f"live{n}@example.org"), password_hash=password_hash(),
                        display_name=overrides.pop("display_name", f"Live {n}"), **overrides)
            user.roles.append(Role(organisation_id=org.id, name=RoleName(role)))
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user


@pytest.fixture
def live_server(tmp_path):
    """A live server with its own app and database; do not combine with the `app` fixture in one test.

    The test config's in-memory SQLite shares one connection between threads (StaticPool), so two requests at once
    interleave their transactions on it; the live server uses a file instead (or TEST_DATABASE_URL when set).
    """
    import threading

    from werkzeug.serving import make_server

    with app_of_its_own(tmp_path / "live.db") as app:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        app.config["BASE_URL"] = f"http://127.0.0.1:{server.port}"  # where the links in its emails must lead
        thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
        thread.start()
        try:
            yield LiveServer(app, f"http://127.0.0.1:{server.port}")
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
