"""The web gallery in headless Chromium against a real local stack.

Given a fresh local stack, a person signs up, uploads real photos by the file chooser and by
drag-and-drop, browses them, pages through the lightbox with the keyboard, edits a title, shares a
photo that then shows in the public feed for a signed-out visitor, and deletes one for good.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from browser.conftest import DATA, DESKTOP, PASSWORD, PHONE, Stack, http
from browser.helpers import (
    READY_TIMEOUT_MS,
    data_file,
    drop_files,
    goto,
    loaded_tiles,
    reload,
    sign_in,
    tile,
    tokens,
    upload_by_api,
)

pytestmark = pytest.mark.browser

CHOSEN = ["Canon_40D.jpg", "DSCN0010.jpg", "blackbug.png", "4.webp", "Landscape_1.jpg", "Landscape_2.jpg",
          "Landscape_3.jpg", "Landscape_4.jpg", "Landscape_5.jpg", "Landscape_6.jpg", "Landscape_7.jpg",
          "Landscape_8.jpg"]
DROPPED = ["Alpha_Lossy_1_.webp", "animated-loop-3.gif", "embedgravitybird.png", "Issue_242.jpg",
           "Channel_digital_image_CMYK_color.jpg", "Issue_649.avif", "iphone_13_pro_max.HEIC"]
LIBRARY = ["Landscape_1.jpg", "Landscape_2.jpg", "blackbug.png", "Landscape_3.jpg", "DSCN0010.jpg"]
PHONE_LIBRARY = [*LIBRARY, "Canon_40D.jpg", "4.webp", "Issue_242.jpg", "embedgravitybird.png",
                 "Alpha_Lossy_1_.webp", "Landscape_5.jpg"]


def check_accessible(page: Page) -> None:
    """Every image has an alt, every control a name (the page's own, visible or in an open dialog)."""
    problems = page.evaluate("""() => {
        const bad = [];
        const named = (el) => (el.getAttribute("aria-label") || el.textContent || "").trim()
            || (el.labels && el.labels.length) || el.getAttribute("aria-labelledby") || el.title
            || [...el.querySelectorAll("img[alt]")].some((img) => img.alt.trim());
        const controls = "button, a[href], input, textarea, select, [role=switch]";
        for (const img of document.querySelectorAll("img")) {
            if (!img.hasAttribute("alt")) bad.push("img without alt: " + img.src.slice(0, 60));
        }
        for (const el of document.querySelectorAll(controls)) {
            if (el.type === "hidden" || el.closest("[hidden]")) continue;
            if (!named(el)) bad.push("unnamed " + el.tagName + " " + el.outerHTML.slice(0, 80));
        }
        return bad;
    }""")
    assert problems == []


def test_sign_up_and_upload_by_chooser_and_drop_shows_every_thumbnail(
    new_context: Any, username: str, artifacts: Path
) -> None:
    page = new_context().new_page()
    goto(page, "/#/signup")
    form = page.locator("#main")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Email").fill(f"{username}@example.com")
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="No photos yet")).to_be_visible()

    # Bytes go straight to storage, at most four files at a time.
    sending = {"now": 0, "most": 0}

    def started(request: Any) -> None:
        if request.method == "PUT":
            sending["now"] += 1
            sending["most"] = max(sending["most"], sending["now"])

    def ended(request: Any) -> None:
        if request.method == "PUT":
            sending["now"] -= 1

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)

    # The Upload button opens the file chooser; many files at once, each with its own row.
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload", exact=True).click()
    chooser.value.set_files([str(DATA / name) for name in CHOSEN])
    rows = page.locator("#uploads-list .up-row")
    expect(rows).to_have_count(len(CHOSEN))
    expect(page.get_by_label(f"Upload progress of {CHOSEN[0]}")).to_be_attached()

    # Dropped files, one with an empty type (HEIC from some systems) and one that is not an image.
    dropped = [data_file(name) for name in DROPPED[:-1]] + [data_file(DROPPED[-1], mime="")]
    dropped.append(("notes.jpg", b"this is not a photo at all", "image/jpeg"))
    drop_files(page, dropped)
    expect(rows).to_have_count(len(CHOSEN) + len(dropped))

    total_ok = len(CHOSEN) + len(DROPPED)
    expect(page.locator('.up-row[data-state="done"]')).to_have_count(total_ok, timeout=120_000)
    rejected = page.locator(".up-row", has_text="notes.jpg")
    expect(rejected).to_have_attribute("data-state", "error", timeout=READY_TIMEOUT_MS)
    expect(rejected.locator(".up-status")).to_contain_text("Not added:")
    expect(page.locator("#uploads-title")).to_have_text(f"{total_ok} uploaded · 1 failed")
    assert 1 < sending["most"] <= 4, sending

    # Every photo's thumbnail is in the grid, without a reload; the rejected one is not.
    expect(page.locator('.grid .tile[data-status="ready"]')).to_have_count(total_ok)
    expect(page.locator(".grid .tile.is-rejected, .grid .tile.is-processing")).to_have_count(0)
    page.get_by_role("button", name="Close uploads panel").click()
    page.evaluate("() => window.scrollTo(0, 0)")
    expect(loaded_tiles(page).first).to_be_visible()
    check_accessible(page)
    page.screenshot(path=artifacts / "grid-desktop.png")

    # Signed in after a reload: the refresh token is kept; the grid comes back newest first.
    reload(page)
    expect(page.get_by_role("heading", name="Photos", level=1)).to_be_visible()
    expect(page.locator('.grid .tile[data-status="ready"]')).to_have_count(total_ok)
    ids = page.locator(".grid .tile").evaluate_all("(tiles) => tiles.map((t) => t.dataset.id)")
    assert ids == sorted(ids, reverse=True)
    # The rejected upload is listed with its reason until its owner removes it.
    rejected_tile = page.locator(".grid .tile.is-rejected")
    expect(rejected_tile).to_have_count(1)
    expect(rejected_tile.get_by_role("img")).to_have_attribute("aria-label", re.compile(r"^notes\.jpg: .+"))
    rejected_tile.get_by_role("button", name="Remove notes.jpg").click()
    expect(rejected_tile).to_have_count(0)
    reload(page)
    expect(page.locator(".grid .tile")).to_have_count(total_ok)


