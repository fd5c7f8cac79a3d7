"""Structured logs and EMF metrics: one JSON line per request and event, the metric of each outcome,
and no secret in any line (chalicelib/observability.py)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import requests
from cognito_helpers import PASSWORD
from conftest import photo_bytes

from chalicelib import observability, shares
from chalicelib.photos import PhotoService

SHARE_PASSWORD = "Tr0ub4dor&3-share"
FIELDS = ("request_id", "route", "outcome", "duration_ms")


class Captured:
    """What the handlers printed, split into log records and EMF metric documents."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = [line for line in text.splitlines() if line.strip()]
        self.parsed = [json.loads(line) for line in self.lines]  # every line is JSON, or this raises
        self.logs = [p for p in self.parsed if "_aws" not in p]
        self.metrics = [p for p in self.parsed if "_aws" in p]

    def records(self, route: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.logs if "duration_ms" in r and (route is None or r["route"] == route)]

    def metric(self, name: str, **dimensions: str) -> list[float]:
        """Every value of metric `name` published with exactly these extra dimensions (besides stage)."""
        values: list[float] = []
        for doc in self.metrics:
            (directive,) = doc["_aws"]["CloudWatchMetrics"]
            assert directive["Namespace"] == "Gallery"
            if name not in {m["Name"] for m in directive["Metrics"]}:
                continue
            assert ["stage"] in directive["Dimensions"] and doc["stage"] == "test"
            extra = {k: doc[k] for dims in directive["Dimensions"] for k in dims if k != "stage"}
            if extra == dimensions:
                values.extend(doc[name])
        return values


