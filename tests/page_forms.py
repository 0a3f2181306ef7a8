"""Submitting pages' forms as a browser does: open the page, take the CSRF token its form carries, post."""

from __future__ import annotations

import re

from conftest import PASSWORD


def page_csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', html).group(0)
    return re.search(r'value="([^"]*)"', tag).group(1)


def submit(client, page_url: str, data: dict, action: str | None = None, **kwargs):
    """Open a page and submit its form with the token it carries."""
    token = page_csrf_token(client.get(page_url, **kwargs).text)
    return client.post(action or page_url, data={"csrf_token": token, **data}, **kwargs)


def sign_in(client, email: str, password: str = PASSWORD, next_: str = "", **kwargs):
    return submit(client, "/login", {"email": email, "password": password, "next": next_}, **kwargs)


def is_signed_in(client) -> bool:
    return client.get("/profile").status_code == 200