def test_lightbox_pages_by_keyboard_edits_a_title_and_shares_to_the_feed(
    stack: Stack, new_context: Any, username: str, artifacts: Path
) -> None:
    stack.signup(username)
    ids = upload_by_api(stack, tokens(stack, username)["id_token"], LIBRARY)
    newest = ids[-1]
    page = new_context().new_page()
    sign_in(page, username)
    expect(loaded_tiles(page)).to_have_count(len(LIBRARY))

    # Keyboard only: Tab to the first photo, Enter opens the viewer with focus inside it.
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('tile-btn')"):
            break
    expect(tile(page, newest).locator(".tile-btn")).to_be_focused()
    page.keyboard.press("Enter")
    viewer = page.get_by_role("dialog", name="Photo viewer")
    expect(viewer).to_be_visible()
    expect(page.locator("#lb-count")).to_have_text("1 of 5")
    expect(page.locator("#lb-img")).to_have_attribute("src", re.compile(r"1024"))
    download = viewer.get_by_role("link", name="Download original")
    expect(download).to_have_attribute("href", re.compile(r"attachment"))
    expect(viewer.locator(".details")).to_contain_text("Dimensions")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#lb-count")).to_have_text("2 of 5")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#lb-count")).to_have_text("2 of 5")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#lb-count")).to_have_text("1 of 5")
    # Focus stays in the viewer (the page behind is inert).
    for _ in range(15):
        page.keyboard.press("Tab")
        assert page.evaluate("() => !!document.activeElement.closest('#lightbox')")

    # Edit the title in place; Enter saves it.
    title = viewer.get_by_label("Title")
    title.fill("Vineyard in October")
    title.press("Enter")
    expect(viewer.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    expect(tile(page, newest).locator("img")).to_have_attribute("alt", "Vineyard in October")

    # Make it public.
    switch = viewer.get_by_role("switch", name="Public")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()
    expect(viewer.get_by_role("switch", name="Public")).to_have_attribute("aria-checked", "true")
    check_accessible(page)
    page.mouse.move(0, 0)
    page.screenshot(path=artifacts / "lightbox-desktop.png")

    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(tile(page, newest).locator(".tile-btn")).to_be_focused()

    # The title survives a reload.
    reload(page)
    expect(tile(page, newest).locator("img")).to_have_attribute("alt", "Vineyard in October")

    # A visitor who is not signed in finds it in the feed and on the owner's page.
    visitor = new_context().new_page()
    goto(visitor, "/#/feed")
    expect(visitor.get_by_role("heading", name="Explore")).to_be_visible()
    shared = tile(visitor, newest)
    expect(shared.locator("img")).to_have_attribute("alt", "Vineyard in October")
    for private_id in ids[:-1]:
        expect(tile(visitor, private_id)).to_have_count(0)
    shared.locator(".tile-btn").click()
    public_viewer = visitor.get_by_role("dialog", name="Photo viewer")
    expect(public_viewer.get_by_role("heading", name="Vineyard in October")).to_be_visible()
    expect(public_viewer.get_by_role("link", name="Download original")).to_be_hidden()
    expect(public_viewer.get_by_role("button", name="Delete photo")).to_be_hidden()
    public_viewer.get_by_role("link", name=f"@{username}").click()
    expect(visitor.get_by_text("1 public photo")).to_be_visible()
    expect(tile(visitor, newest)).to_be_visible()
    check_accessible(visitor)


def test_delete_moves_to_the_trash_and_the_photo_is_gone_after_a_reload(
    stack: Stack, new_context: Any, username: str
) -> None:
    stack.signup(username)
    ids = upload_by_api(stack, tokens(stack, username)["id_token"], LIBRARY[:3])
    page = new_context().new_page()
    sign_in(page, username)
    expect(loaded_tiles(page)).to_have_count(3)
    victim = ids[1]
    tile(page, victim).locator(".tile-btn").click()
    viewer = page.get_by_role("dialog", name="Photo viewer")
    expect(page.locator("#lb-count")).to_have_text("2 of 3")

    # No question first: the toast offers Undo, and the trash keeps it for 30 days.
    viewer.get_by_role("button", name="Move to trash").click()
    expect(tile(page, victim)).to_have_count(0)  # at once, without a reload
    expect(page.locator("#lb-count")).to_have_text("2 of 2")  # the viewer moves on to the next photo
    expect(page.get_by_role("button", name="Undo")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".grid .tile")).to_have_count(2)

    reload(page)
    expect(loaded_tiles(page)).to_have_count(2)
    expect(tile(page, victim)).to_have_count(0)


