"""Browser tests: Debian's Chromium through Playwright against the demo on a live server.

A package, so that this directory's conftest does not shadow tests/conftest.py for `from conftest import ...`.
"""

#: The narrowest screen the layout supports (WCAG 1.4.10 reflow): nothing may scroll sideways.
NARROW = {"width": 320, "height": 640}


def main_navigation(page):
    """The main navigation as shown at the page's width: on a phone, the bottom bar with its "More" menu opened."""
    nav = page.get_by_role("navigation", name="Main")
    more = nav.locator("details.more-menu")
    if more.count() and more.is_visible() and not more.evaluate("details => details.open"):
        more.locator("summary").click()
    return nav
