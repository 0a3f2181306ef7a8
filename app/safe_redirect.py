"""Same-site redirects only: `next` accepts a relative path on this site and nothing else."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from flask import redirect, url_for


def is_safe_next(target: str | None) -> bool:
    if not target or len(target) > 2000:
        return False
    # Decode repeatedly so that encoded tricks (%2F%2F, %5C, %0D%0A) are judged in their decoded form.
    decoded = target
    for _ in range(3):
        decoded = unquote(decoded)
    for candidate in (target, decoded):
        if any(ord(ch) < 32 or ch == "\x7f" for ch in candidate):
            return False
        if "\\" in candidate:
            return False
        if not candidate.startswith("/") or candidate.startswith("//"):
            return False
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return False
    return True


def redirect_next(target: str | None, fallback_endpoint: str = "accounts.home"):
    return redirect(target if is_safe_next(target) else url_for(fallback_endpoint))
