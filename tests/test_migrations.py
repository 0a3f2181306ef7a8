"""SECURITY.md 17: the migrations build exactly the models' schema, go down and up again, and keep every row of the
tables a step does not own, on SQLite and (with TEST_DATABASE_URL) on a throwaway PostgreSQL database."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import column, func, inspect, select, table
from sqlalchemy.engine import make_url

from app import audit, create_app
from app.accounts import passwords, services
from app.accounts.models import RoleName
from app.demo import load_demo
from app.extensions import db

#: PostgreSQL joins when TEST_DATABASE_URL names a server (CI sets it), so that a SQLite-only run reports no skips.
POSTGRES_SERVER = os.environ.get("TEST_DATABASE_URL") or None
DATABASES = ["sqlite"] + ([pytest.param("postgresql", marks=pytest.mark.postgres)] if POSTGRES_SERVER else [])


@pytest.fixture(params=DATABASES)
def migrating_app(request, tmp_path) -> Iterator:
    """An app on an empty database of its own: a file for SQLite, a database created for the test on PostgreSQL
    (the suite's own `test` database keeps its tables)."""
    cleanup = None
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        name = f"momentum_migrations_{secrets.token_hex(6)}"
        server = make_url(POSTGRES_SERVER)
        admin_url = server.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        uri = server.set(database=name).render_as_string(hide_password=False)

        def cleanup():
            with psycopg.connect(admin_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    app = create_app("test", SQLALCHEMY_DATABASE_URI=uri)
    try:
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        if cleanup:
            cleanup()


def _config():
    return current_app.extensions["migrate"].migrate.get_config()


def upgrade(revision: str = "head") -> None:
    db.session.remove()  # no open transaction may hold a lock the migration needs
    command.upgrade(_config(), revision)


def downgrade(revision: str) -> None:
    db.session.remove()
    command.downgrade(_config(), revision)


def check() -> None:
    """`flask db check`: raises when the models and the migrated database differ."""
    db.session.remove()
    command.check(_config())


def revisions() -> list[str]:
    """Head first, down to the first revision."""
    return [script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()]


def current_revisions() -> set[str]:
    with db.engine.connect() as connection:
        return set(connection.scalars(select(column("version_num")).select_from(table("alembic_version"))))


def app_tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def row_counts() -> dict[str, int]:
    with db.engine.connect() as connection:
        return {name: connection.scalar(select(func.count()).select_from(table(name))) for name in app_tables()}


def seed() -> None:
    """The demo data, plus a login, a token, an invitation, a password reset and audit rows of every outcome."""
    with current_app.test_request_context():
        accounts = load_demo()
        admin = accounts["admin@example.org"]
        patient = accounts["alex@example.org"]
        services.start_login_session(patient, "pytest")
        services.create_api_token(patient, "laptop")
        services.create_invitation(admin, admin.organisation, RoleName.FACILITATOR, "new.staff@example.org")
        passwords.request_password_reset(patient.email)
        audit.record("request_denied", actor=patient, target="GET /admin/people", outcome="denied")
        audit.record("login", outcome="failure", details={"reason": "credentials"})
        db.session.commit()
    db.session.remove()


def test_a_database_built_by_the_migrations_matches_the_models(migrating_app):
    upgrade()

    check()
    assert app_tables() == set(db.metadata.tables)


def test_a_database_built_by_the_migrations_starts_its_audit_trail_with_a_signed_head(migrating_app):
    upgrade()

    head = db.session.get(audit.AuditHead, 1)
    assert (head.last_seq, head.last_hash, head.mac) == (0, audit.GENESIS, audit.head_mac(0, audit.GENESIS))
    assert audit.verify().ok


def test_upgrade_then_downgrade_to_base_then_upgrade_again(migrating_app):
    upgrade()
    downgrade("base")

    assert app_tables() == set()

    upgrade()
    check()
    assert app_tables() == set(db.metadata.tables)


def test_the_last_revision_goes_down_and_up_on_seeded_data_without_losing_rows(migrating_app):
    upgrade()
    seed()
    before = row_counts()
    assert {name for name, count in before.items() if count} >= {
        "organisation", "user_account", "role", "login_session", "api_token", "invitation", "password_reset",
        "audit_event", "audit_head"}

    head, previous = revisions()[0], revisions()[1:2]
    downgrade("-1")
    assert current_revisions() == set(previous)
    kept = app_tables()
    assert row_counts() == {name: before[name] for name in kept}

    upgrade()
    assert current_revisions() == {head}
    after = row_counts()
    assert {name: after[name] for name in kept} == {name: before[name] for name in kept}
    check()
    assert audit.verify().ok


def test_every_downgrade_step_keeps_the_rows_of_the_tables_it_does_not_drop(migrating_app):
    """The same for older steps, down to the first revision and back, on the data seeded at head. This is what
    catches a step that rebuilds a table other tables refer to (SQLite batch mode) and so empties those tables."""
    upgrade()
    seed()
    before = row_counts()
    steps = revisions()
    for below in steps[1:]:
        downgrade("-1")
        assert current_revisions() == {below}
        assert row_counts() == {name: before[name] for name in app_tables()}, below
    survivors = app_tables()

    upgrade()
    after = row_counts()
    assert {name: after[name] for name in survivors} == {name: before[name] for name in survivors}
    assert audit.verify().ok
