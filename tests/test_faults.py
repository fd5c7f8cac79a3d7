"""Faults, and what is left after each: the invariant checker (chalicelib/consistency.py) finds nothing
wrong, or `repair` fixes it; the API answers a clear error (503 with Retry-After where a retry helps),
never a bare 500.

Faults are injected by failing one step on purpose (monkeypatching a class method) or by answering an
AWS call with a throttling error before it leaves botocore (a `before-send` hook on the app's own
client), so the app's standard retry mode is what is exercised. tests/test_uploads_and_events.py has
the event tests these extend.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from botocore.retries.standard import ExponentialBackoff
from conftest import photo_bytes
from moto.core.botocore_stubber import BotocoreStubber

from chalicelib import aws, config, consistency
from chalicelib.catalog import Catalog
from chalicelib.photos import PhotoService
from chalicelib.storage import Storage

JPEG = photo_bytes("Landscape_1.jpg")
LATER = 901  # seconds: past the upload expiry (UPLOAD_URL_TTL=900)


def assert_consistent(now: float | None = None) -> None:
    report, _ = consistency.run(now=now)
    assert report.ok, "\n".join(str(p) for p in report.problems)


def problems(now: float | None = None) -> set[tuple[str, str]]:
    report, _ = consistency.run(now=now)
    return {(p.kind, p.photo_id or p.key) for p in report.problems}


def photo_records(stack) -> list[dict]:
    return [i for i in stack.items() if i["SK"].startswith("PHOTO#")]


def down(*args, **kwargs):
    raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")


@pytest.fixture
def fault():
    """A MonkeyPatch of its own: `fault.undo()` ends the fault and leaves the stack's settings alone."""
    patcher = pytest.MonkeyPatch()
    yield patcher
    patcher.undo()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """botocore's standard retries without their sleeps: the retries happen, the waiting does not."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)


def throttle(client, operation: str, *, times: int, status: int, code: str, service: str) -> list[int]:
    """Answer the next `times` calls of `operation` on the app's `client` with a throttling error."""
    calls: list[int] = []

    def answer(request, **kwargs):
        calls.append(1)
        if len(calls) > times:
            return None
        if service == "s3":
            body = f"<Error><Code>{code}</Code><Message>slow down</Message></Error>".encode()
            headers = {"Content-Type": "application/xml"}
        else:
            kind = f"com.amazonaws.dynamodb.v20120810#{code}"
            body = json.dumps({"__type": kind, "message": "slow"}).encode()
            headers = {"Content-Type": "application/x-amz-json-1.0"}
        request.throttled = True  # botocore asks every before-send handler: moto's must not act on it
        return AWSResponse(request.url, status, headers, _Raw(body))

    client.meta.events.register_first(f"before-send.{service}.{operation}", answer)
    return calls


