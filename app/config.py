"""Configuration read from environment variables, one class per environment."""

import os
from datetime import timedelta
from urllib.parse import urlsplit


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    #: Key for the audit trail's HMAC chain; outside production it falls back to SECRET_KEY.
    AUDIT_KEY = os.environ.get("AUDIT_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "")
    REDIS_URL = os.environ.get("REDIS_URL", "")
    SERVER_NAME = os.environ.get("SERVER_NAME")
    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME", "http")
    #: Where people reach Momentum (scheme, host and any path prefix): every link in an email, a calendar feed or a
    #: code to share starts with it. Without it, SERVER_NAME with PREFERRED_URL_SCHEME; production needs one of them.
    BASE_URL = os.environ.get("BASE_URL", "")
    #: The host names requests may name; any other Host header is refused (400). Empty: BASE_URL's host, plus
    #: localhost and 127.0.0.1 outside production.
    TRUSTED_HOSTS = [h.strip() for h in os.environ.get("TRUSTED_HOSTS", "").split(",") if h.strip()] or None
    #: How many proxies in front of the app set X-Forwarded-For and X-Forwarded-Proto; 0 trusts neither header.
    PROXY_COUNT = _env_int("PROXY_COUNT", 0)
    #: The largest request body accepted, in bytes; a larger one is answered 413 before it is read.
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 1024 * 1024)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_DURATION = timedelta(seconds=0)
    #: Automatic logoff (ASVS 7.3): idle timeout and absolute lifetime of a login.
    SESSION_IDLE_MINUTES = _env_int("SESSION_IDLE_MINUTES", 30)
    SESSION_MAX_HOURS = _env_int("SESSION_MAX_HOURS", 12)
    API_TOKEN_DAYS = _env_int("API_TOKEN_DAYS", 30)
    INVITATION_DAYS = _env_int("INVITATION_DAYS", 7)
    PASSWORD_RESET_MINUTES = _env_int("PASSWORD_RESET_MINUTES", 60)

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the login session
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_HEADERS_ENABLED = True
    #: With Redis down, count in this process's memory instead of failing the request: the limits still hold per
    #: process, and a check-in (or a sign-in) does not turn into a server error (SECURITY.md 18).
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    LOGIN_FAILURE_LIMIT = os.environ.get("LOGIN_FAILURE_LIMIT", "10 per 15 minutes")

    #: Whether organisations ask staff for a second factor until their admin chooses otherwise.
    SECOND_FACTOR_FOR_STAFF = _env_bool("SECOND_FACTOR_FOR_STAFF", False)
    #: How long someone who gave the right password has to give their second factor.
    SECOND_FACTOR_STEP_MINUTES = _env_int("SECOND_FACTOR_STEP_MINUTES", 5)
    #: The passkeys' relying party: its id (a host name) and the origin pages are served from. By default from
    #: SERVER_NAME and PREFERRED_URL_SCHEME; outside production, failing those, from the address the request came to.
    WEBAUTHN_RP_ID = os.environ.get("WEBAUTHN_RP_ID")
    WEBAUTHN_ORIGIN = os.environ.get("WEBAUTHN_ORIGIN")

    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    LANGUAGES = ("en", "es")

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = _env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Momentum <no-reply@momentum.local>")
    #: When true, email is written to the log instead of being sent.
    MAIL_SUPPRESS_SEND = _env_bool("MAIL_SUPPRESS_SEND", True)
    #: Email leaves on a thread of its own, so that no answer waits on the mail relay (how long it took would tell
    #: whether an address has an account: SECURITY.md 11).
    MAIL_SEND_IN_BACKGROUND = True

    #: The Redis channel Socket.IO processes share; deployments on one Redis need different channels.
    SOCKETIO_CHANNEL = os.environ.get("SOCKETIO_CHANNEL", "momentum-socketio")
    #: Origins allowed to open a Socket.IO connection besides the app's own.
    SOCKETIO_ALLOWED_ORIGINS = [o for o in os.environ.get("SOCKETIO_ALLOWED_ORIGINS", "").split(",") if o]

    #: How often each app process writes down ended consents and sends renewal reminders (0: never).
    CONSENT_SWEEP_SECONDS = _env_int("CONSENT_SWEEP_SECONDS", 30)
    #: How often each app process removes peer messages past their organisation's retention period (0: never).
    PEER_PURGE_SECONDS = _env_int("PEER_PURGE_SECONDS", 3600)

    API_TITLE = "Momentum API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.1.0"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"

    PRODUCTION = False
    TESTING = False
    DEBUG = _env_bool("DEBUG", False)


