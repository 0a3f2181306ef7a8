"""Command-line tasks: the first admin, the demo data, the audit check, backups."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import datetime, timezone

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app import audit
from app.accounts import services
from app.accounts.models import Organisation, RoleName
from app.demo import DEMO_PASSWORD, load_demo
from app.extensions import db


def register(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(demo)
    app.cli.add_command(audit_group)
    app.cli.add_command(backup)


@click.command("create-admin")
@with_appcontext
@click.option("--organisation", "organisation_name", required=True, help="The organisation's name.")
@click.option("--slug", help="Short name for the organisation (created if new).")
@click.option("--email", required=True)
@click.option("--name", "display_name", default="Admin")
@click.password_option()
def create_admin(organisation_name: str, slug: str | None, email: str, display_name: str, password: str) -> None:
    """Create the first admin of an organisation (and the organisation if it does not exist)."""
    slug = slug or "-".join(organisation_name.lower().split())[:80]
    organisation = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
    try:
        if organisation is None:
            organisation = services.create_organisation(organisation_name, slug)
        user = services.create_account(email, password, display_name, organisation, RoleName.ADMIN)
        db.session.commit()
    except services.AccountError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    click.echo(f"Created admin {user.email} for {organisation.name}.")


@click.command("demo")
@with_appcontext
@click.option("--if-empty", is_flag=True,
              help="Only into a database without any organisation (`make run` loads it so, on any database).")
def demo(if_empty: bool) -> None:
    """Load the demo organisation and accounts (idempotent; refused in production)."""
    if current_app.config["PRODUCTION"]:
        raise click.ClickException("The demo data is not loaded in production.")
    if if_empty and db.session.scalar(select(Organisation.id).limit(1)) is not None:
        click.echo("The database has an organisation already; the demo data is not loaded.")
        return
    accounts = load_demo()
    db.session.commit()
    click.echo(f"Demo accounts ({DEMO_PASSWORD}): " + ", ".join(accounts))


@click.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check the HMAC chain: exits 1 if a row was edited or deleted."""
    result = audit.verify()
    if result.ok:
        click.echo(f"Audit trail intact: {result.checked} events checked.")
        return
    for problem in result.problems:
        click.echo(problem, err=True)
    raise SystemExit(1)


@click.command("backup")
@with_appcontext
@click.argument("destination", required=False)
def backup(destination: str | None) -> None:
    """Back up the database: SQLite's online backup API, or pg_dump for PostgreSQL."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    backups = os.path.join(current_app.instance_path, "backups")
    if url.get_backend_name() == "sqlite":
        destination = destination or os.path.join(backups, f"momentum-{stamp}.db")
        os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
        # A plain file copy under write load can capture a torn or empty database; the backup API cannot.
        source = sqlite3.connect(url.database)
        target = sqlite3.connect(destination)
        with target:
            source.backup(target)
        source.close()
        target.close()
    else:
        destination = destination or os.path.join(backups, f"momentum-{stamp}.dump")
        os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
        if shutil.which("pg_dump") is None:
            raise click.ClickException("pg_dump is not installed.")
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        subprocess.run(["pg_dump", "--format=custom", "--file", destination, plain], check=True)
    click.echo(f"Backup written to {destination}")
