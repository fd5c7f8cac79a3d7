"""Organize and share, in headless Chromium against a real local stack.

Albums made from a selection and from the viewer, reordered, shared by a password-protected link that a
signed-out visitor opens (wrong password, then right) until it is revoked; the trash with Undo, the
Trash view and emptying it; favourites; search by a word and by dates.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from browser.conftest import PHONE, Stack, http
from browser.helpers import goto, loaded_tiles, reload, sign_in, tile, tokens, upload_by_api

pytestmark = pytest.mark.browser

# Canon_40D was taken on 2008-05-30, DSCN0010 on 2008-10-22; the landscapes carry no date (their upload
# time stands in), so by date taken an album shows Canon, DSCN, then the landscapes.
PHOTOS = ["Landscape_1.jpg", "DSCN0010.jpg", "Canon_40D.jpg", "Landscape_2.jpg"]


def grid_ids(page: Page) -> list[str]:
    return list(page.locator(".grid .tile").evaluate_all("(all) => all.map((t) => t.dataset.id)"))


def select(page: Page, photo_id: str) -> None:
    tile(page, photo_id).hover()
    tile(page, photo_id).locator(".tile-check").click()


def test_album_from_a_selection_reordered_and_shared_by_a_password_link_until_revoked(
    stack: Stack, new_context: Any, username: str, artifacts: Path
) -> None:
    stack.signup(username)
    landscape1, dscn, canon, landscape2 = upload_by_api(stack, tokens(stack, username)["id_token"], PHOTOS)
    page = new_context().new_page()
    sign_in(page, username)
    expect(loaded_tiles(page)).to_have_count(4)

    # Select three photos; a tap then selects instead of opening.
    select(page, landscape1)
    select(page, dscn)
    tile(page, canon).locator(".tile-btn").click()
    bar = page.get_by_role("toolbar", name="Selected photos")
    expect(bar.get_by_text("3 selected")).to_be_visible()
    expect(page.get_by_role("dialog", name="Photo viewer")).to_be_hidden()
    bar.get_by_role("button", name="Add to album").click()
    picker = page.get_by_role("dialog", name="Add 3 photos to an album")
    picker.get_by_label("New album title").fill("Coast trip")
    picker.get_by_role("button", name="New album").click()
    expect(page.get_by_text("Added 3 photos to “Coast trip”")).to_be_visible()
    expect(bar).to_be_hidden()

    # A fourth from the viewer.
    tile(page, landscape2).locator(".tile-btn").click()
    viewer = page.get_by_role("dialog", name="Photo viewer")
    viewer.get_by_role("button", name="Add to album").click()
    page.get_by_role("dialog", name="Add to album").get_by_role("button", name="Coast trip").click()
    expect(page.get_by_text("Added 1 photo to “Coast trip”")).to_be_visible()
    page.keyboard.press("Escape")

    page.get_by_role("link", name="Albums", exact=True).click()
    card = page.locator(".album-card").filter(has_text="Coast trip")
    expect(card).to_contain_text("4 photos")
    expect(card.locator(".album-cover.loaded img")).to_have_count(1)  # the first photo's thumbnail
    card.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Coast trip", level=1)).to_be_visible()
    expect(loaded_tiles(page)).to_have_count(4)
    by_date = grid_ids(page)
    assert by_date[:2] == [canon, dscn] and set(by_date[2:]) == {landscape1, landscape2}
    expect(page.get_by_text("By date taken")).to_be_visible()

    # Reorder: Canon moves later, by its button; the order is the owner's from now on.
    page.get_by_role("button", name="Reorder").click()
    move = tile(page, canon).get_by_role("button", name=re.compile("later$"))
    with page.expect_response(lambda r: r.request.method == "PATCH" and "/albums/" in r.url) as patched:
        move.click()
    assert patched.value.status == 200
    reordered = [dscn, canon, *by_date[2:]]
    assert grid_ids(page) == reordered
    page.get_by_role("button", name="Done").click()
    reload(page)
    expect(loaded_tiles(page)).to_have_count(4)
    assert grid_ids(page) == reordered
    expect(page.get_by_text("In your order")).to_be_visible()

    # Cover, rename, describe.
    tile(page, landscape1).locator(".tile-btn").click()
    viewer.get_by_role("button", name="Use as album cover").click()
    expect(viewer.get_by_role("button", name="Album cover")).to_be_disabled()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Edit").click()
    edit = page.get_by_role("dialog", name="Edit album")
    edit.get_by_label("Title").fill("Coast trip, May")
    edit.get_by_label("Description").fill("Two days by the sea")
    edit.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Coast trip, May", level=1)).to_be_visible()
    expect(page.get_by_text("Two days by the sea")).to_be_visible()
    page.mouse.move(0, 0)
    page.evaluate("() => document.querySelectorAll('.toast').forEach((t) => t.remove())")
    page.screenshot(path=artifacts / "album-desktop.png")

    # Share it: a week (the default), a password, no downloads.
    page.get_by_role("button", name="Share").click()
    share = page.get_by_role("dialog", name="Share “Coast trip, May”")
    expect(share.get_by_label("Link expires after")).to_have_value(str(7 * 86400))
    share.get_by_label("Password (optional)").fill("sea-breeze")
    share.get_by_role("button", name="Create link").click()
    link = share.get_by_label("Share link")
    expect(link).to_have_value(re.compile(r"/s/[A-Za-z0-9_-]{40,}$"))
    url = link.input_value()
    expect(share).to_contain_text("They will need the password")
    share.get_by_role("button", name="Done").click()

    # A signed-out visitor on a phone: the password, wrong then right.
    visitor = new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2).new_page()
    goto(visitor, url)
    expect(visitor.get_by_role("heading", name="This link is protected")).to_be_visible()
    visitor.locator("#main").get_by_label("Password").fill("wrong-guess")
    visitor.get_by_role("button", name="Open").click()
    expect(visitor.get_by_text("That password isn’t right")).to_be_visible()
    visitor.locator("#main").get_by_label("Password").fill("sea-breeze")
    visitor.get_by_role("button", name="Open").click()
    expect(visitor.get_by_role("heading", name="Coast trip, May", level=1)).to_be_visible()
    expect(loaded_tiles(visitor)).to_have_count(4)
    assert grid_ids(visitor) == reordered
    expect(visitor.get_by_role("link", name="Albums", exact=True)).to_be_hidden()
    visitor.screenshot(path=artifacts / "share-phone.png")
    loaded_tiles(visitor).first.locator(".tile-btn").click()
    shared_viewer = visitor.get_by_role("dialog", name="Photo viewer")
    expect(shared_viewer.locator("#lb-count")).to_have_text("1 of 4")
    expect(shared_viewer.get_by_role("link", name="Download original")).to_be_hidden()
    expect(shared_viewer.get_by_role("button", name="Move to trash")).to_be_hidden()

    # Revoked: the link answers like one that never was.
    page.get_by_role("link", name="Albums", exact=True).click()
    page.get_by_role("link", name="Shared links").click()
    row = page.locator(".share-row").filter(has_text="Coast trip, May")
    expect(row).to_contain_text("Password")
    row.get_by_role("button", name="Revoke the link to Coast trip, May").click()
    page.get_by_role("dialog", name="Revoke this link?").get_by_role("button", name="Revoke").click()
    expect(row).to_have_count(0)
    goto(visitor, url)
    expect(visitor.get_by_role("heading", name="This link has expired or does not exist")).to_be_visible()

    # Deleting the album keeps its photos.
    page.get_by_role("link", name="Albums", exact=True).click()
    page.locator(".album-card").filter(has_text="Coast trip, May").get_by_role("link").click()
    page.get_by_role("button", name="Delete album").click()
    page.get_by_role("dialog", name="Delete this album?").get_by_role("button", name="Delete album").click()
    expect(page.get_by_role("heading", name="No albums yet")).to_be_visible()
    page.get_by_role("link", name="Photos", exact=True).click()
    expect(loaded_tiles(page)).to_have_count(4)


def test_a_photo_shared_with_downloads_opens_alone(stack: Stack, new_context: Any, username: str) -> None:
    stack.signup(username)
    [photo_id] = upload_by_api(stack, tokens(stack, username)["id_token"], ["Canon_40D.jpg"])
    page = new_context().new_page()
    sign_in(page, username)
    tile(page, photo_id).locator(".tile-btn").click()
    page.get_by_role("dialog", name="Photo viewer").get_by_role("button", name="Share link").click()
    share = page.get_by_role("dialog", name=re.compile("^Share “"))
    share.get_by_label("Link expires after").select_option(label="1 day")
    share.get_by_label("Allow downloads of the originals").check()
    share.get_by_role("button", name="Create link").click()
    url = share.get_by_label("Share link").input_value()
    visitor = new_context().new_page()
    goto(visitor, url)
    expect(visitor.get_by_role("heading", name="A shared photo")).to_be_visible()
    download = visitor.get_by_role("link", name="Download original")
    expect(download).to_have_attribute("href", re.compile("originals/"))
    visitor.get_by_role("button", name=re.compile("full screen$")).click()
    shared_viewer = visitor.get_by_role("dialog", name="Photo viewer")
    expect(shared_viewer.get_by_role("link", name="Download original")).to_be_visible()


def test_trash_with_undo_restore_from_the_trash_view_and_empty_it(
    stack: Stack, new_context: Any, username: str
) -> None:
    stack.signup(username)
    names = ["Landscape_3.jpg", "blackbug.png", "4.webp"]
    ids = upload_by_api(stack, tokens(stack, username)["id_token"], names)
    page = new_context().new_page()
    sign_in(page, username)
    expect(loaded_tiles(page)).to_have_count(3)

    # From the viewer, then Undo: back in its place.
    tile(page, ids[1]).locator(".tile-btn").click()
    page.get_by_role("dialog", name="Photo viewer").get_by_role("button", name="Move to trash").click()
    expect(tile(page, ids[1])).to_have_count(0)
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_text("Photo restored")).to_be_visible()
    page.keyboard.press("Escape")
    expect(loaded_tiles(page)).to_have_count(3)
    assert set(grid_ids(page)) == set(ids)

    # Two at once, by selection.
    select(page, ids[0])
    select(page, ids[2])
    page.get_by_role("toolbar", name="Selected photos").get_by_role("button", name="Move to trash").click()
    expect(page.get_by_text("2 photos moved to trash")).to_be_visible()
    expect(page.locator(".grid .tile")).to_have_count(1)

    page.get_by_role("link", name="Albums", exact=True).click()
    page.get_by_role("link", name="Trash").click()
    expect(page.get_by_role("heading", name="Trash", level=1)).to_be_visible()
    expect(loaded_tiles(page)).to_have_count(2)
    expect(tile(page, ids[0]).locator(".tile-note")).to_have_text(re.compile(r"^(29|30) days left$"))
    tile(page, ids[0]).locator(".tile-btn").click()
    viewer = page.get_by_role("dialog", name="Photo viewer")
    expect(viewer).to_contain_text("deleted for good on")
    viewer.get_by_role("button", name="Restore").click()
    expect(page.get_by_text("Photo restored")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".grid .tile")).to_have_count(1)

    page.get_by_role("button", name="Empty trash").click()
    page.get_by_role("dialog", name="Empty the trash?").get_by_role("button", name="Empty trash").click()
    expect(page.get_by_role("heading", name="Trash is empty")).to_be_visible()
    expect(page.get_by_text("1 photo deleted forever")).to_be_visible()

    page.get_by_role("link", name="Photos", exact=True).click()
    expect(loaded_tiles(page)).to_have_count(2)
    assert set(grid_ids(page)) == {ids[0], ids[1]}


def test_favourites_and_search_by_a_word_and_by_dates(stack: Stack, new_context: Any, username: str) -> None:
    stack.signup(username)
    token = tokens(stack, username)["id_token"]
    landscape, dscn, canon = upload_by_api(stack, token, ["Landscape_1.jpg", "DSCN0010.jpg", "Canon_40D.jpg"])
    titled = http().patch(f"{stack.url}/images/{landscape}", json={"title": "Harbour at dusk"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert titled.status_code == 200
    page = new_context().new_page()
    sign_in(page, username)
    expect(loaded_tiles(page)).to_have_count(3)

    # A heart on the tile, and one in the viewer.
    tile(page, dscn).hover()
    heart = tile(page, dscn).locator(".tile-fav")
    heart.click()
    expect(tile(page, dscn).locator(".tile-fav")).to_have_attribute("aria-pressed", "true")
    tile(page, canon).locator(".tile-btn").click()
    viewer = page.get_by_role("dialog", name="Photo viewer")
    viewer.get_by_role("button", name="Favourite").click()
    expect(viewer.locator("#lb-fav")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Escape")

    page.locator("#main").get_by_role("link", name="Favourites").click()
    expect(page.get_by_role("heading", name="Favourites")).to_be_visible()
    expect(loaded_tiles(page)).to_have_count(2)
    assert set(grid_ids(page)) == {dscn, canon}

    page.get_by_role("link", name="Photos", exact=True).click()
    page.get_by_label("Search your photos").fill("harbour")
    page.get_by_label("Search your photos").press("Enter")
    expect(page.get_by_role("heading", name="Results for “harbour”")).to_be_visible()
    expect(loaded_tiles(page)).to_have_count(1)
    assert grid_ids(page) == [landscape]

    page.get_by_label("Search your photos").fill("")
    page.get_by_label("Taken from").fill("2008-01-01")
    page.get_by_label("to", exact=True).fill("2008-12-31")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("heading", name="Results for taken 2008-01-01 to 2008-12-31")).to_be_visible()
    expect(loaded_tiles(page)).to_have_count(2)
    assert set(grid_ids(page)) == {dscn, canon}
    page.get_by_role("link", name="Clear search").click()
    expect(loaded_tiles(page)).to_have_count(3)