def test_an_expired_session_signs_in_again_and_keeps_the_unsaved_edit(
    stack: Stack, new_context: Any, username: str
) -> None:
    stack.signup(username)
    [photo_id] = upload_by_api(stack, tokens(stack, username)["id_token"], ["Canon_40D.jpg"])
    page = new_context().new_page()
    sign_in(page, username)
    tile(page, photo_id).locator(".tile-btn").click()
    viewer = page.get_by_role("dialog", name="Photo viewer")
    refreshes: list[str] = []
    page.on("request", lambda r: refreshes.append(r.url) if r.url.endswith("/auth/refresh") else None)

    # Only the id token has expired: one 401, one refresh, and the save goes through unnoticed.
    once = {"left": 1}

    def expire_once(route: Any) -> None:
        if route.request.method == "PATCH" and once["left"]:
            once["left"] -= 1
            route.fulfill(status=401, content_type="application/json",
                          body='{"Code": "Unauthorized", "Message": "token expired"}')
        else:
            route.continue_()

    page.route(re.compile(r"/images/[0-9A-Z]+$"), expire_once)
    viewer.get_by_label("Description").fill("Saved after a silent refresh")
    viewer.get_by_label("Description").press("Control+Enter")
    expect(viewer.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    assert len(refreshes) == 1
    page.unroute(re.compile(r"/images/[0-9A-Z]+$"))

    # Now the refresh token has expired too: the server answers 401 to both.
    expired = {"on": True}

    def refuse(route: Any) -> None:
        if expired["on"]:
            route.fulfill(status=401, content_type="application/json",
                          body='{"Code": "Unauthorized", "Message": "token expired"}')
        else:
            route.continue_()

    page.route(re.compile(r"/images/[0-9A-Z]+$"), refuse)
    page.route(re.compile(r"/auth/refresh$"), refuse)
    viewer.get_by_label("Title").fill("Kept across sign-in")
    viewer.get_by_label("Title").press("Enter")

    reauth = page.get_by_role("dialog", name="Your session has expired")
    expect(reauth).to_be_visible()
    expect(reauth.get_by_label("Username")).to_have_value(username)
    expired["on"] = False
    reauth.get_by_label("Password").fill(PASSWORD)
    reauth.get_by_role("button", name="Sign in").click()
    expect(reauth).to_be_hidden()
    expect(viewer.get_by_role("status").filter(has_text="Saved")).to_be_visible()

    page.keyboard.press("Escape")
    reload(page)
    expect(tile(page, photo_id).locator("img")).to_have_attribute("alt", "Kept across sign-in")
    tile(page, photo_id).locator(".tile-btn").click()
    expect(viewer.get_by_label("Description")).to_have_value("Saved after a silent refresh")


def test_phone_layout_swipes_between_photos_and_signs_out(
    stack: Stack, new_context: Any, username: str, artifacts: Path
) -> None:
    stack.signup(username)
    upload_by_api(stack, tokens(stack, username)["id_token"], PHONE_LIBRARY)
    page = new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2).new_page()
    sign_in(page, username)
    expect(loaded_tiles(page)).to_have_count(len(PHONE_LIBRARY))
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=artifacts / "grid-phone.png")

    loaded_tiles(page).first.locator(".tile-btn").click()
    expect(page.locator("#lb-count")).to_have_text("1 of 11")
    expect(page.locator("#lb-frame")).to_have_class(re.compile("loaded"))
    page.screenshot(path=artifacts / "lightbox-phone.png")
    stage = page.locator("#lb-stage")
    box = stage.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    for event, x in (("pointerdown", box["x"] + 300), ("pointerup", box["x"] + 60)):
        stage.dispatch_event(event, {"pointerType": "touch", "clientX": x, "clientY": y, "isPrimary": True})
    expect(page.locator("#lb-count")).to_have_text("2 of 11")
    page.get_by_role("button", name="Close viewer").click()

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#main").get_by_role("button", name="Sign in")).to_be_visible()
    reload(page)
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert page.evaluate("() => localStorage.getItem('gallery.session')") is None


