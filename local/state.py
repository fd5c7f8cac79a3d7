"""Persistence for the local stack: snapshot the emulator's data to `.local/`, restore it on start.

moto keeps everything in memory. What matters to a developer is the data, not the request history,
so the stack saves S3 objects (as files), DynamoDB items (as DynamoDB JSON) and Cognito users
(username, password, attributes, status and `sub`) whenever the emulator saw a mutating request, and
at shutdown. On start it restores them before the bucket notification exists, so nothing is
re-processed. Messages still on the queues are saved at a clean shutdown (not periodically) and sent
again on start, after the notification is installed.

Layout of the state directory:
    s3/<bucket>/manifest.json       key -> blob name, content type, metadata, tags
    s3/<bucket>/blobs/<etag>        object bytes, named by ETag so unchanged objects are not copied again
    dynamodb/<table>.json           every item of the table
    cognito/<pool name>.json        every user of the pool
    sqs/messages.json               queue name -> bodies left at shutdown (deleted once re-sent)
Every file is written to a temporary name and renamed, so a crash leaves the previous snapshot.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("local.state")

# Object headers worth keeping; S3 recomputes the rest (ETag, length, last modified).
_KEPT_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a reader sees the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=1, sort_keys=True).encode())


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def _encode_binary(value: Any) -> Any:
    """DynamoDB JSON with bytes (B, BS) as base64, so it fits in a JSON file."""
    if isinstance(value, bytes):
        return {"__b64__": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: _encode_binary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode_binary(v) for v in value]
    return value


def _decode_binary(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {k: _decode_binary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_binary(v) for v in value]
    return value


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


class StateStore:
    """Reads and writes one state directory through boto3 clients (and moto's Cognito backend)."""

    def __init__(self, state_dir: Path, clients: dict[str, Any], *, account_id: str, region: str) -> None:
        self.dir = state_dir
        self.s3 = clients["s3"]
        self.dynamodb = clients["dynamodb"]
        self.idp = clients["cognito-idp"]
        self.account_id = account_id
        self.region = region
        self._lock = threading.Lock()  # one snapshot at a time (periodic thread vs shutdown)

    # --- S3 -------------------------------------------------------------------------------------

    def _objects(self, bucket: str) -> Iterator[dict[str, Any]]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            yield from page.get("Contents", [])

    def _object_tags(self, bucket: str, key: str) -> list[dict[str, str]]:
        """An object's tags, from moto's in-process backend: a tag change leaves the ETag as it was,
        and asking the API for every object's tags on every snapshot would be one request each."""
        from moto.s3.models import s3_backends

        backend = s3_backends[self.account_id]["aws"]
        obj = backend.get_object(bucket, key)
        return list(backend.get_object_tagging(obj).get("Tags", [])) if obj is not None else []

    def snapshot_bucket(self, bucket: str) -> int:
        """Save the bucket's objects; only objects whose ETag is new are downloaded."""
        root = self.dir / "s3" / bucket
        old = _read_json(root / "manifest.json", {})
        manifest: dict[str, Any] = {}
        for obj in self._objects(bucket):
            key, blob = obj["Key"], _safe_name(obj["ETag"].strip('"'))
            tags = self._object_tags(bucket, key)
            previous = old.get(key)
            if previous and previous["blob"] == blob and (root / "blobs" / blob).exists():
                manifest[key] = {**previous, "tags": tags}
                continue
            if (root / "blobs" / blob).exists():  # the same bytes under another key: headers only
                got = self.s3.head_object(Bucket=bucket, Key=key)
            else:
                got = self.s3.get_object(Bucket=bucket, Key=key)
                write_atomic(root / "blobs" / blob, got["Body"].read())
            entry = {h: got[h] for h in _KEPT_HEADERS if got.get(h)}
            manifest[key] = {"blob": blob, "headers": entry, "metadata": got.get("Metadata", {}),
                             "tags": tags}
        _write_json(root / "manifest.json", manifest)
        # Only after the new manifest is in place: blobs nothing refers to any more.
        referenced = {e["blob"] for e in manifest.values()}
        for path in (root / "blobs").glob("*"):
            if path.name not in referenced and not path.name.startswith("."):
                path.unlink(missing_ok=True)
        return len(manifest)

    def restore_bucket(self, bucket: str) -> int:
        root = self.dir / "s3" / bucket
        manifest = _read_json(root / "manifest.json", {})
        for key, entry in manifest.items():
            extra = dict(entry.get("headers", {}))
            if entry.get("tags"):
                extra["Tagging"] = urllib.parse.urlencode([(t["Key"], t["Value"]) for t in entry["tags"]])
            self.s3.put_object(
                Bucket=bucket, Key=key, Body=(root / "blobs" / entry["blob"]).read_bytes(),
                Metadata=entry.get("metadata", {}), **extra,
            )
        return len(manifest)

    # --- DynamoDB -------------------------------------------------------------------------------

    def snapshot_table(self, table: str) -> int:
        items: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items.extend(page.get("Items", []))
        _write_json(self.dir / "dynamodb" / f"{_safe_name(table)}.json", _encode_binary(items))
        return len(items)

    def restore_table(self, table: str) -> int:
        items = _decode_binary(_read_json(self.dir / "dynamodb" / f"{_safe_name(table)}.json", []))
        for start in range(0, len(items), 25):
            requests: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]}
            while requests:
                requests = self.dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
        return len(items)

    # --- Cognito --------------------------------------------------------------------------------

    def _pool(self, pool_id: str) -> Any:
        """moto's in-process pool object: the API never returns a password, the backend has it."""
        from moto.cognitoidp.models import cognitoidp_backends

        return cognitoidp_backends[self.account_id][self.region].user_pools[pool_id]

    def snapshot_users(self, pool_id: str, pool_name: str) -> int:
        users = []
        for user in list(self._pool(pool_id).users.values()):
            users.append({
                "username": user.username,
                "password": user.password,
                "status": user.status,
                "enabled": user.enabled,
                "attributes": [dict(a) for a in user.attributes],
            })
        _write_json(self.dir / "cognito" / f"{_safe_name(pool_name)}.json", users)
        return len(users)

    def restore_users(self, pool_id: str, pool_name: str) -> int:
        users = _read_json(self.dir / "cognito" / f"{_safe_name(pool_name)}.json", [])
        for saved in users:
            attributes = [a for a in saved["attributes"] if a["Name"] != "sub"]
            self.idp.admin_create_user(
                UserPoolId=pool_id, Username=saved["username"], UserAttributes=attributes,
                MessageAction="SUPPRESS",
            )
            # Straight into the backend: the password as it was (even if the policy has changed since),
            # the status (a signed-up, unconfirmed user stays unconfirmed) and the same `sub`, so
            # anything keyed by it still belongs to the user.
            user = self._pool(pool_id).users[saved["username"]]
            user.password = saved["password"]
            user.status = saved["status"]
            user.enabled = saved["enabled"]
            sub = next((a["Value"] for a in saved["attributes"] if a["Name"] == "sub"), None)
            if sub:
                user.id = sub
                user.update_attributes([{"Name": "sub", "Value": sub}])
        return len(users)

    # --- SQS (at shutdown only) -----------------------------------------------------------------

    def snapshot_queues(self, names: list[str]) -> int:
        """Bodies of every message still queued, in flight or not (read from moto's backend).

        Called once the dispatchers have stopped: an upload event or a job that had not run yet runs
        after the restart. Only bodies: the app sends no message attributes.
        """
        from moto.sqs.models import sqs_backends

        queues = sqs_backends[self.account_id][self.region].queues
        saved = {name: [m.body for m in list(queues[name]._messages)] for name in names if name in queues}
        _write_json(self.dir / "sqs" / "messages.json", saved)
        return sum(len(bodies) for bodies in saved.values())

    def restore_queues(self, sqs: Any, urls: dict[str, str]) -> int:
        """Send the saved bodies again, then forget them, so they are delivered once."""
        path = self.dir / "sqs" / "messages.json"
        saved = _read_json(path, {})
        count = 0
        for name, bodies in saved.items():
            if name not in urls:
                continue
            for start in range(0, len(bodies), 10):
                entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start:start + 10])]
                sqs.send_message_batch(QueueUrl=urls[name], Entries=entries)
                count += len(entries)
        path.unlink(missing_ok=True)
        return count

    # --- everything -------------------------------------------------------------------------------

    def snapshot(self, *, buckets: list[str], tables: list[str], pools: dict[str, str],
                 services: set[str] | None = None) -> None:
        """Save what `services` ("s3", "dynamodb", "cognito-idp"; all if None) hold."""
        with self._lock:
            if services is None or "s3" in services:
                for bucket in buckets:
                    self.snapshot_bucket(bucket)
            if services is None or "dynamodb" in services:
                for table in tables:
                    self.snapshot_table(table)
            if services is None or "cognito-idp" in services:
                for pool_id, name in pools.items():
                    self.snapshot_users(pool_id, name)

    def restore(self, *, buckets: list[str], tables: list[str], pools: dict[str, str]) -> dict[str, int]:
        """Load a previous snapshot into freshly created resources; counts what came back."""
        counts = {"objects": 0, "items": 0, "users": 0}
        for bucket in buckets:
            counts["objects"] += self.restore_bucket(bucket)
        for table in tables:
            counts["items"] += self.restore_table(table)
        for pool_id, name in pools.items():
            counts["users"] += self.restore_users(pool_id, name)
        return counts
