"""Liveness and readiness probes for the proxy and the orchestrator."""

import redis
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.extensions import csrf, db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


def _check_redis(url: str) -> str:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
        return "ok"
    except redis.RedisError:
        return "unreachable"


@bp.get("/readyz")
def readyz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any driver error means not ready; the probe must answer, not crash
        db.session.rollback()
        checks["database"] = "unreachable"
    if current_app.config["REDIS_URL"]:
        checks["redis"] = _check_redis(current_app.config["REDIS_URL"])
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


csrf.exempt(bp)
