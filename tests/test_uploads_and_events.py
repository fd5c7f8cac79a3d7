"""Direct uploads to S3 and the S3 event handler: idempotent, and consistent under every fault."""

from __future__ import annotations

import time
import urllib.parse

import pytest
import requests
from conftest import photo_bytes

from chalicelib.storage import Storage

JPEG = photo_bytes("Landscape_1.jpg")


def start_upload(gallery, data: bytes = JPEG, content_type: str = "image/jpeg", **extra):
    return gallery.request("POST", "/uploads", {"filename": "big.jpg", "content_type": content_type,
                                                "size": len(data), **extra})


def put(upload: dict, data: bytes) -> requests.Response:
    return requests.put(upload["url"], data=data, headers=upload["headers"], timeout=30)


def test_direct_upload_signs_length_and_type_into_a_sigv4_put(gallery):
    answer = start_upload(gallery, title="Big one")
    assert answer.status == 201
    upload = answer.body["upload"]
    assert upload["method"] == "PUT"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(upload["url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert int(query["X-Amz-Expires"][0]) <= 900
    assert upload["headers"] == {"Content-Type": "image/jpeg"}
    assert answer.body["expires_at"] > answer.body["photo"]["created_at"]


def test_a_large_photo_uploaded_directly_becomes_ready(gallery, stack):
    data = photo_bytes("Issue_266.jpg")  # 22 MP
    answer = start_upload(gallery, data)
    assert put(answer.body["upload"], data).status_code == 200
    gallery.deliver(f"uploads/alice/{answer.body['id']}")
    photo = gallery.get(answer.body["id"]).body
    assert photo["status"] == "ready"
    assert (photo["width"], photo["height"]) == (5760, 3840)
    assert photo["title"] == ""
    assert gallery.fetch(photo["urls"]["original"]).content == data
    assert [p["id"] for p in gallery.list().body["items"]] == [photo["id"]]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 50 * 1024 * 1024 + 1}, 413),
        ({"filename": "a.svg", "content_type": "image/svg+xml", "size": 10}, 415),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 0}, 400),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": "10"}, 400),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": True}, 400),
        ({"filename": "a.jpg", "content_type": "image/jpeg"}, 400),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 10, "owner": "bob"}, 400),
        ({"filename": 7, "content_type": "image/jpeg", "size": 10}, 400),
    ],
)
def test_bad_upload_requests_are_refused_and_store_nothing(gallery, stack, body, status):
    answer = gallery.request("POST", "/uploads", body)
    assert answer.status == status, answer.body
    assert "Message" in answer.body
    assert [i for i in stack.items() if i["SK"].startswith("PHOTO#")] == []


def test_an_upload_whose_bytes_never_arrive_disappears_after_expiry(gallery, stack, monkeypatch):
    answer = start_upload(gallery)
    photo_id = answer.body["id"]
    assert gallery.get(photo_id).status == 200
    item = next(i for i in stack.items() if i["SK"] == f"PHOTO#{photo_id}")
    assert int(item["ttl"]) <= time.time() + 900  # DynamoDB TTL removes the record on AWS
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 901)
    assert gallery.get(photo_id).status == 404


def test_same_event_twice_gives_the_same_result(gallery, stack):
    created = gallery.upload(JPEG).body
    key = f"uploads/alice/{created['id']}"
    gallery.deliver(key)
    first = gallery.get(created["id"]).body
    objects = stack.objects()
    gallery.deliver(key)
    second = gallery.get(created["id"]).body
    assert second["status"] == "ready"
    assert stack.objects() == objects
    assert {k: v for k, v in second.items() if k != "urls"} == {k: v for k, v in first.items() if k != "urls"}


def test_an_event_for_a_deleted_photo_does_nothing_and_succeeds(gallery, stack):
    created = gallery.upload(JPEG).body
    assert gallery.request("DELETE", f"/images/{created['id']}").status == 204
    gallery.deliver(f"uploads/alice/{created['id']}")
    assert stack.objects() == []
    assert gallery.get(created["id"]).status == 404


