"""End to end against the real local stack: HTTP in, S3 events through the dispatcher, state on disk.

Given `python -m local.run` on free ports, when a photo is uploaded through each path (the API body,
and a presigned request straight to S3), then both become ready with renditions within seconds; and
after Ctrl-C and a restart on the same state directory they are still there, unchanged, and were not
processed again.
"""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from PIL import Image

if TYPE_CHECKING:
    from e2e.conftest import StackProcess

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parents[1] / "data"
READY_TIMEOUT_S = 30  # "a few seconds" normally; slack for a loaded 2-core machine
# What processing sets; a second processing of the same upload would change `updated_at`.
STABLE_FIELDS = ("id", "status", "width", "height", "size", "sha256", "created_at", "updated_at",
                 "placeholder", "dominant_color", "content_type")


def big_jpeg(target_bytes: int = 8 * 1024 * 1024) -> bytes:
    """A real JPEG of about `target_bytes`: noise does not compress, so size follows pixel count."""
    side = 1400
    while True:
        noise = Image.effect_noise((side, side), 120).convert("RGB")
        buffer = io.BytesIO()
        noise.save(buffer, format="JPEG", quality=95)
        if buffer.tell() >= target_bytes:
            return buffer.getvalue()
        side = int(side * (target_bytes / buffer.tell()) ** 0.5 * 1.05) + 1


def assert_browser_may_upload(upload_url: str, web_origin: str) -> None:
    """The bucket's CORS rule (from infra/resources.yaml) admits the web UI's origin and no other."""
    def preflight(origin: str) -> requests.Response:
        return requests.options(upload_url, timeout=30, headers={
            "Origin": origin, "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        })

    allowed = preflight(web_origin)
    assert allowed.status_code == 200
    assert allowed.headers.get("Access-Control-Allow-Origin") == web_origin
    # moto's server echoes the origin on every answer, but refuses the preflight, as S3 does.
    assert preflight("http://elsewhere.example").status_code == 403


def upload_direct(session: requests.Session, base_url: str, body: bytes) -> str:
    """POST /uploads, then send the bytes to S3 with the returned presigned PUT or POST."""
    response = session.post(f"{base_url}/uploads", json={
        "filename": "big.jpg", "content_type": "image/jpeg", "size": len(body),
    }, timeout=30)
    assert response.status_code == 201, response.text
    grant = response.json()
    assert grant["expires_at"]
    upload = grant["upload"]
    assert_browser_may_upload(upload["url"], base_url)
    if upload["method"] == "PUT":
        sent = requests.put(upload["url"], data=body, headers=upload.get("headers", {}), timeout=60)
    else:
        sent = requests.post(upload["url"], data=upload["fields"],
                             files={"file": ("big.jpg", body, "image/jpeg")}, timeout=60)
    assert sent.status_code in (200, 201, 204), sent.text
    return str(grant["id"])


def wait_until_ready(session: requests.Session, base_url: str, photo_id: str) -> tuple[dict[str, Any], float]:
    """The photo's record once it is ready, and how long that took; fails on rejected or failed."""
    started = time.monotonic()
    while time.monotonic() - started < READY_TIMEOUT_S:
        response = session.get(f"{base_url}/images/{photo_id}", timeout=30)
        assert response.status_code == 200, response.text
        record = response.json()
        assert record["status"] not in ("rejected", "failed"), record
        if record["status"] == "ready":
            return record, time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{photo_id} not ready after {READY_TIMEOUT_S} s: {record}")


def assert_has_renditions(record: dict[str, Any]) -> None:
    urls = record["urls"]
    assert {"thumbnail", "preview"} <= urls.keys(), urls
    got = requests.get(urls["thumbnail"], timeout=30)
    assert got.status_code == 200
    assert Image.open(io.BytesIO(got.content)).size[0] <= 256


def port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_uploads_become_ready_and_survive_a_restart_without_reprocessing(
    stack_factory: Any, authenticated_session: Any
) -> None:
    # Given a fresh stack and the demo user
    first: StackProcess = stack_factory("first.log")
    session = authenticated_session(first.url)

    # When one photo is uploaded in the request body and one (8 MB) straight to S3
    inline = session.post(f"{first.url}/images", data=(DATA / "Landscape_1.jpg").read_bytes(),
                          headers={"Content-Type": "image/jpeg"}, timeout=30)
    assert inline.status_code == 201, inline.text
    assert inline.json()["status"] == "processing"
    inline_id = inline.json()["id"]
    big = big_jpeg()
    assert len(big) >= 8 * 1024 * 1024
    direct_id = upload_direct(session, first.url, big)

    # Then both become ready, with renditions
    inline_record, inline_s = wait_until_ready(session, first.url, inline_id)
    direct_record, direct_s = wait_until_ready(session, first.url, direct_id)
    print(f"startup {first.startup_s:.1f}s; upload to ready: inline {inline_s:.2f}s, direct {direct_s:.2f}s")
    for record in (inline_record, direct_record):
        assert_has_renditions(record)
    assert direct_record["size"] == len(big)

    # When the stack is stopped with Ctrl-C
    assert first.stop() == 0
    # Then nothing it started is left listening
    assert port_is_closed(first.port) and port_is_closed(first.aws_port)
    assert first.log_text().count("handle_upload ok") == 2

    # When it starts again on the same state
    second: StackProcess = stack_factory("second.log")
    assert "restored" in second.log_text()
    session = authenticated_session(second.url)  # the demo user's password survived too

    # Then both photos are there as they were, and ready
    for before in (inline_record, direct_record):
        response = session.get(f"{second.url}/images/{before['id']}", timeout=30)
        assert response.status_code == 200, response.text
        after = response.json()
        assert {k: after.get(k) for k in STABLE_FIELDS} == {k: before.get(k) for k in STABLE_FIELDS}
        assert_has_renditions(after)
    listed = session.get(f"{second.url}/images", timeout=30).json()["items"]
    assert {inline_id, direct_id} <= {p["id"] for p in listed}

    # And nothing was processed again (give a stray event time to arrive)
    time.sleep(3)
    assert "handle_upload" not in second.log_text()

    # And a delete still works against the restored data
    assert session.delete(f"{second.url}/images/{inline_id}", timeout=30).status_code == 204
    assert session.get(f"{second.url}/images/{inline_id}", timeout=30).status_code == 404
