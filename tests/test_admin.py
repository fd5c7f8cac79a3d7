"""The operator's command line (`python -m chalicelib.admin`), every command against moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import photo_bytes

from chalicelib import admin

Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(stack: Any, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run the CLI in-process on the test stack; `answer` is what the operator types when asked."""

    def cli(*argv: str, answer: str = "n") -> tuple[int, str]:
        asked: list[str] = []

        def ask(question: str) -> str:
            asked.append(question)
            return answer

        capsys.readouterr()
        code = admin.main(["--stage", "test", *argv], ask=ask)
        return code, "\n".join(asked) + "\n" + capsys.readouterr().out

    return cli


def _queued(stack: Any, queue: str) -> list[dict[str, Any]]:
    url = stack.outputs["WorkQueueUrl"] if queue == "work" else stack.outputs["DeadLetterQueueUrl"]
    bodies = []
    while True:
        messages = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_stats_counts_photos_bytes_and_users_by_status(gallery, run):
    gallery.upload_ready(photo_bytes("Canon_40D.jpg"))
    gallery.upload(photo_bytes("Landscape_1.jpg"))  # still processing
    code, out = run("stats")
    assert code == 0
    assert "2 photos" in out and "1 users" in out
    assert "ready      1" in out and "processing 1" in out


def test_reprocess_queues_jobs_by_id_for_failed_photos_and_for_all_when_confirmed(gallery, stack, run):
    photo = gallery.upload_ready(photo_bytes("Canon_40D.jpg"))
    _queued(stack, "work")
    assert run("reprocess", photo["id"])[0] == 0
    assert _queued(stack, "work") == [{"type": "reprocess", "owner": "alice", "id": photo["id"]}]
    assert run("reprocess", f"alice/{photo['id']}")[0] == 0
    assert len(_queued(stack, "work")) == 1
    assert run("reprocess", "01ARZ3NDEKTSV4RRFFQ69G5FAV")[0] == 1  # no such photo

    code, out = run("reprocess", "--failed")
    assert code == 0 and "queued 0" in out and _queued(stack, "work") == []

    code, out = run("reprocess", "--all", answer="no")
    assert code == 1 and "re-render" in out and _queued(stack, "work") == []
    code, out = run("reprocess", "--all", answer="y")
    assert code == 0 and len(_queued(stack, "work")) == 1
    assert run("--yes", "reprocess", "--all")[0] == 0
    assert len(_queued(stack, "work")) == 1


def test_redrive_moves_dead_letters_back_to_the_work_queue(stack, run):
    dlq = stack.outputs["DeadLetterQueueUrl"]
    for n in range(12):
        job = {"type": "purge_user", "username": f"u{n}"}
        stack.sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(job))
    code, out = run("redrive")
    assert code == 0 and "moved 12" in out
    assert sorted(job["username"] for job in _queued(stack, "work")) == sorted(f"u{n}" for n in range(12))
    assert _queued(stack, "dlq") == []


def test_check_reports_and_repairs_only_when_confirmed(gallery, stack, run):
    gallery.upload_ready(photo_bytes("Canon_40D.jpg"))
    assert run("check")[0] == 0
    orphan = "originals/alice/01ARZ3NDEKTSV4RRFFQ69G5FAV"
    stack.s3.put_object(Bucket=stack.bucket, Key=orphan, Body=b"left behind")
    code, out = run("check")
    assert code == 1 and "orphan-object" in out

    code, out = run("check", "--repair", answer="n")
    assert code == 1 and "not confirmed" in out and orphan in stack.objects()
    code, out = run("--yes", "check", "--repair")
    assert code == 0 and f"deleted {orphan}" in out and orphan not in stack.objects()
    assert run("check")[0] == 0


def test_export_writes_every_original_and_the_records(gallery, run, tmp_path: Path):
    canon = photo_bytes("Canon_40D.jpg")
    photo = gallery.upload_ready(canon, query="?filename=canon.jpg")
    gallery.request("POST", "/albums", {"title": "Trips"})
    code, out = run("export", "alice", str(tmp_path / "alice"))
    assert code == 0
    (original,) = (tmp_path / "alice" / "originals").iterdir()
    assert original.name == f"{photo['id']}-canon.jpg" and original.read_bytes() == canon
    records = json.loads((tmp_path / "alice" / "records.json").read_text())
    kinds = {r.get("type") for r in records}
    assert "photo" in kinds and any(r["SK"] == "PROFILE" for r in records)
    assert run("export", "nobody", str(tmp_path / "nobody"))[0] == 1


def test_purge_user_asks_then_deletes_the_account_photos_and_records(gallery, stack, run, bob):
    gallery.upload_ready(photo_bytes("Canon_40D.jpg"))
    code, out = run("purge-user", "alice", answer="")
    assert code == 1 and "delete alice for good" in out and stack.objects("originals/alice/")

    code, out = run("purge-user", "alice", answer="yes")
    assert code == 0 and "purged alice" in out
    assert stack.objects("originals/alice/") == [] and stack.objects("renditions/alice/") == []
    assert not [i for i in stack.items() if "alice" in i["PK"]]
    users = stack.cognito.list_users(UserPoolId=stack.outputs["UserPoolId"])["Users"]
    assert [u["Username"] for u in users] == ["bob"]
    assert run("--yes", "purge-user", "alice")[0] == 1  # nothing left