def test_bytes_that_arrive_for_a_deleted_record_are_removed(gallery, stack):
    created = gallery.upload(JPEG).body
    stack.table.delete_item(Key={"PK": "USER#alice", "SK": f"PHOTO#{created['id']}"})
    gallery.deliver(f"uploads/alice/{created['id']}")
    assert stack.objects() == []


def test_an_event_for_a_foreign_key_is_ignored(gallery, stack):
    stack.s3.put_object(Bucket=stack.bucket, Key="uploads/stray", Body=b"x")
    gallery.deliver("uploads/stray")
    assert stack.objects() == ["uploads/stray"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("truncated", JPEG[: len(JPEG) // 2]),
        ("html", b"<html><script>alert(1)</script></html>" + b" " * 100),
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("zero", b""),
    ],
)
def test_what_does_not_decode_is_rejected_with_a_reason(gallery, stack, name, data):
    answer = start_upload(gallery, JPEG)  # declares a JPEG; sends something else
    stack.s3.put_object(Bucket=stack.bucket, Key=f"uploads/alice/{answer.body['id']}", Body=data)
    gallery.deliver(f"uploads/alice/{answer.body['id']}")
    photo = gallery.get(answer.body["id"]).body
    assert photo["status"] == "rejected"
    assert photo["reason"]
    assert stack.objects() == []
    assert "original" not in photo["urls"]


def test_a_decompression_bomb_is_rejected(gallery, stack, monkeypatch):
    monkeypatch.setenv("MAX_PIXELS", "1000000")
    photo = gallery.upload_ready(photo_bytes("Landscape_1.jpg"))  # 2.2 MP
    assert photo["status"] == "rejected"
    assert "pixels" in photo["reason"]
    assert stack.objects() == []


def test_writing_renditions_never_triggers_the_handler(gallery, stack):
    gallery.upload_ready(JPEG)
    written = stack.objects()
    assert written and not any(key.startswith("uploads/") for key in written)


def test_a_crash_half_way_through_renditions_is_retried_to_a_consistent_result(gallery, stack, monkeypatch):
    created = gallery.upload(JPEG).body
    key = f"uploads/alice/{created['id']}"
    real_put = Storage.put
    puts = []

    def second_put_fails(self, key, data, **kwargs):
        puts.append(key)
        if len(puts) == 2:
            raise ConnectionError("network went away")
        return real_put(self, key, data, **kwargs)

    monkeypatch.setattr(Storage, "put", second_put_fails)
    with pytest.raises(ConnectionError):
        gallery.deliver(key)  # Lambda would retry this event
    assert gallery.get(created["id"]).body["status"] == "processing"
    gallery.deliver(key)
    photo = gallery.get(created["id"]).body
    assert photo["status"] == "ready"
    assert sorted(stack.objects()) == sorted(
        [f"originals/alice/{created['id']}", *(r["key"] for r in _renditions(stack, created["id"]))]
    )


def test_an_event_that_keeps_failing_ends_failed_and_keeps_the_bytes(gallery, stack, monkeypatch):
    created = gallery.upload(JPEG).body
    key = f"uploads/alice/{created['id']}"

    def always_fails(self, *args, **kwargs):
        raise ConnectionError("S3 is down")

    monkeypatch.setattr(Storage, "put", always_fails)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            gallery.deliver(key)
    gallery.deliver(key)  # the third attempt records the failure instead of raising
    photo = gallery.get(created["id"]).body
    assert photo["status"] == "failed"
    assert "S3 is down" in photo["error"]
    assert stack.objects() == [f"originals/alice/{created['id']}"]
    assert gallery.fetch(photo["urls"]["download"]).content == JPEG


def test_a_failed_s3_write_after_the_record_leaves_nothing(gallery, stack, monkeypatch):
    def fails(self, *args, **kwargs):
        raise ConnectionError("S3 is down")

    monkeypatch.setattr(Storage, "put", fails)
    answer = gallery.upload(JPEG)
    assert answer.status == 503
    assert answer.headers["Retry-After"]
    assert stack.objects() == []
    assert [i for i in stack.items() if i["SK"].startswith("PHOTO#")] == []


def _renditions(stack, photo_id):
    item = next(i for i in stack.items() if i["SK"] == f"PHOTO#{photo_id}")
    return item["renditions"].values()
