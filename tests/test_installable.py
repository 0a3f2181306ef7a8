"""Momentum can be kept on a phone's home screen: every page names its icon and web app manifest, and the manifest
is served with its type and names icons that exist at the sizes it states."""

from __future__ import annotations

import json
import struct
from urllib.parse import urlsplit

import pytest

MANIFEST = "/static/manifest.webmanifest"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("signed_in", [False, True], ids=["signed-out", "signed-in"])
def test_every_page_names_the_icon_and_the_manifest(client, login, patient, signed_in):
    if signed_in:
        login(client, patient)
    html = client.get("/" if signed_in else "/login").get_data(as_text=True)
    assert f'<link rel="manifest" href="{MANIFEST}">' in html
    assert '<link rel="icon" href="data:image/svg+xml,<svg%20xmlns=%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22' in html
    assert 'rel="apple-touch-icon" href="/static/icons/apple-touch-icon.png"' in html


def test_the_manifest_is_installable_and_its_icons_exist_at_their_sizes(client):
    with client.get(MANIFEST) as response:
        assert response.status_code == 200
        assert response.mimetype == "application/manifest+json"
        manifest = json.loads(response.data)
    assert manifest["name"] == "Momentum"
    assert manifest["display"] == "standalone"
    assert urlsplit(manifest["start_url"]).path == "/"
    purposes = set()
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as served:
            assert served.status_code == 200, icon["src"]
            assert served.mimetype == icon["type"]
            if icon["type"] == "image/png":
                width, height = _png_size(served.data)
                assert f"{width}x{height}" == icon["sizes"]
                purposes.add((icon["purpose"], width))
    # Installable: a 192 and a 512 pixel icon, and one that a phone may crop to its own shape.
    assert {("any", 192), ("any", 512), ("maskable", 512)} <= purposes
    with client.get("/static/icons/apple-touch-icon.png") as touch_icon:
        assert _png_size(touch_icon.data) == (180, 180)
