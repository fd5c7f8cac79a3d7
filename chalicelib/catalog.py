"""Photo records in DynamoDB: conditional writes, and listings that are Queries on keys.

Every write of a record is a whole-item put guarded by its version number (optimistic locking), so
the sparse index attributes always follow the record's state and two writers never interleave.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from . import cursors
from .models import FEED_PK, Photo, from_item, owner_pk, photo_sk, to_item


class StaleRecord(Exception):
    """The record changed (or vanished) since it was read."""


@dataclass(frozen=True)
class Page:
    items: list[Photo]
    next_cursor: str | None


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Catalog:
    """Reads and writes photo records. Takes a boto3 Table, so tests pass moto's."""

    def __init__(self, table: Any, *, cursor_secret: str) -> None:
        self._table = table
        self._secret = cursor_secret

    def get(self, owner: str, photo_id: str) -> Photo | None:
        response = self._table.get_item(
            Key={"PK": owner_pk(owner), "SK": photo_sk(photo_id)}, ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item and item.get("type") == "photo" else None

    def create(self, photo: Photo) -> Photo:
        """Write a new record; its id must not exist yet."""
        photo.version = 1
        try:
            self._table.put_item(Item=to_item(photo), ConditionExpression=Attr("PK").not_exists())
        except ClientError as error:
            if _conditional_failed(error):
                raise StaleRecord(photo.id) from None
            raise
        return photo

    def save(self, photo: Photo) -> Photo:
        """Write `photo` over the version it was read at; StaleRecord if that is no longer current."""
        read_version = photo.version
        photo.version = read_version + 1
        try:
            self._table.put_item(Item=to_item(photo), ConditionExpression=Attr("version").eq(read_version))
        except ClientError as error:
            photo.version = read_version
            if _conditional_failed(error):
                raise StaleRecord(photo.id) from None
            raise
        return photo

    def update(self, owner: str, photo_id: str, change: Callable[[Photo], Photo | None]) -> Photo | None:
        """Read, apply `change`, save; retried when another writer got there first.

        `change` edits the record in place (or returns None to leave it as it is). Returns the saved
        record, or None when there is no such record.
        """
        for _ in range(8):
            photo = self.get(owner, photo_id)
            if photo is None:
                return None
            if change(photo) is None:
                return photo
            try:
                return self.save(photo)
            except StaleRecord:
                continue
        raise StaleRecord(photo_id)

    def delete(self, owner: str, photo_id: str) -> None:
        self._table.delete_item(Key={"PK": owner_pk(owner), "SK": photo_sk(photo_id)})

    # Listings: each one Query on a key or a sparse index, newest first.

    def gallery(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return self._query(
            index="gallery", condition=Key("gallery_pk").eq(owner_pk(owner)),
            scope=f"gallery:{owner}", limit=limit, cursor=cursor,
        )

    def feed(self, *, limit: int, cursor: str | None) -> Page:
        return self._query(
            index="feed", condition=Key("feed_pk").eq(FEED_PK), scope="feed", limit=limit, cursor=cursor
        )

    def wall(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return self._query(
            index="wall", condition=Key("wall_pk").eq(f"WALL#{owner}"),
            scope=f"wall:{owner}", limit=limit, cursor=cursor,
        )

    def owner_photos(self, owner: str) -> list[Photo]:
        """Every record of one owner, pending ones included (account deletion, export)."""
        photos: list[Photo] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("PK").eq(owner_pk(owner)) & Key("SK").begins_with("PHOTO#")
        }
        while True:
            response = self._table.query(**kwargs)
            photos.extend(from_item(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return photos
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _query(self, *, index: str, condition: Any, scope: str, limit: int, cursor: str | None) -> Page:
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        start = cursors.decode(cursor, scope=scope, secret=self._secret)
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        response = self._table.query(**kwargs)
        items = [from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        if last is not None and len(items) < limit:
            last = None  # a short page is the last page
        return Page(items, cursors.encode(_plain_key(last), scope=scope, secret=self._secret))


def _plain_key(key: dict[str, Any] | None) -> dict[str, Any] | None:
    if key is None:
        return None
    return {k: (int(v) if not isinstance(v, str) else v) for k, v in key.items()}