@pytest.fixture(autouse=True)
def emulator_skips_throttled_requests(monkeypatch):
    real_call = BotocoreStubber.__call__

    def call(self, event_name, request, **kwargs):
        if getattr(request, "throttled", False):
            request.throttled = False
            return None
        return real_call(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", call)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs):
        yield self._body

    def read(self, *args):
        body, self._body = self._body, b""
        return body


def dynamodb_client():
    return aws.table(config.load().table).meta.client


# S3 and DynamoDB failing on either side of a write


def test_s3_write_failing_after_the_record_is_503_and_leaves_nothing(gallery, stack, fault):
    fault.setattr(Storage, "put", down)
    answer = gallery.upload(JPEG)
    assert answer.status == 503 and answer.headers["Retry-After"]
    assert answer.body["Code"] == "ServiceUnavailable"
    assert photo_records(stack) == [] and stack.objects() == []
    assert_consistent()


def test_a_record_whose_bytes_and_cleanup_both_failed_is_found_and_repaired(gallery, stack, fault):
    fault.setattr(Storage, "put", down)
    fault.setattr(Catalog, "delete", down)
    assert gallery.upload(JPEG).status == 503
    fault.undo()
    [record] = photo_records(stack)
    assert "ttl" not in record  # processing records never expire by TTL: their bytes are stored
    assert_consistent()  # young: it may still be on its way
    assert problems(now=time.time() + LATER) == {("expired", record["id"])}
    report, done = consistency.run(repair_too=True, now=time.time() + LATER)
    assert done == [f"deleted expired record alice/{record['id']}"]
    assert photo_records(stack) == []
    assert_consistent(now=time.time() + LATER)


def test_record_write_failing_before_any_bytes_is_503_and_stores_nothing(gallery, stack):
    calls = throttle(
        dynamodb_client(),
        "PutItem",
        times=10,
        status=400,
        code="ProvisionedThroughputExceededException",
        service="dynamodb",
    )
    answer = gallery.upload(JPEG)
    assert answer.status == 503 and answer.headers["Retry-After"] == "2"
    # Standard mode, max_attempts=4 in chalicelib/aws.py: botocore counts retries, so 5 calls in all.
    assert len(calls) == 5
    assert stack.objects() == [] and photo_records(stack) == []
    assert_consistent()


def test_the_ready_write_failing_after_the_renditions_is_retried_to_ready(gallery, stack, fault):
    created = gallery.upload(JPEG).body
    real_save = Catalog.save

    def ready_fails(self, photo):
        if photo.status == "ready":
            down()
        return real_save(self, photo)

    fault.setattr(Catalog, "save", ready_fails)
    with pytest.raises(EndpointConnectionError):
        gallery.deliver(f"uploads/alice/{created['id']}")
    assert gallery.get(created["id"]).body["status"] == "processing"
    assert_consistent()  # renditions and original of a photo still processing belong to it
    fault.undo()
    gallery.deliver(f"uploads/alice/{created['id']}")
    assert gallery.get(created["id"]).body["status"] == "ready"
    assert_consistent()


def test_a_photo_deleted_while_its_renditions_are_made_leaves_nothing(gallery, stack, fault):
    """The owner deletes a photo while the thumbnail handler works on it: the handler removes what it
    wrote (original copy and renditions), as the delete would have."""
    created = gallery.request(
        "POST", "/uploads", {"filename": "a.jpg", "content_type": "image/jpeg", "size": len(JPEG)}
    ).body
    key = f"uploads/alice/{created['id']}"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=JPEG)
    real_copy = Storage.copy

    def copy_then_the_delete_lands(self, source, target, **kwargs):
        real_copy(self, source, target, **kwargs)
        # The DELETE is another Lambda's request: its own thread (and so its own IAM policy check).
        answers = []
        request = threading.Thread(
            target=lambda: answers.append(gallery.request("DELETE", f"/images/{created['id']}").status)
        )
        request.start()
        request.join()
        assert answers == [204]

    fault.setattr(Storage, "copy", copy_then_the_delete_lands)
    gallery.deliver(key)
    assert [k for k in stack.objects() if created["id"] in k] == []
    assert gallery.get(created["id"]).status == 404
    assert_consistent()


# The event handler crashing


def test_a_crash_half_way_through_renditions_leaves_a_consistent_state(gallery, stack, fault):
    created = gallery.upload(JPEG).body
    real_put, puts = Storage.put, []

    def second_put_fails(self, key, data, **kwargs):
        puts.append(key)
        if len(puts) % 2 == 0:
            down()
        return real_put(self, key, data, **kwargs)

    fault.setattr(Storage, "put", second_put_fails)
    key = f"uploads/alice/{created['id']}"
    with pytest.raises(EndpointConnectionError):
        gallery.deliver(key)
    assert_consistent()
    assert problems(now=time.time() + LATER) == {("stuck", created["id"])}
    for _ in range(2):  # every attempt crashes; the third records `failed`
        with contextlib.suppress(EndpointConnectionError):
            gallery.deliver(key)
    photo = gallery.get(created["id"]).body
    assert photo["status"] == "failed"
    # The rendition written before each crash is not left behind without a record that wants it.
    assert stack.objects() == [f"originals/alice/{created['id']}"]
    assert_consistent()
    # Once the cause is gone, the repair tool's job renders it.
    fault.undo()
    assert (
        gallery.client.lambda_.invoke(
            "handle_work",
            gallery.client.events.generate_sqs_event(
                [json.dumps({"type": "reprocess", "owner": "alice", "id": created["id"]})]
            ),
        ).payload
        is None
    )
    assert gallery.get(created["id"]).body["status"] == "ready"
    assert_consistent()


