"""The photo API through the Chalice test client, against moto, with real photos and real tokens."""

from __future__ import annotations

import io
import urllib.parse

import pytest
from conftest import photo_bytes
from PIL import Image

from chalicelib import aws

JPEG = photo_bytes("Landscape_1.jpg")


def test_can_upload_a_jpeg_and_see_it_processing(gallery):
    created = gallery.upload(JPEG, query="?title=Lake&filename=lake.jpg")
    assert created.status == 201
    assert created.body["status"] == "processing"
    assert created.body["title"] == "Lake"
    assert created.body["filename"] == "lake.jpg"
    assert created.body["size"] == len(JPEG)
    assert gallery.stack.objects("uploads/") == [f"uploads/alice/{created.body['id']}"]


def test_format_is_detected_from_the_bytes_not_the_declared_type(gallery):
    as_octets = gallery.upload(JPEG, content_type="application/octet-stream")
    mislabelled = gallery.upload(photo_bytes("blackbug.png"), content_type="image/jpeg")
    assert as_octets.body["content_type"] == "image/jpeg"
    assert mislabelled.body["content_type"] == "image/png"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"<html><body>not a photo</body></html>", "not an image"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "not an image"),
        (b"GIF", "not an image"),
    ],
)
def test_bytes_of_no_allowed_format_are_refused_at_once(gallery, stack, body, words):
    answer = gallery.upload(body)
    assert answer.status == 400
    assert words in answer.body["Message"]
    assert stack.objects() == []
    assert [i for i in stack.items() if i["SK"].startswith("PHOTO#")] == []


def test_a_body_over_the_inline_limit_is_413_and_points_to_uploads(gallery, stack, monkeypatch):
    monkeypatch.setenv("MAX_INLINE_BYTES", "100000")
    answer = gallery.upload(JPEG)
    assert answer.status == 413
    assert "POST /uploads" in answer.body["Message"]
    assert stack.objects() == []


def test_a_body_without_an_image_content_type_is_415(gallery):
    assert gallery.upload(JPEG, content_type="text/plain").status == 415


def test_s3_event_makes_upright_renditions_and_a_ready_record(gallery, stack):
    photo = gallery.upload_ready(photo_bytes("Landscape_6.jpg"))  # stored 1200x1800, orientation 6
    assert photo["status"] == "ready"
    assert (photo["width"], photo["height"]) == (1800, 1200)
    assert stack.objects(f"uploads/alice/{photo['id']}") == []
    assert stack.objects(f"originals/alice/{photo['id']}") == [f"originals/alice/{photo['id']}"]
    for name, longest in (("thumbnail", 256), ("preview", 1024)):
        image = Image.open(io.BytesIO(gallery.fetch(photo["urls"][name]).content))
        assert max(image.size) == longest
        assert image.width > image.height  # upright landscape
    renditions = stack.objects(f"renditions/alice/{photo['id']}/")
    assert len(renditions) == 2


def test_renditions_carry_no_exif_or_gps(gallery):
    photo = gallery.upload_ready(photo_bytes("DSCN0010.jpg"))
    assert photo["gps"] is not None  # the owner keeps it...
    for name in ("thumbnail", "preview"):
        data = gallery.fetch(photo["urls"][name]).content
        image = Image.open(io.BytesIO(data))
        assert not image.getexif()
        assert b"Exif" not in data and b"GPS" not in data


def test_small_photos_are_never_upscaled(gallery):
    photo = gallery.upload_ready(photo_bytes("Canon_40D.jpg"))  # 100x68
    preview = Image.open(io.BytesIO(gallery.fetch(photo["urls"]["preview"]).content))
    assert preview.size == (100, 68)


def test_download_redirects_to_a_byte_exact_copy_with_its_filename(gallery):
    photo = gallery.upload(JPEG, query="?filename=" + urllib.parse.quote("Lake at dawn.jpg")).body
    gallery.deliver(f"uploads/alice/{photo['id']}")
    answer = gallery.get(photo["id"], "?download=true")
    assert answer.status == 302
    fetched = gallery.fetch(answer.headers["Location"])
    assert fetched.content == JPEG
    assert "attachment" in fetched.headers["Content-Disposition"]
    assert "Lake%20at%20dawn.jpg" in fetched.headers["Content-Disposition"]


def test_download_of_a_bad_flag_is_400(gallery):
    photo = gallery.upload(JPEG).body
    assert gallery.get(photo["id"], "?download=maybe").status == 400