class DevelopmentConfig(Config):
    #: The address `make run` serves.
    DEFAULT_BASE_URL = "http://127.0.0.1:5000"


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"
    AUDIT_KEY = "test-audit-key"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    REDIS_URL = ""
    MAIL_SUPPRESS_SEND = True
    MAIL_SEND_IN_BACKGROUND = False  # the tests read the outbox right after the request
    SERVER_NAME = None
    BASE_URL = "http://localhost"
    CONSENT_SWEEP_SECONDS = 0  # tests run the sweep themselves
    PEER_PURGE_SECONDS = 0  # and the purge
    RATELIMIT_ENABLED = True


class ProductionConfig(Config):
    PRODUCTION = True
    SECOND_FACTOR_FOR_STAFF = _env_bool("SECOND_FACTOR_FOR_STAFF", True)
    SESSION_COOKIE_SECURE = True
    MAIL_SUPPRESS_SEND = _env_bool("MAIL_SUPPRESS_SEND", False)


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_class(name: str) -> type[Config]:
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"MOMENTUM_ENV must be one of {', '.join(CONFIGS)}, not {name!r}") from None


LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


def resolve_links(config: dict) -> None:
    """Settle BASE_URL and TRUSTED_HOSTS from what is configured; refuse a base that is not an absolute http(s) URL,
    and, in production, a missing one or one without TLS."""
    base = config.get("BASE_URL") or os.environ.get("BASE_URL") or ""  # read again at start-up, like SECRET_KEY
    if not base and config.get("SERVER_NAME"):
        base = f"{config.get('PREFERRED_URL_SCHEME') or 'https'}://{config['SERVER_NAME']}"
    if not base and not config["PRODUCTION"]:
        base = config.get("DEFAULT_BASE_URL") or "http://localhost"
    if not base:
        raise RuntimeError("BASE_URL must be set in production (for example https://momentum.example.org): links in "
                           "emails are built from it, never from a request's Host header")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise RuntimeError(f"BASE_URL must be an absolute http or https address, not {base!r}")
    if config["PRODUCTION"] and parts.scheme != "https":
        raise RuntimeError("BASE_URL must start with https:// in production")
    config["BASE_URL"] = base.rstrip("/")
    if not config.get("TRUSTED_HOSTS"):
        hosts = [parts.hostname]
        if not config["PRODUCTION"]:
            hosts += [h for h in LOOPBACK_HOSTS if h != parts.hostname]
        config["TRUSTED_HOSTS"] = hosts


def check_production(config: dict) -> None:
    """Refuse to start a production app without a real secret and audit key, or with the debugger on.

    The environment is read again at start-up, not only at import: the secret is the one the process starts with
    (never the development default), and `flask run` turns its debugger on from FLASK_DEBUG whatever DEBUG says.
    The audit key must be a key of its own: one that is also the session secret signs the trail with a value that
    every process handling cookies holds.
    """
    secret = os.environ.get("SECRET_KEY")
    if not secret:
        raise RuntimeError("SECRET_KEY must be set in production")
    config["SECRET_KEY"] = secret
    audit_key = os.environ.get("AUDIT_KEY") or config.get("AUDIT_KEY")
    if not audit_key:
        raise RuntimeError("AUDIT_KEY must be set in production (a long random value of its own)")
    if audit_key == secret:
        raise RuntimeError("AUDIT_KEY must differ from SECRET_KEY")
    config["AUDIT_KEY"] = audit_key
    if config.get("DEBUG") or _env_bool("DEBUG", False) or _env_bool("FLASK_DEBUG", False):
        raise RuntimeError("DEBUG must be off in production (unset DEBUG and FLASK_DEBUG)")