# Events twice, late, out of order


def test_same_event_twice_then_a_delete_then_the_event_again(gallery, stack):
    created = gallery.upload(JPEG).body
    key = f"uploads/alice/{created['id']}"
    gallery.deliver(key)
    gallery.deliver(key)
    assert_consistent()
    assert gallery.request("DELETE", f"/images/{created['id']}").status == 204
    gallery.deliver(key)  # a late duplicate, after the delete
    assert stack.objects() == [] and photo_records(stack) == []
    assert_consistent()


def test_a_delete_between_upload_and_its_event(gallery, stack):
    answer = gallery.request(
        "POST", "/uploads", {"filename": "a.jpg", "content_type": "image/jpeg", "size": len(JPEG)}
    ).body
    key = f"uploads/alice/{answer['id']}"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=JPEG)
    assert gallery.request("DELETE", f"/images/{answer['id']}").status == 204
    gallery.deliver(key)
    assert stack.objects() == [] and photo_records(stack) == []
    assert_consistent()


def test_an_event_for_an_object_already_deleted(gallery, stack):
    answer = gallery.request(
        "POST", "/uploads", {"filename": "a.jpg", "content_type": "image/jpeg", "size": len(JPEG)}
    ).body
    key = f"uploads/alice/{answer['id']}"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=JPEG)
    stack.s3.delete_object(Bucket=stack.bucket, Key=key)  # e.g. the lifecycle rule got there first
    gallery.deliver(key)
    assert gallery.get(answer["id"]).body["status"] == "pending"
    assert_consistent()
    later = time.time() + LATER
    assert problems(now=later) == {("expired", answer["id"])}
    consistency.run(repair_too=True, now=later)
    assert photo_records(stack) == []
    assert_consistent(now=later)


def test_a_lost_event_is_found_and_requeued(gallery, stack):
    answer = gallery.request(
        "POST", "/uploads", {"filename": "a.jpg", "content_type": "image/jpeg", "size": len(JPEG)}
    ).body
    stack.s3.put_object(Bucket=stack.bucket, Key=f"uploads/alice/{answer['id']}", Body=JPEG)
    later = time.time() + LATER
    assert problems(now=later) == {("stuck", answer["id"])}
    _, done = consistency.run(repair_too=True, now=later)
    assert done == [f"queued reprocess of alice/{answer['id']}"]
    run_work_queue(gallery, stack)
    assert gallery.get(answer["id"]).body["status"] == "ready"
    assert_consistent()


def test_a_lost_event_for_bytes_in_the_trash_restores_them_through_the_queue(gallery, stack):
    """The reprocess job (handle_work, not the thumbnail handler) finds the bytes are a photo in the
    trash: it folds the upload into that photo and restores it, albums included."""
    holder = gallery.upload_ready(JPEG)
    album = gallery.request("POST", "/albums", {"title": "A"}).body["id"]
    gallery.request("POST", f"/albums/{album}/images", {"image_ids": [holder["id"]]})
    gallery.request("POST", f"/images/{holder['id']}/trash")
    answer = gallery.request(
        "POST", "/uploads", {"filename": "a.jpg", "content_type": "image/jpeg", "size": len(JPEG)}
    ).body
    stack.s3.put_object(Bucket=stack.bucket, Key=f"uploads/alice/{answer['id']}", Body=JPEG)
    later = time.time() + LATER
    consistency.run(repair_too=True, now=later)
    assert run_work_queue(gallery, stack) == []
    assert gallery.get(answer["id"]).body["duplicate_of"] == holder["id"]
    assert "trashed_at" not in gallery.get(holder["id"]).body
    assert gallery.request("GET", f"/albums/{album}").body["count"] == 1
    assert_consistent()


