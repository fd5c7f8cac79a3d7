"""The photo record, and the sparse index keys that follow from it.

A record is a dataclass; `catalog` turns it into a DynamoDB item. Which secondary indexes an item is
in follows from its state alone (`index_keys`), so no write can leave an index out of step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

PENDING = "pending"
PROCESSING = "processing"
READY = "ready"
REJECTED = "rejected"
FAILED = "failed"
# A direct upload found, once it landed, to repeat a photo the owner already has: folded into it.
DUPLICATE = "duplicate"
STATUSES = (PENDING, PROCESSING, READY, REJECTED, FAILED, DUPLICATE)

PRIVATE = "private"
PUBLIC = "public"


@dataclass
class Photo:
    id: str
    owner: str
    status: str
    created_at: str
    updated_at: str
    title: str = ""
    description: str = ""
    filename: str = ""
    content_type: str = ""
    size: int = 0
    width: int | None = None
    height: int | None = None
    visibility: str = PRIVATE
    reason: str | None = None
    error: str | None = None
    # {"256": {"key", "width", "height", "content_type"}, "1024": {...}}
    renditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The watermarked renditions public routes serve, when the stage sets WATERMARK_TEXT.
    public_renditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    taken_at: str | None = None
    camera: dict[str, Any] = field(default_factory=dict)
    gps: dict[str, float] | None = None
    sha256: str | None = None
    placeholder: str | None = None
    dominant_color: str | None = None
    # Epoch seconds after which a photo whose bytes never arrived is gone (DynamoDB TTL `ttl`).
    expires_at: int | None = None
    attempts: int = 0
    favorite: bool = False
    tags: list[str] = field(default_factory=list)
    trashed_at: str | None = None
    # Epoch seconds when a trashed photo is deleted for good.
    purge_at: int | None = None
    duplicate_of: str | None = None
    version: int = 0

    @property
    def is_public_ready(self) -> bool:
        return self.visibility == PUBLIC and self.status == READY and not self.trashed_at


def owner_pk(owner: str) -> str:
    return f"USER#{owner}"


def photo_sk(photo_id: str) -> str:
    return f"PHOTO#{photo_id}"


FEED_PK = "FEED"
PURGE_PK = "TRASH"
# The `purge` index also holds every photo in `processing`, by when it was last claimed, under its own
# hash key: the scheduled stuck-photo check is one Query on it (the table has no index by status).
PROCESSING_PK = "PROCESSING"
# DynamoDB's TTL is a backstop for the scheduled purge, so it fires a little later.
TTL_BACKSTOP_SECONDS = 2 * 86400

# Attributes that exist only while an item belongs in an index (see docs/architecture.md).
INDEX_ATTRIBUTES = (
    "gallery_pk",
    "feed_pk",
    "feed_sk",
    "wall_pk",
    "taken_pk",
    "taken_sk",
    "fav_pk",
    "trash_pk",
    "trash_sk",
    "purge_pk",
    "purge_sk",
    "ttl",
)


def index_keys(photo: Photo) -> dict[str, Any]:
    """The index attributes this photo's item must carry, and no others."""
    keys: dict[str, Any] = {}
    owner = owner_pk(photo.owner)
    if photo.trashed_at:
        keys["trash_pk"] = owner
        keys["trash_sk"] = f"{photo.trashed_at}#{photo.id}"
        purge_at = photo.purge_at or 0
        keys["purge_pk"] = PURGE_PK
        keys["purge_sk"] = f"{purge_at:012d}#{photo.owner}#{photo.id}"
        keys["ttl"] = purge_at + TTL_BACKSTOP_SECONDS
    elif photo.status not in (PENDING, DUPLICATE):
        keys["gallery_pk"] = owner
        keys["taken_pk"] = owner
        keys["taken_sk"] = f"{photo.taken_at or photo.created_at}#{photo.id}"
        if photo.favorite:
            keys["fav_pk"] = owner
        if photo.is_public_ready:
            keys["feed_pk"] = FEED_PK
            keys["feed_sk"] = photo.id
            keys["wall_pk"] = f"WALL#{photo.owner}"
        if photo.status == PROCESSING:
            keys["purge_pk"] = PROCESSING_PK
            keys["purge_sk"] = f"{photo.updated_at}#{photo.owner}#{photo.id}"
    # Only records whose bytes may never come expire: a processing photo has its bytes, and DynamoDB
    # deleting it (while its event is retried, say) would lose a photo the caller was told was stored.
    if photo.expires_at is not None and not photo.trashed_at and photo.status in (PENDING, DUPLICATE):
        keys["ttl"] = photo.expires_at
    return keys


_FIELDS = {f.name for f in dataclasses.fields(Photo)}


def to_item(photo: Photo) -> dict[str, Any]:
    item: dict[str, Any] = {"PK": owner_pk(photo.owner), "SK": photo_sk(photo.id), "type": "photo"}
    for name, value in dataclasses.asdict(photo).items():
        if value is None or value == "" or value == {} or value == []:
            continue  # DynamoDB items stay small, and absent reads back as the default
        item[name] = _dynamo(value)
    item.update(index_keys(photo))
    return item


def from_item(item: dict[str, Any]) -> Photo:
    values = {k: _plain(v) for k, v in item.items() if k in _FIELDS}
    return Photo(**values)


def _dynamo(value: Any) -> Any:
    """DynamoDB's resource API takes numbers as Decimal, never float."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """DynamoDB's resource API returns Decimals; records hold ints and floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
