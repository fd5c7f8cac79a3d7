"""The invariant checker: do the photo records and the bucket agree? An operator tool (`make
check-consistency`), and what the fault tests assert after every fault.

What must hold (see docs/reliability.md):
  1. every photo record has its original in S3, unless it is rejected, or pending/processing and younger
     than the upload expiry (a pending or duplicate record past its expiry is expired: it should be gone);
  2. every ready record has all its renditions (a record still processing may have some or none);
  3. every S3 object belongs to a record, or to an upload younger than the upload expiry;
  4. no record points to another owner's (or another photo's) keys;
  5. every item derived from a record agrees with it: album entries and their mirrors come in pairs,
     point at a photo and an album that exist, and are `hidden` exactly while the photo is in the
     trash; search terms are exactly the record's; a hash claim points at a photo with that hash; a
     share link and its owner's reference come in pairs, for a target that exists.

`repair` fixes what can be fixed safely: it deletes orphan objects, expired pending records and
dangling derived items, rewrites derived items that disagree with their record, and re-queues stuck
photos and missing renditions as `reprocess` jobs on the work queue. A ready photo
whose original is gone everywhere is reported, never deleted: that needs a person.

It Scans the table and lists the bucket, which the app itself never does; it only uses the S3 and
DynamoDB APIs, so it runs against the emulator (`AWS_ENDPOINT_URL`) and AWS alike.

    python -m chalicelib.consistency [--stage local] [--repair]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from boto3.dynamodb.conditions import Attr

from . import storage
from .albums import link_item
from .catalog import derived_items
from .models import DUPLICATE, FAILED, PENDING, PROCESSING, READY, Photo, from_item, owner_pk, photo_sk
from .storage import Storage, StoredObject

# Kinds of problem, and what `repair` does about each.
MISSING_ORIGINAL = "missing-original"  # ready/failed, no original: reprocess if its upload is there
MISSING_RENDITION = "missing-rendition"  # ready, a rendition gone: reprocess
STUCK = "stuck"  # pending/processing past the expiry with its bytes: reprocess
EXPIRED = "expired"  # pending/duplicate past the expiry, or processing without bytes: delete the record
ORPHAN = "orphan-object"  # no record wants it: delete it
FOREIGN_KEY = "foreign-key"  # a record names another photo's key: reprocess (writes its own keys)
UNKNOWN_OBJECT = "unknown-object"  # outside our prefixes: reported, never deleted
DANGLING_ITEM = "dangling-item"  # a derived item whose photo, album, target or pair is gone: delete it
WRONG_ITEM = "wrong-item"  # a derived item missing or disagreeing with its record: write it again


@dataclass(frozen=True)
class Problem:
    kind: str
    detail: str
    owner: str = ""
    photo_id: str = ""
    key: str = ""
    item: dict[str, Any] | None = None  # DANGLING_ITEM: the key to delete; WRONG_ITEM: the item to put

    def __str__(self) -> str:
        where = f"{self.owner}/{self.photo_id}" if self.photo_id else self.key
        return f"{self.kind:18} {where}: {self.detail}"


@dataclass
class Report:
    photos: int = 0
    objects: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for problem in self.problems:
            counts[problem.kind] = counts.get(problem.kind, 0) + 1
        return counts


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def scan_photos(table: Any) -> list[Photo]:
    """Every photo record (a Scan: fine for an operator tool, never in the app)."""
    return [from_item(item) for item in scan_items(table, Attr("type").eq("photo"))]


def scan_items(table: Any, condition: Any = None) -> list[dict[str, Any]]:
    """Every item of the table (matching `condition`), with consistent reads."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"ConsistentRead": True}
    if condition is not None:
        kwargs["FilterExpression"] = condition
    while True:
        response = table.scan(**kwargs)
        items.extend(response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def check(
    *,
    table: Any,
    store: Storage,
    upload_ttl: int,
    now: float | None = None,
    photos: Iterable[Photo] | None = None,
    objects: Iterable[StoredObject] | None = None,
) -> Report:
    """Compare every record with every object, and every derived item with its record. Objects are
    listed before records are read, so an object written meanwhile is not yet seen, and a record
    written meanwhile has nothing to miss yet. Given `photos`, derived items are not checked."""
    clock = time.time() if now is None else now
    listed = list(objects if objects is not None else store.list(""))
    items = scan_items(table) if photos is None else []
    records = (
        list(photos) if photos is not None else [from_item(i) for i in items if i.get("type") == "photo"]
    )
    report = Report(photos=len(records), objects=len(listed))
    present = {obj.key: obj for obj in listed}
    by_id = {(p.owner, p.id): p for p in records}
    problem = report.problems.append

    for photo in records:
        owner, pid = photo.owner, photo.id
        upload = storage.upload_key(owner, pid)
        original = storage.original_key(owner, pid)
        has_bytes = upload in present or original in present
        past_expiry = photo.expires_at is not None and photo.expires_at < clock
        idle_for = clock - _epoch(photo.updated_at)
        if photo.status in (PENDING, DUPLICATE):
            if past_expiry and photo.status == PENDING and upload in present:
                problem(Problem(STUCK, "its bytes arrived but were never processed", owner, pid))
            elif past_expiry:
                problem(Problem(EXPIRED, f"{photo.status} past its expiry", owner, pid))
        elif photo.status == PROCESSING:
            if idle_for > upload_ttl:
                if has_bytes:
                    problem(Problem(STUCK, f"processing for {int(idle_for)} s", owner, pid))
                else:
                    problem(Problem(EXPIRED, "processing, and its bytes never arrived", owner, pid))
        elif photo.status in (READY, FAILED) and original not in present:
            fixable = " (its upload is still there)" if upload in present else ""
            problem(Problem(MISSING_ORIGINAL, f"{photo.status} without {original}{fixable}", owner, pid))
        if photo.status == READY:
            if not photo.renditions:
                problem(Problem(MISSING_RENDITION, "ready with no renditions", owner, pid))
            for size, rendition in _all_renditions(photo):
                key = str(rendition.get("key", ""))
                if not key.startswith(storage.rendition_prefix(owner, pid)):
                    problem(Problem(FOREIGN_KEY, f"rendition {size} points to {key}", owner, pid))
                elif key not in present:
                    problem(Problem(MISSING_RENDITION, f"rendition {size} ({key}) is missing", owner, pid))

    for obj in listed:
        parsed = storage.parse_photo_key(obj.key)
        young = clock - obj.last_modified < upload_ttl
        if parsed is None or parsed[0] not in (storage.UPLOADS, storage.ORIGINALS, storage.RENDITIONS):
            if obj.key.startswith(storage.UPLOADS):
                if not young:
                    problem(Problem(ORPHAN, "an upload under no owner/id, past the expiry", key=obj.key))
            else:
                problem(Problem(UNKNOWN_OBJECT, "not a key of the gallery's layout", key=obj.key))
            continue
        prefix, owner, pid = parsed
        record = by_id.get((owner, pid))
        if _belongs(obj.key, prefix, record) or (prefix == storage.UPLOADS and young):
            continue
        state = "no record" if record is None else f"record is {record.status}"
        problem(Problem(ORPHAN, state, owner, pid, obj.key))
    if photos is None:
        report.problems += check_items(items, by_id, now=clock)
    return report


def check_items(
    items: list[dict[str, Any]], photos: dict[tuple[str, str], Photo], *, now: float
) -> list[Problem]:
    """Invariant 5: derived items against the records they come from (see the module docstring)."""
    problems: list[Problem] = []
    present = {(i["PK"], i["SK"]) for i in items}

    def dangling(item: dict[str, Any], why: str, owner: str = "", pid: str = "") -> None:
        key = {"PK": item["PK"], "SK": item["SK"]}
        problems.append(Problem(DANGLING_ITEM, why, owner, pid, f"{item['PK']} {item['SK']}", key))

    def wrong(item: dict[str, Any], why: str, owner: str, pid: str) -> None:
        problems.append(Problem(WRONG_ITEM, why, owner, pid, f"{item['PK']} {item['SK']}", item))

    # What each record implies (terms, its hash claim), written again where missing or different.
    expected: set[tuple[str, str]] = set()
    for (owner, pid), record in photos.items():
        for item in derived_items(record):
            expected.add((item["PK"], item["SK"]))
            if item["SK"].startswith("SHA#"):
                if (item["PK"], item["SK"]) not in present:
                    wrong(
                        item,
                        "its hash is not claimed (the same bytes uploaded again are kept twice)",
                        owner,
                        pid,
                    )
            elif (item["PK"], item["SK"]) not in present:
                wrong(item, "a search term of the photo is missing", owner, pid)

    for item in items:
        kind, pk, sk = item.get("type"), item["PK"], item["SK"]
        if kind == "term" and (pk, sk) not in expected:
            dangling(item, "a search term no photo has", pid=str(item.get("photo_id", "")))
        elif kind == "sha":
            owner, pid = pk.removeprefix("USER#"), str(item.get("photo_id", ""))
            photo = photos.get((owner, pid))
            # A photo being processed claims its hash before its record holds it.
            if photo is None or (photo.sha256 and f"SHA#{photo.sha256}" != sk):
                dangling(item, "a hash claim for a photo that is gone or has other bytes", owner, pid)
        elif kind == "album_entry":
            owner, pid, album_id = (
                str(item.get("owner")),
                str(item.get("photo_id")),
                pk.removeprefix("ALBUM#"),
            )
            photo = photos.get((owner, pid))
            if photo is None or (owner_pk(owner), f"ALBUM#{album_id}") not in present:
                dangling(item, "an album entry whose photo or album is gone", owner, pid)
            elif (owner_pk(owner), f"INALBUM#{pid}#{album_id}") not in present:
                link = link_item(owner, pid, album_id)
                wrong(
                    link, "an album entry without its mirror (deleting the photo would miss it)", owner, pid
                )
            elif bool(item.get("hidden")) != bool(photo.trashed_at):
                fixed = {k: v for k, v in item.items() if k != "hidden"}
                if photo.trashed_at:
                    fixed["hidden"] = True
                wrong(fixed, "an album entry's trash flag disagrees with the photo", owner, pid)
        elif kind == "album_link":
            owner, (_, pid, album_id) = pk.removeprefix("USER#"), sk.split("#", 2)
            if (f"ALBUM#{album_id}", photo_sk(pid)) not in present:
                dangling(item, "an album mirror without its entry", owner, pid)
        elif kind in ("share", "share_ref") and int(item.get("expires_at", 0)) >= now:
            # (An expired link's two halves are removed by DynamoDB's TTL, each in its own time.)
            owner = str(item.get("owner"))
            pair = (
                (owner_pk(owner), f"SHARE#{item.get('share_id')}")
                if kind == "share"
                else (f"SHARE#{item.get('token_hash')}", "SHARE")
            )
            target = (
                (owner_pk(owner), f"ALBUM#{item['album_id']}")
                if item.get("album_id")
                else (owner_pk(owner), photo_sk(str(item.get("image_id"))))
            )
            if pair not in present:
                dangling(item, "a share link without its other half (its owner could not revoke it)", owner)
            elif target not in present:
                dangling(item, "a share link to an album or photo that is gone", owner)
    return problems


def _belongs(key: str, prefix: str, photo: Photo | None) -> bool:
    if photo is None:
        return False
    if prefix == storage.UPLOADS:
        return photo.status in (PENDING, PROCESSING)
    if prefix == storage.ORIGINALS:
        return photo.status in (PROCESSING, READY, FAILED)
    # Renditions: a photo being processed writes them before it is ready.
    if photo.status == PROCESSING:
        return True
    return photo.status == READY and key in {str(r.get("key")) for _, r in _all_renditions(photo)}


def _all_renditions(photo: Photo) -> list[tuple[str, dict[str, Any]]]:
    """(name, rendition) of the plain renditions and of the watermarked copies public routes serve."""
    public = getattr(photo, "public_renditions", None) or {}
    return sorted(photo.renditions.items()) + sorted((f"public-{k}", v) for k, v in public.items())


def repair(report: Report, *, photos: Any, queue: Any, store: Storage) -> list[str]:
    """Fix what is safe to fix; returns what was done, one line each. `photos` is a PhotoService and
    `queue` a WorkQueue (anything with `send(job)`)."""
    done: list[str] = []
    orphans = [p.key for p in report.problems if p.kind == ORPHAN]
    if orphans:
        store.delete(orphans)
        done += [f"deleted {key}" for key in orphans]
    queued: set[tuple[str, str]] = set()
    for p in report.problems:
        target = (p.owner, p.photo_id)
        if p.kind == DANGLING_ITEM and p.item:
            photos.catalog.table.delete_item(Key=p.item)
            done.append(f"deleted {p.key}")
        elif p.kind == WRONG_ITEM and p.item:
            photos.catalog.table.put_item(Item=p.item)
            done.append(f"rewrote {p.key}")
        elif p.kind == EXPIRED:
            photo = photos.catalog.get(p.owner, p.photo_id)
            if photo is not None and photo.status in (PENDING, PROCESSING, DUPLICATE):
                photos.purge(photo)
                done.append(f"deleted expired record {p.owner}/{p.photo_id}")
        elif p.kind in (STUCK, MISSING_RENDITION, FOREIGN_KEY, MISSING_ORIGINAL) and target not in queued:
            if p.kind == MISSING_ORIGINAL and "upload is still there" not in p.detail:
                done.append(f"left {p.owner}/{p.photo_id}: its original is gone, restore it from a backup")
                continue
            queue.send({"type": "reprocess", "owner": p.owner, "id": p.photo_id})
            queued.add(target)
            done.append(f"queued reprocess of {p.owner}/{p.photo_id}")
    return done


def run(*, repair_too: bool = False, now: float | None = None) -> tuple[Report, list[str]]:
    """Check the current settings' stage (and repair it if asked): what tests and the CLI call."""
    from . import aws, config
    from .services import services

    settings = config.load()
    svc = services(settings)
    store = svc.photos.storage
    report = check(table=aws.table(settings.table), store=store, upload_ttl=settings.upload_url_ttl, now=now)
    done = (
        repair(report, photos=svc.photos, queue=svc.queue, store=store)
        if repair_too and not report.ok
        else []
    )
    return report, done


# The command line


def _stage_environment(stage: str, project_dir: Path) -> dict[str, str]:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text(encoding="utf-8"))
    env = dict(config.get("environment_variables", {}))
    env.update(config.get("stages", {}).get(stage, {}).get("environment_variables", {}))
    return {k: str(v) for k, v in env.items()}


