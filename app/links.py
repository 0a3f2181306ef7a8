"""Links that leave the app (in emails, calendar feeds, codes to share) are built from the configured BASE_URL,
never from the request: a Host header is the caller's to choose, and a reset link sent to someone's inbox must point
at the real Momentum whoever asked for it."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def external_url(endpoint: str, **values) -> str:
    """The absolute address of an endpoint under BASE_URL; works outside a request too (background jobs)."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)
