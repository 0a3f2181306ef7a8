"""Momentum: group therapy and peer support for people living with chronic depressive symptoms."""

from __future__ import annotations

import mimetypes
import os

from flask import Flask, Response, current_app, g, has_request_context, request, session
from flask_babel import format_datetime, get_locale, gettext
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.pool import StaticPool
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from app import cli, errors, health, policy
from app.accounts import bp as accounts_bp
from app.accounts import routes as _account_pages  # noqa: F401  (the pages of accounts.bp)
from app.accounts import security_routes as _security_pages  # noqa: F401
from app.accounts import session_loader, trail  # noqa: F401  (trail: the audit pages of accounts.bp)
from app.accounts.api import blp as accounts_api
from app.accounts.labels import invitation_state_label, role_label
from app.api_base import init_api, register_api_blueprint
from app.config import check_production, config_class, resolve_links
from app.extensions import (
    babel,
    csrf,
    db,
    limiter,
    login_manager,
    mail,
    migrate,
    socketio,
    talisman,
)
from app.groups import bp as groups_bp
from app.groups import queries as group_queries
from app.groups import routes as group_routes
from app.groups import session_pages as _session_pages  # noqa: F401  (the session pages of groups.bp)
from app.groups.api import blp as groups_api
from app.measures import answer_routes as measure_answer_routes
from app.measures import bp as measures_bp
from app.measures import chart_routes as _measure_charts  # noqa: F401  (the measure chart pages, on measures.bp)
from app.measures import staff_routes as _measure_staff_pages  # noqa: F401  (a group's measures pages, on measures.bp)
from app.measures.api import blp as measures_api
from app.notifications.email import print_suppressed_mail
from app.peers import bp as peers_bp
from app.peers import chat_events as _pair_chat_events  # noqa: F401  (declares the pair chat's socket events)
from app.peers import chat_routes as _pair_chat_pages  # noqa: F401  (the pair chat's page, on peers.bp)
from app.peers import circle_routes as _circle_pages  # noqa: F401  (the check-in circles' pages, on peers.bp)
from app.peers import circles as peer_circles
from app.peers import purge as peer_purge
from app.peers import routes as peer_routes
from app.peers.api import blp as peers_api
from app.peers.chat_api import blp as pair_chat_api
from app.peers.circle_api import blp as circles_api
from app.progress import bp as progress_bp
from app.progress import routes as progress_routes
from app.progress.api import blp as progress_api
from app.realtime.sockets import register_socket_handlers
from app.rooms import bp as rooms_bp
from app.rooms import events as _room_events  # noqa: F401  (declares its socket events)
from app.rooms import queries as room_queries
from app.rooms import routes as room_routes
from app.rooms.api import blp as rooms_api
from app.supporters import bp as supporters_bp
from app.supporters import events as _supporter_events  # noqa: F401  (declares its socket events)
from app.supporters import routes as supporter_routes
from app.supporters import sweep as consent_sweep
from app.supporters.api import blp as supporters_api
from app.web import TIME_FILTERS, register_panel, register_session_panel, session_time

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


# The web app manifest (app/static/manifest.webmanifest) is served with the type browsers expect of it.
mimetypes.add_type("application/manifest+json", ".webmanifest")


def create_app(config_name: str | None = None, **overrides) -> Flask:
    config_name = config_name or os.environ.get("MOMENTUM_ENV") or "development"
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config_class(config_name))
    app.config.update(overrides)
    if app.config["PRODUCTION"]:
        check_production(app.config)
    resolve_links(app.config)
    register_database(app)
    register_host_check(app)
    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_commands(app)
    register_proxy(app)
    return app


def register_proxy(app: Flask) -> None:
    """Behind PROXY_COUNT proxies, take the client's address and scheme from X-Forwarded-For and -Proto: rate limits
    and the audit trail then see the person, not the proxy, and Socket.IO's origin check and HTTPS redirects see the
    scheme the browser used. It wraps everything, Socket.IO's middleware too, so it must be the last step. With no
    proxy configured the headers are ignored: anyone can send them."""
    count = app.config["PROXY_COUNT"]
    if count > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)


def register_host_check(app: Flask) -> None:
    """A request naming a host outside TRUSTED_HOSTS is refused (400) before anything else looks at it: the sign-in
    limiter, CSRF and every page would otherwise run for a Host header the caller chose."""

    @app.before_request
    def refuse_untrusted_host():
        # Plain text: with no trusted host there is no address to build a page's links from.
        if isinstance(request.routing_exception, SecurityError):
            return Response(gettext("This address is not served here.") + "\n", 400, mimetype="text/plain")
        return None


def register_database(app: Flask) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "momentum.db")
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgresql://") or uri.startswith("postgres://"):
        uri = "postgresql+psycopg://" + uri.split("://", 1)[1]
        app.config["SQLALCHEMY_DATABASE_URI"] = uri
    if uri.startswith("sqlite"):
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {}).update({"timeout": 30, "check_same_thread": False})
        if uri in ("sqlite://", "sqlite:///:memory:"):
            options["poolclass"] = StaticPool
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _configure_sqlite(db.engine)