def test_orphans_and_missing_renditions_are_found_and_repaired(gallery, stack):
    photo = gallery.upload_ready(JPEG)
    stray = "renditions/alice/01ARZ3NDEKTSV4RRFFQ69G5FAV/256.jpg"
    stack.s3.put_object(Bucket=stack.bucket, Key=stray, Body=b"x")
    rendition = f"renditions/alice/{photo['id']}/256.jpg"
    stack.s3.delete_object(Bucket=stack.bucket, Key=rendition)
    assert problems() == {("orphan-object", "01ARZ3NDEKTSV4RRFFQ69G5FAV"), ("missing-rendition", photo["id"])}
    consistency.run(repair_too=True)
    run_work_queue(gallery, stack)
    assert rendition in stack.objects() and stray not in stack.objects()
    assert_consistent()


def test_a_record_pointing_at_another_owners_key_is_found(gallery, stack, client, bob):
    from gallery_client import Gallery

    mine = gallery.upload_ready(JPEG)
    theirs = Gallery(client, stack, bob).upload_ready(photo_bytes("Landscape_3.jpg"))
    item = stack.table.get_item(Key={"PK": "USER#alice", "SK": f"PHOTO#{mine['id']}"})["Item"]
    item["renditions"]["256"]["key"] = f"renditions/bob/{theirs['id']}/256.jpg"
    stack.table.put_item(Item=item)
    assert ("foreign-key", mine["id"]) in problems()
    consistency.run(repair_too=True)
    run_work_queue(gallery, stack)
    assert_consistent()


def test_derived_items_that_disagree_with_their_photo_are_found_and_repaired(gallery, stack):
    """Albums, trash, share links, search terms and hash claims all hold after normal use; then each
    kind of derived item is broken the way a write failing half way would leave it."""
    kept = gallery.upload_ready(JPEG, query="?title=Harbour")
    trashed = gallery.upload_ready(photo_bytes("Landscape_3.jpg"))
    gone = gallery.upload_ready(photo_bytes("DSCN0010.jpg"))
    album = gallery.request("POST", "/albums", {"title": "Trip"}).body["id"]
    other = gallery.request("POST", "/albums", {"title": "Other"}).body["id"]
    ids = [kept["id"], trashed["id"], gone["id"]]
    gallery.request("POST", f"/albums/{album}/images", {"image_ids": ids})
    gallery.request("POST", f"/albums/{other}/images", {"image_ids": ids[:1]})
    gallery.request("POST", "/shares", {"album_id": album})
    gallery.request("POST", "/shares", {"image_id": gone["id"]})
    gallery.request("POST", f"/images/{trashed['id']}/trash")
    gallery.request("DELETE", f"/images/{gone['id']}")
    assert_consistent()
    table = stack.table

    def item(pk, sk):
        return table.get_item(Key={"PK": pk, "SK": sk})["Item"]

    # An entry whose trash flag was never written; a mirror lost; an entry left by a cut delete.
    entry = item(f"ALBUM#{album}", f"PHOTO#{trashed['id']}")
    table.put_item(Item={k: v for k, v in entry.items() if k != "hidden"})
    table.delete_item(Key={"PK": "USER#alice", "SK": f"INALBUM#{kept['id']}#{other}"})
    table.put_item(
        Item={**item(f"ALBUM#{album}", f"PHOTO#{kept['id']}"), "PK": "ALBUM#01ARZ3NDEKTSV4RRFFQ69G5FAV"}
    )
    # A search term lost and one left behind; a hash claim lost and one for a deleted photo.
    term = next(i for i in stack.items() if i["PK"] == "TERM#alice#w:harbour")
    table.delete_item(Key={"PK": term["PK"], "SK": term["SK"]})
    table.put_item(
        Item={"PK": "TERM#alice#w:ghost", "SK": f"PHOTO#{gone['id']}", "type": "term", "photo_id": gone["id"]}
    )
    claim = next(i for i in stack.items() if i.get("type") == "sha" and i["photo_id"] == kept["id"])
    table.delete_item(Key={"PK": claim["PK"], "SK": claim["SK"]})
    table.put_item(Item={"PK": "USER#alice", "SK": "SHA#" + "0" * 64, "type": "sha", "photo_id": gone["id"]})
    # A share link whose owner's reference was never written (it could not be revoked).
    share = next(i for i in stack.items() if i.get("type") == "share_ref")
    table.delete_item(Key={"PK": share["PK"], "SK": share["SK"]})

    report, _ = consistency.run()
    found = sorted((p.kind, p.detail.split(" (")[0]) for p in report.problems)
    assert found == sorted(
        [
            ("dangling-item", "a hash claim for a photo that is gone or has other bytes"),
            ("dangling-item", "a search term no photo has"),
            ("dangling-item", "a share link without its other half"),
            ("dangling-item", "an album entry whose photo or album is gone"),
            ("wrong-item", "a search term of the photo is missing"),
            ("wrong-item", "an album entry without its mirror"),
            ("wrong-item", "an album entry's trash flag disagrees with the photo"),
            ("wrong-item", "its hash is not claimed"),
        ]
    ), found
    consistency.run(repair_too=True)
    assert_consistent()
    # Repaired means working again: the trashed photo does not count, the kept one is found by its
    # title, and deleting it now also leaves the album its mirror was lost from.
    assert gallery.request("GET", f"/albums/{album}").body["count"] == 1
    assert [p["id"] for p in gallery.request("GET", "/images?q=harbour").body["items"]] == [kept["id"]]
    gallery.request("DELETE", f"/images/{kept['id']}")
    assert gallery.request("GET", f"/albums/{other}").body["count"] == 0
    assert_consistent()


