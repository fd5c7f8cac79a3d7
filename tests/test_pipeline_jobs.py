"""Work that follows processing: the watermark public routes serve, re-rendering existing photos,
and Rekognition labels as tags. Jobs run through the SQS handler as Lambda would run them."""

from __future__ import annotations

import io
import json

from conftest import photo_bytes
from PIL import Image, ImageChops

PHOTO = photo_bytes("Landscape_1.jpg")


def run_queued_jobs(client, stack) -> list[dict]:
    """Deliver every job waiting on the work queue to `handle_work`, one message per invocation."""
    url, done = stack.outputs["WorkQueueUrl"], []
    while True:
        messages = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            return done
        body = messages[0]["Body"]
        event = client.events.generate_sqs_event(
            message_bodies=[body], queue_name=stack.outputs["WorkQueueName"]
        )
        client.lambda_.invoke("handle_work", event)
        stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        done.append(json.loads(body))


def image_at(gallery, url) -> Image.Image:
    return Image.open(io.BytesIO(gallery.fetch(url).content)).convert("RGB")


def test_public_routes_serve_watermarked_renditions_and_owners_clean_ones(gallery, client, monkeypatch):
    monkeypatch.setenv("WATERMARK_TEXT", "© alice")
    photo = gallery.upload_ready(PHOTO)
    gallery.request("PATCH", f"/images/{photo['id']}", {"visibility": "public"})
    public = json.loads(client.http.get("/feed").body)["items"][0]
    own = gallery.get(photo["id"]).body
    assert public["urls"]["preview"] != own["urls"]["preview"]
    clean, marked = image_at(gallery, own["urls"]["preview"]), image_at(gallery, public["urls"]["preview"])
    assert clean.size == marked.size
    width, height = clean.size
    corner = (width * 2 // 3, height * 4 // 5, width, height)
    far = (0, 0, width // 3, height // 3)
    assert ImageChops.difference(clean.crop(corner), marked.crop(corner)).getbbox() is not None
    assert max(ImageChops.difference(clean.crop(far), marked.crop(far)).getextrema()[0]) <= 12


def test_a_new_watermark_reaches_existing_photos_through_the_reprocess_job(
    gallery, client, stack, monkeypatch
):
    photo = gallery.upload_ready(PHOTO)
    gallery.request("PATCH", f"/images/{photo['id']}", {"visibility": "public"})
    assert not [k for k in stack.objects() if "/public-" in k]
    monkeypatch.setenv("WATERMARK_TEXT", "gallery")
    stack.sqs.send_message(
        QueueUrl=stack.outputs["WorkQueueUrl"],
        MessageBody=json.dumps({"type": "reprocess", "owner": "alice", "id": photo["id"]}),
    )
    run_queued_jobs(client, stack)
    assert len([k for k in stack.objects() if "/public-" in k]) == 2
    assert gallery.get(photo["id"]).body["status"] == "ready"
    # Turning the watermark off again removes the marked copies on the next re-render.
    monkeypatch.delenv("WATERMARK_TEXT")
    stack.sqs.send_message(
        QueueUrl=stack.outputs["WorkQueueUrl"],
        MessageBody=json.dumps({"type": "reprocess", "owner": "alice", "id": photo["id"]}),
    )
    run_queued_jobs(client, stack)
    assert not [k for k in stack.objects() if "/public-" in k]


def test_labels_from_rekognition_become_searchable_tags(gallery, client, stack, monkeypatch):
    monkeypatch.setenv("LABELS", "true")
    photo = gallery.upload_ready(PHOTO)
    jobs = run_queued_jobs(client, stack)
    assert jobs == [{"type": "labels", "owner": "alice", "id": photo["id"]}]
    tags = gallery.get(photo["id"]).body["tags"]
    assert tags  # moto's Rekognition answers a fixed label set
    assert [p["id"] for p in gallery.list(f"?tag={tags[0]}").body["items"]] == [photo["id"]]
    # Running the job again changes nothing.
    stack.sqs.send_message(QueueUrl=stack.outputs["WorkQueueUrl"], MessageBody=json.dumps(jobs[0]))
    run_queued_jobs(client, stack)
    assert gallery.get(photo["id"]).body["tags"] == tags


def test_labels_are_off_by_default(gallery, client, stack):
    gallery.upload_ready(PHOTO)
    assert run_queued_jobs(client, stack) == []