def test_listing_is_newest_first_and_pages_with_a_cursor(gallery):
    ids = [gallery.upload(JPEG).body["id"] for _ in range(5)]
    first = gallery.list("?limit=2")
    assert [p["id"] for p in first.body["items"]] == ids[::-1][:2]
    second = gallery.list("?limit=2&cursor=" + first.body["next_cursor"])
    third = gallery.list("?limit=2&cursor=" + second.body["next_cursor"])
    seen = [p["id"] for page in (first, second, third) for p in page.body["items"]]
    assert seen == ids[::-1]
    assert third.body["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
def test_a_limit_out_of_range_is_400(gallery, limit):
    assert gallery.list("?limit=" + limit).status == 400


def test_a_tampered_cursor_is_400(gallery):
    for _ in range(3):
        gallery.upload(JPEG)
    cursor = gallery.list("?limit=1").body["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad in (tampered, "garbage", cursor + "x", "a.b.c"):
        answer = gallery.list("?cursor=" + urllib.parse.quote(bad))
        assert answer.status == 400, bad
        assert answer.body["Message"] == "invalid cursor"


def test_another_users_cursor_is_400(gallery, client, stack, bob):
    from gallery_client import Gallery

    for _ in range(2):
        gallery.upload(JPEG)
    cursor = gallery.list("?limit=1").body["next_cursor"]
    assert Gallery(client, stack, bob).list("?cursor=" + cursor).status == 400


def test_listing_queries_an_index_and_never_scans(gallery, stack):
    gallery.upload(JPEG)
    calls = []
    table_client = aws.table(stack.outputs["PhotoTableName"]).meta.client
    table_client.meta.events.register(
        "before-parameter-build.dynamodb.*",
        lambda model, params, **_: calls.append((model.name, params.get("IndexName"))),
    )
    assert gallery.list().status == 200
    assert ("Query", "gallery") in calls
    assert all(name != "Scan" for name, _ in calls)


def test_pending_uploads_are_not_listed(gallery, client):
    answer = gallery.request("POST", "/uploads", {"filename": "a.jpg", "content_type": "image/jpeg",
                                                  "size": len(JPEG)})
    assert answer.status == 201
    assert gallery.list().body["items"] == []
    assert gallery.get(answer.body["id"]).body["status"] == "pending"


def test_edit_title_and_description(gallery):
    photo = gallery.upload(JPEG).body
    answer = gallery.request("PATCH", f"/images/{photo['id']}",
                             {"title": "  Sunrise ", "description": "line one\nline\ttwo"})
    assert answer.status == 200
    assert answer.body["title"] == "Sunrise"
    assert answer.body["description"] == "line one\nline\ttwo"
    assert gallery.get(photo["id"]).body["title"] == "Sunrise"


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x" * 201},
        {"title": "bell\x07"},
        {"title": "new\nline"},
        {"description": "d" * 2001},
        {"description": "nul\x00"},
        {"title": 5},
        {"title": None},
        {"owner": "bob"},
        {"status": "ready"},
        ["title"],
    ],
)
def test_bad_edits_are_400_and_change_nothing(gallery, body):
    photo = gallery.upload(JPEG, query="?title=Kept").body
    answer = gallery.request("PATCH", f"/images/{photo['id']}", body)
    assert answer.status == 400
    assert answer.body["Code"] == "BadRequestError"
    assert gallery.get(photo["id"]).body["title"] == "Kept"


def test_invalid_json_is_400(gallery):
    photo = gallery.upload(JPEG).body
    assert gallery.request("PATCH", f"/images/{photo['id']}", "{not json").status == 400


def test_delete_leaves_nothing_behind(gallery, stack):
    photo = gallery.upload_ready(JPEG)
    assert gallery.request("DELETE", f"/images/{photo['id']}").status == 204
    assert gallery.get(photo["id"]).status == 404
    assert stack.objects() == []
    assert [i for i in stack.items() if i["SK"].startswith("PHOTO#")] == []
    # Deleting again is a 404, not a 500.
    assert gallery.request("DELETE", f"/images/{photo['id']}").status == 404


def test_unknown_and_malformed_ids_are_404(gallery):
    for photo_id in ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "nope", "../../etc"):
        assert gallery.get(urllib.parse.quote(photo_id, safe="")).status == 404


def test_another_users_photo_is_404_on_every_route(gallery, client, stack, bob):
    from gallery_client import Gallery

    photo = gallery.upload_ready(JPEG)
    intruder = Gallery(client, stack, bob)
    assert intruder.get(photo["id"]).status == 404
    assert intruder.get(photo["id"], "?download=true").status == 404
    assert intruder.request("PATCH", f"/images/{photo['id']}", {"title": "mine"}).status == 404
    assert intruder.request("DELETE", f"/images/{photo['id']}").status == 404
    assert intruder.list().body["items"] == []
    assert gallery.get(photo["id"]).body["title"] == ""
    assert len(stack.objects(f"originals/alice/{photo['id']}")) == 1


def test_filenames_are_cleaned(gallery):
    cases = {
        "../../etc/passwd": "passwd",
        "photo\u202egpj.exe": "photogpj.exe",
        "dir\\win.jpg": "win.jpg",
    }
    for raw, expected in cases.items():
        answer = gallery.upload(JPEG, query="?filename=" + urllib.parse.quote(raw))
        assert answer.body["filename"] == expected
    assert gallery.upload(JPEG, query="?filename=" + "a" * 2000).status == 400
    assert gallery.upload(JPEG, query="?filename=a%00b.jpg").status == 400


def test_the_page_opened_without_its_trailing_slash_redirects(client, stack):
    page = client.http.get("/")
    assert page.status_code == 200 and b"<html" in page.body.lower()
    # API Gateway hands the stage root (/api) to the "/" route, with the path as it was asked for.
    answer = _api_gateway_get("/", asked="/api")
    assert answer["statusCode"] == 301 and answer["headers"]["Location"] == "/api/"
    assert _api_gateway_get("/", asked="/api/")["statusCode"] == 200


def _api_gateway_get(resource: str, *, asked: str) -> dict:
    """Invoke the app with a proxy event shaped like API Gateway's."""
    from app import app

    event = {
        "resource": resource, "path": resource, "httpMethod": "GET", "headers": {}, "multiValueHeaders": {},
        "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
        "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"path": asked, "resourcePath": resource, "httpMethod": "GET", "stage": "api"},
    }
    return app(event, None)