def test_a_share_whose_creation_was_cut_short_can_still_be_revoked(gallery, stack):
    photo = gallery.upload_ready(JPEG)
    share = gallery.request("POST", "/shares", {"image_id": photo["id"]}).body
    link = next(i for i in stack.items() if i.get("type") == "share")
    stack.table.delete_item(Key={"PK": link["PK"], "SK": link["SK"]})  # the second write never happened
    assert ("dangling-item", f"USER#alice SHARE#{share['id']}") in problems()
    assert_consistent(now=time.time() + 8 * 86400)  # once expired, TTL removes each half in its own time
    assert [s["id"] for s in gallery.request("GET", "/shares").body["items"]] == [share["id"]]
    assert gallery.request("DELETE", f"/shares/{share['id']}").status == 204
    assert gallery.request("GET", "/shares").body["items"] == []
    assert_consistent()


# Throttling, with boto3's standard retry mode


def test_throttled_dynamodb_is_retried_by_the_client(gallery):
    calls = throttle(
        dynamodb_client(),
        "Query",
        times=2,
        status=400,
        code="ProvisionedThroughputExceededException",
        service="dynamodb",
    )
    assert gallery.list().status == 200
    assert len(calls) == 3


def test_s3_slowdown_is_retried_by_the_client(gallery, stack):
    calls = throttle(aws.client("s3"), "PutObject", times=2, status=503, code="SlowDown", service="s3")
    assert gallery.upload(JPEG).status == 201
    assert len(calls) == 3
    gallery.deliver_uploads()
    assert_consistent()


def test_persistent_slowdown_is_503_with_retry_after(gallery, stack):
    throttle(aws.client("s3"), "PutObject", times=100, status=503, code="SlowDown", service="s3")
    answer = gallery.upload(JPEG)
    assert answer.status == 503 and answer.headers["Retry-After"]
    assert stack.objects() == [] and photo_records(stack) == []
    assert_consistent()


def test_persistent_dynamodb_throttling_on_a_read_is_503(gallery):
    throttle(
        dynamodb_client(),
        "Query",
        times=100,
        status=400,
        code="ProvisionedThroughputExceededException",
        service="dynamodb",
    )
    answer = gallery.list()
    assert answer.status == 503 and answer.headers["Retry-After"] == "2"
    assert answer.body["Code"] == "ServiceUnavailable"


# The work queue: a job that always fails ends in the dead-letter queue


