"""Steps the browser tests share: signing in through the UI, uploading through the API, dropping files."""

from __future__ import annotations

import base64
import mimetypes
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from browser.conftest import DATA, PASSWORD, Stack, http

READY_TIMEOUT_MS = 60_000  # processing takes a second or two; slack for a loaded 2-core machine

# The autoreloader of `chalice local` restarts the app when any project file changes (another suite
# writing a cache), and the page may then meet a refused connection: navigation retries.


def goto(page: Page, url: str) -> None:
    """Navigate, and again if the page or one of its scripts met a restarting server."""
    for attempt in range(40):
        try:
            page.goto(url)
            if page.evaluate("() => Boolean(window.gallery)"):
                return
        except Exception:
            if attempt == 39:
                raise
        time.sleep(0.25)
    raise AssertionError(f"the web UI did not start at {url}")


def reload(page: Page) -> None:
    """A real reload (going to the same URL would only be a same-document jump to its #fragment)."""
    page.evaluate("() => { window.beforeReload = true; }")
    for attempt in range(40):
        try:
            page.reload()
            if page.evaluate("() => Boolean(window.gallery) && !window.beforeReload"):
                return
        except Exception:
            if attempt == 39:
                raise
        time.sleep(0.25)
    raise AssertionError("the web UI did not start again after a reload")


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    goto(page, "/#/signin")
    form = page.locator("#main")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Photos", level=1)).to_be_visible()


def tokens(stack: Stack, username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = http().post(f"{stack.url}/auth/login", json={"username": username, "password": password},
                             timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def upload_by_api(stack: Stack, id_token: str, names: list[str]) -> list[str]:
    """Upload `names` from tests/data as the web UI does (grant, then PUT to S3); wait until ready."""
    auth = {"Authorization": f"Bearer {id_token}"}
    requests = http()
    ids = []
    for name in names:
        body = (DATA / name).read_bytes()
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        grant = requests.post(f"{stack.url}/uploads", headers=auth, timeout=30, json={
            "filename": name, "content_type": content_type, "size": len(body)})
        assert grant.status_code == 201, grant.text
        upload = grant.json()["upload"]
        sent = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=60)
        assert sent.status_code == 200, sent.text
        ids.append(grant.json()["id"])
    deadline = time.monotonic() + READY_TIMEOUT_MS / 1000
    for photo_id in ids:
        while True:
            photo = requests.get(f"{stack.url}/images/{photo_id}", headers=auth, timeout=30).json()
            if photo["status"] == "ready":
                break
            assert photo["status"] in ("pending", "processing"), photo
            assert time.monotonic() < deadline, f"{photo_id} not ready: {photo}"
            time.sleep(0.3)
    return ids


def drop_files(page: Page, files: list[tuple[str, bytes, str]]) -> None:
    """Drag-and-drop onto the page: a DataTransfer of real File objects, built inside the page."""
    payload = [[name, base64.b64encode(body).decode(), mime] for name, body, mime in files]
    page.evaluate(
        """(files) => {
            const data = new DataTransfer();
            for (const [name, b64, type] of files) {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                data.items.add(new File([bytes], name, { type }));
            }
            const target = document.querySelector("#main");
            for (const type of ["dragenter", "dragover", "drop"]) {
                const init = { bubbles: true, cancelable: true, dataTransfer: data };
                target.dispatchEvent(new DragEvent(type, init));
            }
        }""",
        payload,
    )


def data_file(name: str, mime: str | None = None) -> tuple[str, bytes, str]:
    path: Path = DATA / name
    return name, path.read_bytes(), mime if mime is not None else (mimetypes.guess_type(name)[0] or "")


def tile(page: Page, photo_id: str) -> Any:
    return page.locator(f'.grid .tile[data-id="{photo_id}"]')


def loaded_tiles(page: Page) -> Any:
    return page.locator(".grid .tile.loaded")
