"""Alembic's environment for Flask-Migrate: the app's engine and metadata, and SQLite's foreign keys kept out of the
way while a migration rebuilds tables."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config

# Keep the loggers that exist (the app's among them): fileConfig would otherwise disable every one it does not name,
# which silences the app for the rest of the process when migrations run in-process (tests, `make run`).
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db


def get_engine():
    return target_db.engine


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


config.set_main_option("sqlalchemy.url", get_engine().url.render_as_string(hide_password=False).replace("%", "%%"))


def run_migrations_offline():
    """Emit the SQL of the migrations instead of running them (`flask db upgrade --sql`)."""
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=get_metadata(),
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _set_sqlite_foreign_keys(connection, on: bool) -> None:
    """The pragma is a no-op inside a transaction, so it goes straight to the driver, outside SQLAlchemy's (our engine
    opens every transaction with BEGIN IMMEDIATE)."""
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def run_migrations_online():
    # Skip writing an empty migration when autogenerate finds no change.
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    with get_engine().connect() as connection:
        # On SQLite, batch mode alters a table by copying it and dropping the original; with foreign keys on, that
        # DROP deletes (ON DELETE CASCADE) or nulls (SET NULL) every row that refers to it, in tables the migration
        # does not touch. So foreign keys are off while migrating, and checked once it is done.
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _set_sqlite_foreign_keys(connection, False)
        try:
            context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if violations:
                        raise RuntimeError(f"the migration leaves rows that refer to nothing: {violations[:10]}")
        finally:
            if sqlite:
                connection.rollback()
                _set_sqlite_foreign_keys(connection, True)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
