"""Panels: each domain registers what it adds to a role's home page, and to a session's page, in order; the page's
own domain need not know the others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Panel:
    role: str
    template: str
    context: Callable[[object], dict]
    order: int = 100


PANELS: list[Panel] = []


def register_panel(role: str, template: str, context: Callable[[object], dict], order: int = 100) -> None:
    if not any(p.role == role and p.template == template for p in PANELS):
        PANELS.append(Panel(role, template, context, order))


def panels_for(user) -> list[tuple[str, dict]]:
    role = user.role.value if user.role else None
    return [(p.template, p.context(user)) for p in sorted(PANELS, key=lambda p: p.order) if p.role == role]


@dataclass(frozen=True)
class SessionPanel:
    template: str
    context: Callable[[object, object], dict]
    order: int = 100


SESSION_PANELS: list[SessionPanel] = []


def register_session_panel(template: str, context: Callable[[object, object], dict], order: int = 100) -> None:
    """A panel on a session's page: `context(user, occurrence)` gives what its template shows."""
    if not any(p.template == template for p in SESSION_PANELS):
        SESSION_PANELS.append(SessionPanel(template, context, order))


def session_panels_for(user, occurrence) -> list[tuple[str, dict]]:
    return [(p.template, p.context(user, occurrence)) for p in sorted(SESSION_PANELS, key=lambda p: p.order)]