def _resolve_outputs(env: dict[str, str], stage: str) -> dict[str, str]:
    """A deployed stage's `${Output}` placeholders, from its CloudFormation stack (gallery-<stage>)."""
    if not any(v.startswith("${") for v in env.values()):
        return env
    import boto3

    stack = boto3.client("cloudformation").describe_stacks(StackName=f"gallery-{stage}")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return {k: outputs.get(v[2:-1], "") if v.startswith("${") else v for k, v in env.items()}


def configure(stage: str, *, aws_port: int, project_dir: Path) -> None:
    """Set the environment the app's settings read: the stage's variables, and for `local` the running
    `make run` emulator on `aws_port` (its fixed fake credentials)."""
    env = _stage_environment(stage, project_dir)
    if stage == "local":
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}",
        }.items():
            os.environ.setdefault(name, value)
    else:
        env = _resolve_outputs(env, stage)
    for name, value in env.items():
        os.environ.setdefault(name, value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.consistency", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--stage", default=os.environ.get("STAGE", "local"))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("AWS_PORT", "5000")))
    parser.add_argument("--repair", action="store_true", help="fix what can be fixed safely")
    args = parser.parse_args(argv)
    configure(args.stage, aws_port=args.aws_port, project_dir=Path(__file__).resolve().parent.parent)

    from . import config

    report, done = run(repair_too=args.repair)
    for problem in report.problems:
        print(problem)
    print(
        f"checked {report.photos} photo records and {report.objects} objects in {config.load().bucket}: "
        + ("all invariants hold" if report.ok else f"{len(report.problems)} problem(s) {report.kinds()}")
    )
    for line in done:
        print("repair:", line)
    if done:
        print("repaired what is safe to repair; queued jobs run on the work queue: check again shortly")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
