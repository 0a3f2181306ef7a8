"""Backups (SECURITY.md 19): `flask backup` taken while writes go on restores with every row committed before it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
import uuid

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app import create_app
from app.accounts.models import Organisation
from app.extensions import db


def _writer(app, committed: list[int], stop: threading.Event) -> None:
    """Commit one organisation after another until told to stop, noting each id once its commit has returned."""
    with app.app_context():
        while not stop.is_set():
            organisation = Organisation(name="Load", slug=f"load-{uuid.uuid4().hex[:12]}")
            db.session.add(organisation)
            db.session.commit()
            committed.append(organisation.id)
        db.session.remove()


def _backup_under_load(app, destination: str) -> list[int]:
    """Run `flask backup` while a writer commits; return the ids committed before the backup started."""
    committed: list[int] = []
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(app, committed, stop))
    writer.start()
    try:
        while len(committed) < 20:
            threading.Event().wait(0.01)
        before = list(committed)
        result = app.test_cli_runner().invoke(args=["backup", destination])
        assert result.exit_code == 0, result.output
        while len(committed) < len(before) + 20:
            threading.Event().wait(0.01)
    finally:
        stop.set()
        writer.join()
    return before


def test_a_sqlite_backup_under_write_load_holds_every_row_committed_before_it(tmp_path):
    app = create_app("test", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/live.db")
    with app.app_context():
        db.create_all()
    destination = str(tmp_path / "backup.db")

    before = _backup_under_load(app, destination)

    restored = sqlite3.connect(destination)
    assert restored.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    ids = {row[0] for row in restored.execute("SELECT id FROM organisation")}
    restored.close()
    assert set(before) <= ids
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Organisation)) > len(ids)
        db.engine.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs PostgreSQL (TEST_DATABASE_URL)")
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs pg_dump")
def test_a_postgresql_backup_under_write_load_restores_every_row_committed_before_it(tmp_path):
    base = make_url(os.environ["TEST_DATABASE_URL"])
    admin_url = base.set(drivername="postgresql").render_as_string(hide_password=False)
    source, restored = f"momentum_backup_{uuid.uuid4().hex[:8]}", f"momentum_restore_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{source}"')
        connection.execute(f'CREATE DATABASE "{restored}"')
    try:
        app = create_app("test", SQLALCHEMY_DATABASE_URI=base.set(database=source).render_as_string(
            hide_password=False))
        with app.app_context():
            db.create_all()
        destination = str(tmp_path / "backup.dump")

        before = _backup_under_load(app, destination)
        with app.app_context():
            db.engine.dispose()

        target = base.set(drivername="postgresql", database=restored).render_as_string(hide_password=False)
        subprocess.run(["pg_restore", "--no-owner", "--dbname", target, destination], check=True)
        with psycopg.connect(target) as connection:
            ids = {row[0] for row in connection.execute("SELECT id FROM organisation")}
        assert set(before) <= ids
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            for name in (source, restored):
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