def _configure_sqlite(engine) -> None:
    """WAL for concurrent readers, and BEGIN IMMEDIATE so that read-modify-write transactions never hit
    "database is locked" on upgrade from a read lock (SQLAlchemy's documented pysqlite recipe)."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def register_extensions(app: Flask) -> None:
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
                     render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.session_protection = None  # the server-side login session is the protection
    login_manager.user_loader(session_loader.load_user)
    login_manager.request_loader(session_loader.load_user_from_request)
    login_manager.unauthorized_handler(session_loader.unauthorized)
    csrf.init_app(app)
    production = app.config["PRODUCTION"]
    talisman.init_app(
        app,
        force_https=production,
        strict_transport_security=production,
        strict_transport_security_max_age=31536000,
        strict_transport_security_include_subdomains=True,
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        content_security_policy=CSP,
        content_security_policy_nonce_in=["script-src"],
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
    )
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    mail.init_app(app)
    if app.config["MAIL_SUPPRESS_SEND"] and not app.testing:
        print_suppressed_mail()  # `make run` shows each email, links and all
    socketio.init_app(
        app,
        async_mode="threading",
        message_queue=app.config["REDIS_URL"] or None,
        channel=app.config["SOCKETIO_CHANNEL"],
        cors_allowed_origins=_socket_origins(app),
        manage_session=True,
    )
    init_api(app)


def _socket_origins(app: Flask):
    """Same origin plus the configured list; engineio checks the Origin header during the handshake."""
    configured = app.config["SOCKETIO_ALLOWED_ORIGINS"]
    if not configured:
        return None  # engineio's default: only the origin the request came to

    def allowed(origin, environ):
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin is not None and (origin == own or origin in configured)

    return allowed


def _select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    if session.get("lang") in languages:
        return session["lang"]
    return request.accept_languages.best_match(languages) or "en"


def _select_timezone() -> str | None:
    if has_request_context() and current_user.is_authenticated:
        return current_user.zone
    return None


def register_blueprints(app: Flask) -> None:
    """Every domain's pages, API, socket events and panels, in one place."""
    app.register_blueprint(health.bp)
    for blp in (accounts_bp, groups_bp, rooms_bp, supporters_bp, progress_bp, peers_bp, measures_bp):
        app.register_blueprint(blp)
    for blp in (accounts_api, groups_api, rooms_api, supporters_api, progress_api, peers_api, measures_api):
        register_api_blueprint(blp)
    register_api_blueprint(pair_chat_api)
    register_api_blueprint(circles_api)
    errors.register(app)
    register_socket_handlers()
    app.before_request(consent_sweep.start_once)
    app.before_request(peer_purge.start_once)
    register_panels()


def register_panels() -> None:
    """What each domain adds to a role's home page and to a session's page, in the order shown."""
    register_panel("facilitator", "rooms/_dashboard_now.html", room_routes.facilitator_now_panel, order=5)
    register_panel("facilitator", "rooms/_dashboard_alerts.html", room_queries.facilitator_alerts_panel, order=10)
    register_panel("facilitator", "rooms/_dashboard_attention.html", room_routes.facilitator_attention_panel,
                   order=30)
    register_panel("facilitator", "groups/_dashboard_facilitator.html", group_routes.facilitator_panel, order=50)
    register_panel("patient", "peers/_circle_now.html", peer_circles.patient_panel, order=4)
    register_panel("patient", "rooms/_dashboard_next.html", room_queries.patient_next, order=5)
    register_panel("patient", "groups/_agreement_changed.html", group_queries.agreements_to_read, order=6)
    register_panel("patient", "rooms/_dashboard_checkin.html", room_queries.patient_checkin_panel, order=10)
    register_panel("patient", "measures/_dashboard_patient.html", measure_answer_routes.patient_panel, order=20)
    register_panel("patient", "progress/_dashboard_patient.html", progress_routes.patient_panel, order=40)
    register_panel("patient", "groups/_dashboard_patient.html", group_queries.patient_dashboard, order=50)
    register_panel("patient", "peers/_dashboard_patient.html", peer_routes.patient_panel, order=45)
    register_panel("patient", "supporters/_dashboard_patient.html", supporter_routes.patient_panel, order=60)
    register_panel("supporter", "supporters/_dashboard_supporter.html", supporter_routes.supporter_panel, order=10)
    register_session_panel("rooms/_session_checkins.html", room_queries.session_checkins_panel, order=10)


def register_request_hooks(app: Flask) -> None:
    @app.before_request
    def remember_start():
        g.low_energy = bool(current_user.is_authenticated and current_user.low_energy)

    @app.after_request
    def commit_and_protect(response):
        # One commit per request, at the boundary. Error handlers roll back the failed work first, so what is left
        # here (an audit record of a denial, say) is meant to be kept.
        db.session.commit()
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.teardown_request
    def rollback_on_error(exc):
        if exc is not None:
            db.session.rollback()

    @app.context_processor
    def inject_policy():
        return {"policy": policy, "low_energy": g.get("low_energy", False), "role_label": role_label,
                "invitation_state_label": invitation_state_label, "get_locale": get_locale,
                "format_datetime": format_datetime, "session_time": session_time}

    # Macros imported with `{% from ... import %}` see globals, not the context above: `_macros.datetime` needs these.
    app.jinja_env.globals.update(format_datetime=format_datetime, get_locale=get_locale, session_time=session_time)
    app.jinja_env.filters.update(TIME_FILTERS)


def register_commands(app: Flask) -> None:
    cli.register(app)
    app.cli.add_command(peer_purge.peers_cli)
