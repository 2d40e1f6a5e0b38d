"""Browsers ask every page's site for /favicon.ico when the page names no icon (the admin's pages): it answers with
Maestro ML's icon, not a 404 in the console of every admin page."""

from __future__ import annotations

import struct

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_favicon_ico_is_served_at_the_root_as_an_icon_of_three_sizes(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body == (settings.WHITENOISE_ROOT / "favicon.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", body[:6])
    assert (reserved, kind) == (0, 1)  # an icon resource
    sizes = {struct.unpack("<BB", body[6 + 16 * index : 8 + 16 * index]) for index in range(count)}
    assert sizes == {(16, 16), (32, 32), (48, 48)}


def test_admin_pages_name_no_icon_so_browsers_fall_back_to_the_root_one(client):
    page = client.get("/admin/login/").content.decode()
    assert 'rel="icon"' not in page and client.get("/favicon.ico").status_code == 200