def _post(client: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.http.post(path, body=json.dumps(body),
                            headers={"Content-Type": "application/json", **(headers or {})})


def _json(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def _sqs_event(client: Any, body: dict[str, Any]) -> Any:
    return client.events.generate_sqs_event(message_bodies=[json.dumps(body)], queue_name="gallery-test-work")


def test_a_photos_life_logs_one_json_line_per_request_and_event_and_no_secret(client, stack, capsys,
                                                                            monkeypatch):
    monkeypatch.setattr(shares, "WRONG_PASSWORD_DELAY", 0)
    capsys.readouterr()
    requests_made = 0
    events = 0

    account = {"username": "carol", "email": "carol@example.com", "password": PASSWORD}
    assert _post(client, "/auth/signup", account).status_code == 201
    login = _post(client, "/auth/login", {"username": "carol", "password": PASSWORD})
    tokens = _json(login)
    auth = {"Authorization": f"Bearer {tokens['id_token']}"}
    requests_made += 2

    # Inline upload of a photo with GPS, processed by the S3 event.
    nikon = photo_bytes("DSCN0010.jpg")
    inline = _json(client.http.post("/images", body=nikon, headers={**auth, "Content-Type": "image/jpeg"}))
    key = f"uploads/carol/{inline['id']}"
    client.lambda_.invoke("handle_upload", client.events.generate_s3_event(bucket=stack.bucket, key=key))
    requests_made += 1
    events += 1

    # Direct upload: a presigned PUT (its signature must never be logged), then the event.
    canon = photo_bytes("Canon_40D.jpg")
    started = _json(_post(client, "/uploads", {"filename": "c.jpg", "content_type": "image/jpeg",
                                                "size": len(canon)}, auth))
    upload = started["upload"]
    put = requests.put(upload["url"], data=canon, headers=upload.get("headers", {}), timeout=10)
    assert put.status_code == 200
    direct_key = f"uploads/carol/{started['id']}"
    landed = client.events.generate_s3_event(bucket=stack.bucket, key=direct_key)
    client.lambda_.invoke("handle_upload", landed)
    requests_made += 1
    events += 1

    listing = _json(client.http.get("/images", headers=auth))
    photo = _json(client.http.get(f"/images/{inline['id']}", headers=auth))
    assert photo["status"] == "ready" and photo["gps"]
    requests_made += 2

    share = _json(_post(client, "/shares", {"image_id": inline["id"], "password": SHARE_PASSWORD,
                                            "allow_download": True}, auth))
    opened = client.http.get(f"/shares/{share['token']}/content",
                             headers={"X-Share-Password": SHARE_PASSWORD})
    assert opened.status_code == 200
    requests_made += 2

    client.lambda_.invoke("handle_work", _sqs_event(client, {"type": "reprocess", "owner": "carol",
                                                             "id": inline["id"]}))
    events += 1
    assert client.http.get("/images/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=auth).status_code == 404
    assert client.http.delete(f"/images/{started['id']}", headers=auth).status_code == 204
    requests_made += 2

    captured = Captured(capsys.readouterr().out)

    # One record per request and per event, each with the fields an operator searches by.
    records = captured.records()
    assert len(records) == requests_made + events, [r["route"] for r in records]
    assert len({r["request_id"] for r in records}) == len(records)
    for record in records:
        for name in FIELDS:
            assert record.get(name) not in (None, ""), (name, record)
        assert record["level"] in ("INFO", "ERROR") and record["service"] == "gallery"
    by_route = {r["route"]: r for r in records}
    assert by_route["POST /auth/signup"]["username"] == "carol"
    assert by_route["POST /images"]["username"] == "carol"
    assert by_route["POST /images"]["photo_id"] == inline["id"]
    assert by_route["POST /images"]["outcome"] == 201
    assert by_route["GET /images/{photo_id}"]["photo_id"] in (inline["id"], "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert by_route["DELETE /images/{photo_id}"]["outcome"] == 204
    assert by_route["GET /shares/{token}/content"]["outcome"] == 200
    uploads = captured.records("handle_upload")
    assert [(r["kind"], r["outcome"], r["username"]) for r in uploads] == [("s3", "ready", "carol")] * 2
    assert {r["photo_id"] for r in uploads} == {inline["id"], started["id"]}
    (work,) = captured.records("handle_work")
    assert work["outcome"] == "ready" and work["job"] == "reprocess" and work["photo_id"] == inline["id"]

    # Nothing secret in any line, log or metric.
    answers = json.dumps([started, listing, photo, opened.body.decode()])
    signatures = re.findall(r"X-Amz-Signature=([0-9a-f]+)", answers)
    assert signatures
    secrets = [tokens["id_token"], tokens["access_token"], tokens["refresh_token"], PASSWORD,
               SHARE_PASSWORD, share["token"], *signatures]
    for secret in secrets:
        assert secret not in captured.text
    assert "X-Amz-Signature=" not in captured.text.replace("X-Amz-Signature=REDACTED", "")
    coordinates = [v for v in photo["gps"].values() if isinstance(v, float)]
    assert coordinates
    for coordinate in coordinates:
        assert f"{coordinate}"[:7] not in captured.text
    assert "gps" not in captured.text.lower()


def test_each_outcome_emits_its_metric(client, stack, gallery, capsys, monkeypatch):
    capsys.readouterr()
    canon = photo_bytes("Canon_40D.jpg")
    ready = gallery.upload(canon).body
    landed = client.events.generate_s3_event(bucket=stack.bucket, key=f"uploads/alice/{ready['id']}")
    landed["Records"][0]["s3"]["object"]["size"] = len(canon)  # as S3 sends it (the generator says 0)
    client.lambda_.invoke("handle_upload", landed)
    gallery.request("POST", "/uploads", {"filename": "x.jpg", "content_type": "image/jpeg", "size": 10})
    broken = gallery.upload(b"\xff\xd8\xff\xe0" + b"\x00" * 200)  # sniffs as JPEG, does not decode
    gallery.deliver(f"uploads/alice/{broken.body['id']}")
    gallery.request("GET", "/images/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    client.lambda_.invoke("handle_work", _sqs_event(client, {"type": "reprocess", "owner": "alice",
                                                             "id": ready["id"]}))
    with pytest.raises(Exception, match="unknown job"):
        client.lambda_.invoke("handle_work", _sqs_event(client, {"type": "nonsense"}))

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(PhotoService, "feed", boom)
    assert gallery.request("GET", "/feed").status == 500
    monkeypatch.setattr(PhotoService, "process_upload", boom)
    with pytest.raises(RuntimeError):
        gallery.deliver("uploads/alice/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    captured = Captured(capsys.readouterr().out)

    assert captured.metric("Uploads", path="inline") == [1.0, 1.0]
    assert captured.metric("Uploads", path="direct") == [1.0]
    assert captured.metric("PhotosReady") == [1.0]  # a reprocess job counts as JobsDone, not again
    assert len(captured.metric("ProcessingTime")) == 1
    assert captured.metric("BytesStored") == [float(len(photo_bytes("Canon_40D.jpg")))]
    assert captured.metric("PhotosRejected", reason="undecodable") == [1.0]
    assert captured.metric("Api4xx", route="GET /images/{photo_id}") == [1.0]
    assert captured.metric("Api5xx", route="GET /feed") == [1.0]
    assert captured.metric("JobsDone", job="reprocess") == [1.0]
    assert captured.metric("JobsFailed", job="nonsense") == [1.0]
    assert captured.metric("ProcessingErrors") == [1.0]
    assert sum(captured.metric("Requests", route="POST /images")) == 2
    failed = [r for r in captured.records("handle_upload") if r["outcome"] == "error"]
    assert failed and failed[0]["error"] == "RuntimeError" and failed[0]["level"] == "ERROR"
    (rejected,) = [r for r in captured.records("handle_upload") if r["outcome"] == "rejected"]
    assert rejected["reason"] == "undecodable"


def test_a_photo_given_up_on_counts_as_failed() -> None:
    with observability.invocation("s3", "handle_upload", request_id="r1") as record:
        observability.photo_processed(record, "failed")
    assert [m[0] for m in record.metrics] == ["PhotosFailed"]


def test_a_photo_processing_for_over_15_minutes_is_found_by_one_query(client, stack, gallery, capsys,
                                                                     monkeypatch):
    created = gallery.upload(photo_bytes("Canon_40D.jpg"))
    item = stack.table.get_item(Key={"PK": "USER#alice", "SK": f"PHOTO#{created.body['id']}"})["Item"]
    assert item["purge_pk"] == "PROCESSING"  # the purge index's second partition
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=[])
    capsys.readouterr()
    client.lambda_.invoke("check_stuck", event)
    assert Captured(capsys.readouterr().out).metric("StuckPhotos") == [0.0]

    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 16 * 60)
    client.lambda_.invoke("check_stuck", event)
    captured = Captured(capsys.readouterr().out)
    assert captured.metric("StuckPhotos") == [1.0]
    (record,) = captured.records("check_stuck")
    assert record["outcome"] == "stuck" and record["examples"] == [f"alice/{created.body['id']}"]

    monkeypatch.setattr(time, "time", real_time)
    gallery.deliver(f"uploads/alice/{created.body['id']}")
    item = stack.table.get_item(Key={"PK": "USER#alice", "SK": f"PHOTO#{created.body['id']}"})["Item"]
    assert "purge_pk" not in item  # ready: out of the partition


def test_pretty_logs_for_people_and_scrubbing_for_any_line(monkeypatch, capsys) -> None:
    monkeypatch.setenv("LOG_FORMAT", "pretty")
    observability.reset()
    try:
        capsys.readouterr()
        with observability.invocation("api", "GET /images", request_id="abcdef123456", username="dana") as r:
            r.outcome = 200
            leaky = "presigned https://x/y?X-Amz-Signature=abc123&a=1 Bearer eyJhbGciOiJ.x"
            observability.log().warning(leaky)
        out = capsys.readouterr().out
    finally:
        monkeypatch.delenv("LOG_FORMAT")
        observability.reset()
    lines = out.splitlines()
    assert any("GET /images -> 200" in line and "username=dana" in line for line in lines), out
    assert "abc123" not in out and "eyJhbGciOiJ" not in out
    assert observability.clean({"password": "x", "nested": {"gps": {"lat": 1}}, "ok": "fine"}) == {
        "password": "REDACTED", "nested": {"gps": "REDACTED"}, "ok": "fine"}


def test_tracing_is_off_unless_the_stage_turns_it_on(monkeypatch) -> None:
    monkeypatch.delenv("TRACING", raising=False)
    observability.reset()
    assert observability._tracer() is None
