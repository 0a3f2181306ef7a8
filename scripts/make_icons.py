"""Render the app's icon (app/static/icons/momentum.svg) to the PNG sizes the web app manifest and phones ask for.

Run with the project's Python after changing the SVG: .venv/bin/python scripts/make_icons.py
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

ICONS = Path(__file__).resolve().parent.parent / "app" / "static" / "icons"
# name: (size in pixels, padding as a share of the size, whether the corners are filled). A maskable icon keeps its
# drawing in the middle 80 % on a filled square; a phone's home screen rounds the corners itself.
SIZES = {"icon-192.png": (192, 0, False), "icon-512.png": (512, 0, False),
         "icon-maskable-512.png": (512, 0.1, True), "apple-touch-icon.png": (180, 0, True)}


def main() -> None:
    svg = (ICONS / "momentum.svg").read_text()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        for name, (size, padding, filled) in SIZES.items():
            page = browser.new_page(viewport={"width": size, "height": size})
            inset = int(size * padding)
            page.set_content(
                f"<html><body style='margin:0;background:{'#285a8c' if filled else 'transparent'}'>"
                f"<div style='width:{size - 2 * inset}px;height:{size - 2 * inset}px;margin:{inset}px'>{svg}</div>"
                "</body></html>")
            page.locator("svg").evaluate("svg => { svg.style.width = '100%'; svg.style.height = '100%'; }")
            page.screenshot(path=str(ICONS / name), omit_background=not filled)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