def test_the_page_holds_no_secrets_and_sends_a_strict_policy(stack: Stack, new_context: Any) -> None:
    page = new_context(viewport=DESKTOP).new_page()
    goto(page, "/#/feed")
    expect(page.get_by_role("heading", name="Explore")).to_be_visible()
    # What the app serves as the page (presigned image URLs in the feed carry a key id, by design).
    session = http()
    for path in ("/", "/static/app.js", "/static/blurhash.js", "/static/styles.css"):
        served = session.get(f"{stack.url}{path}", timeout=30)
        assert served.status_code == 200
        for secret in ("USER_POOL", "CURSOR_SECRET", "AWS_SECRET", "testing", "eyJ"):
            assert secret not in served.text, (path, secret)
    policy = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content") or ""
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_profile_is_edited_on_ones_own_page_and_the_account_can_be_deleted(
    stack: Stack, new_context: Any, username: str
) -> None:
    stack.signup(username)
    page = new_context().new_page()
    sign_in(page, username)
    page.get_by_role("link", name=f"Your public page (@{username})").click()
    # The button comes with the profile: the heading is then the profile's (no display name yet).
    expect(page.get_by_role("button", name="Edit profile")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"@{username}")
    page.get_by_role("button", name="Edit profile").click()
    dialog = page.get_by_role("dialog", name="Edit profile")
    dialog.get_by_label("Display name").fill("Ada Lovelace")
    dialog.get_by_label("Bio").fill("Engines and light")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Ada Lovelace @{username}")

    visitor = new_context().new_page()
    goto(visitor, f"/#/u/{username}")
    expect(visitor.get_by_role("heading", level=1)).to_have_text(f"Ada Lovelace @{username}")
    expect(visitor.get_by_text("Engines and light · 0 public photos")).to_be_visible()
    expect(visitor.get_by_role("button", name="Edit profile")).to_have_count(0)

    page.get_by_role("button", name="Edit profile").click()
    dialog.get_by_role("button", name="Delete account").click()
    confirm = page.get_by_role("dialog", name="Delete your account?")
    confirm.get_by_role("button", name="Delete account").click()
    expect(page.locator("#main").get_by_role("button", name="Sign in")).to_be_visible()
    login = {"username": username, "password": PASSWORD}
    gone = http().post(f"{stack.url}/auth/login", json=login, timeout=30)
    assert gone.status_code == 401


def test_the_ui_works_under_a_path_prefix_as_deployed(stack: Stack, new_context: Any, username: str) -> None:
    """Deployed, the app answers under /api/: every URL the page uses must be relative to it."""
    stack.signup(username)
    [photo_id] = upload_by_api(stack, tokens(stack, username)["id_token"], ["Canon_40D.jpg"])
    page = new_context().new_page()
    outside: list[str] = []

    def strip_prefix(route: Any) -> None:
        url = route.request.url
        if not url.startswith(f"{stack.url}/api/"):
            outside.append(url)
            route.continue_()
            return
        response = route.fetch(url=stack.url + url[len(stack.url) + len("/api"):])
        route.fulfill(response=response)

    page.route(re.compile(re.escape(stack.url) + r"/.*"), strip_prefix)
    goto(page, "/api/#/signin")
    form = page.locator("#main")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    # (The thumbnail itself is not checked: it is an absolute URL on the storage endpoint, and a page
    # that Playwright fulfils counts as public, so Chromium blocks its requests to the loopback.)
    expect(tile(page, photo_id).locator("img")).to_have_attribute("alt", re.compile("Photo from"))
    tile(page, photo_id).locator(".tile-btn").click()
    expect(page.get_by_role("dialog", name="Photo viewer").locator(".details")).to_contain_text("Canon")
    # The page may still be fetching (the viewer preloads): let those finish before the context
    # closes, or their route.fetch fails in whichever test Playwright reports it to next.
    page.unroute_all(behavior="wait")
    assert outside == []
