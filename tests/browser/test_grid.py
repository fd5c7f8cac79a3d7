"""The grid with thousands of photos: infinite scroll by cursor, appended pages, placeholders.

The feed API is answered by the test (Playwright routes) so that a thousand photos cost nothing to
make; the page, its scripts and its layout are the real ones, served by the real local stack.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from browser.conftest import DESKTOP
from browser.helpers import goto

pytestmark = pytest.mark.browser

PAGES = 21
PAGE_SIZE = 48
BLURHASH = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"  # blurha.sh's example: 4 x 3 components
# A 1x1 PNG: the thumbnails' bytes do not matter here, only that they load.
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
                         "hKmMIQAAAABJRU5ErkJggg==")
SHAPES = [(4000, 3000), (3000, 4000), (1600, 900), (1000, 1000), (6000, 2000)]


def fake_item(n: int) -> dict[str, Any]:
    width, height = SHAPES[n % len(SHAPES)]
    return {
        "id": f"{10**9 - n:026d}", "owner": "alice", "title": f"Photo {n}", "description": None,
        "width": width, "height": height, "created_at": "2026-01-01T00:00:00Z", "taken_at": None,
        "camera": {},
        # Some with a BlurHash, some with only a colour, some with neither.
        "placeholder": BLURHASH if n % 3 == 0 else None,
        "dominant_color": "#336699" if n % 3 == 1 else None,
        "urls": {"thumbnail": f"/fake-thumbs/{n}.png", "preview": f"/fake-thumbs/{n}.png"},
    }


def test_infinite_scroll_appends_pages_without_redrawing_and_keeps_each_shape(
    stack: Any, new_context: Any
) -> None:
    page = new_context(viewport=DESKTOP).new_page()
    cursors: list[str | None] = []

    def feed(route: Any) -> None:
        cursor = parse_qs(urlparse(route.request.url).query).get("cursor", [None])[0]
        cursors.append(cursor)
        index = int(cursor or 0)
        items = [fake_item(n) for n in range(index * PAGE_SIZE, (index + 1) * PAGE_SIZE)]
        body = {"items": items, "next_cursor": str(index + 1) if index + 1 < PAGES else None}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route(re.compile(r"/feed\?"), feed)
    page.route(re.compile(r"/fake-thumbs/"), lambda route: route.fulfill(status=200, content_type="image/png",
                                                                         body=PIXEL))
    goto(page, "/#/feed")
    tiles = page.locator(".grid .tile")
    expect(tiles.first).to_be_visible()
    # Only what the screen needs (and a little ahead) is fetched at first.
    assert tiles.count() < 4 * PAGE_SIZE
    page.evaluate("() => { document.querySelector('.grid .tile').dataset.marker = 'first-node'; }")

    total = PAGES * PAGE_SIZE
    for _ in range(PAGES * 3):
        if tiles.count() == total:
            break
        page.keyboard.press("End")
        page.wait_for_timeout(100)
    expect(tiles).to_have_count(total)
    # Pages were appended: the first tile is the very node drawn at first, and each cursor came once.
    assert page.locator('.grid .tile[data-marker="first-node"]').count() == 1
    assert cursors == [None] + [str(i) for i in range(1, PAGES)]
    ids = tiles.evaluate_all("(all) => all.map((t) => t.dataset.id)")
    assert len(set(ids)) == total

    # Placeholders at the photo's shape: BlurHash on a small canvas, else the colour, else neutral.
    shapes = page.evaluate("""() => [...document.querySelectorAll('.grid .tile')].slice(0, 15).map((t) => {
        const box = t.getBoundingClientRect();
        const ph = t.querySelector('.ph');
        return {ratio: box.width / box.height, tag: ph.tagName, color: getComputedStyle(ph).backgroundColor};
    })""")
    for n, shape in enumerate(shapes):
        width, height = SHAPES[n % len(SHAPES)]
        assert shape["ratio"] == pytest.approx(width / height, rel=0.03), (n, shape)
        assert shape["tag"] == ("CANVAS" if n % 3 == 0 else "DIV")
        if n % 3 == 1:
            assert shape["color"] == "rgb(51, 102, 153)"
    images = page.locator(".grid .tile img")
    assert images.evaluate_all("(all) => all.every((i) => i.loading === 'lazy' && i.alt)")