def run_work_queue(gallery, stack, *, rounds: int = 1) -> list[str]:
    """Deliver what is on the work queue to handle_work, as Lambda's SQS poller does: a message whose
    handler raised is not deleted, and comes back (here at once: visibility 0)."""
    url = stack.outputs["WorkQueueUrl"]
    errors: list[str] = []
    for _ in range(rounds):
        messages = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        )
        for message in messages:
            event = gallery.client.events.generate_sqs_event([message["Body"]])
            try:
                gallery.client.lambda_.invoke("handle_work", event)
            except Exception as error:  # Lambda would record it; SQS redelivers
                errors.append(type(error).__name__)
                continue
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return errors


def test_a_job_that_always_fails_ends_in_the_dead_letter_queue(gallery, stack, fault):
    answer = gallery.request(
        "POST", "/uploads", {"filename": "a.jpg", "content_type": "image/jpeg", "size": len(JPEG)}
    ).body
    stack.s3.put_object(Bucket=stack.bucket, Key=f"uploads/alice/{answer['id']}", Body=JPEG)
    later = time.time() + LATER
    consistency.run(repair_too=True, now=later)  # queues {"type": "reprocess", ...}
    fault.setattr(PhotoService, "_render", down)
    errors = run_work_queue(gallery, stack, rounds=5)
    assert errors == ["EndpointConnectionError"] * 3  # maxReceiveCount 3, then the dead-letter queue
    dlq = stack.outputs["DeadLetterQueueUrl"]
    [dead] = stack.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(dead["Body"]) == {"type": "reprocess", "owner": "alice", "id": answer["id"]}
    assert gallery.get(answer["id"]).body["status"] == "processing"  # visible, not lost
    assert ("stuck", answer["id"]) in problems(now=later)  # and still reported
    # Fixed, the dead letter is sent back (a redrive) and the photo becomes ready.
    fault.undo()
    stack.sqs.send_message(QueueUrl=stack.outputs["WorkQueueUrl"], MessageBody=dead["Body"])
    assert run_work_queue(gallery, stack) == []
    assert gallery.get(answer["id"]).body["status"] == "ready"
    assert_consistent(now=later)


def test_an_unknown_job_is_refused(gallery, stack):
    stack.sqs.send_message(QueueUrl=stack.outputs["WorkQueueUrl"], MessageBody=json.dumps({"type": "nope"}))
    assert run_work_queue(gallery, stack) == ["UnknownJob"]


# Deletes failing half way


def test_a_delete_that_fails_half_way_is_503_and_a_retry_finishes_it(gallery, stack, fault):
    photo = gallery.upload_ready(JPEG)
    fault.setattr(Catalog, "delete", down)  # objects deleted, then the record write fails
    answer = gallery.request("DELETE", f"/images/{photo['id']}")
    assert answer.status == 503 and answer.headers["Retry-After"]
    fault.undo()
    assert gallery.request("DELETE", f"/images/{photo['id']}").status == 204
    assert gallery.get(photo["id"]).status == 404
    assert stack.objects() == [] and photo_records(stack) == []
    assert_consistent()


def test_a_delete_whose_object_delete_fails_changes_nothing(gallery, stack, fault):
    photo = gallery.upload_ready(JPEG)
    before = stack.objects()
    fault.setattr(Storage, "delete", down)
    assert gallery.request("DELETE", f"/images/{photo['id']}").status == 503
    assert stack.objects() == before and gallery.get(photo["id"]).status == 200
    assert_consistent()


def test_watermarked_public_renditions_belong_to_their_photo(gallery, stack, fault):
    fault.setenv("WATERMARK_TEXT", "gallery")
    from chalicelib import services

    services.reset()
    photo = gallery.upload_ready(JPEG)
    assert any("public-" in key for key in stack.objects("renditions/"))
    assert_consistent()
    public = next(k for k in stack.objects("renditions/") if "public-" in k)
    stack.s3.delete_object(Bucket=stack.bucket, Key=public)
    assert problems() == {("missing-rendition", photo["id"])}
