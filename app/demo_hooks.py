"""Domains add their demo data here (a group, a pair, a consent), each hook idempotent like the rest."""

from collections.abc import Callable

HOOKS: list[Callable] = []


def demo_hook(func: Callable) -> Callable:
    HOOKS.append(func)
    return func
