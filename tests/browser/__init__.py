"""Browser tests: Debian's Chromium through Playwright against the demo on a live server.

A package, so that this directory's conftest does not shadow tests/conftest.py for `from conftest import ...`.
"""

#: The narrowest screen the layout supports (WCAG 1.4.10 reflow): nothing may scroll sideways.
NARROW = {"width": 320, "height": 640}
