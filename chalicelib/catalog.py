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

from . import cursors, search
from .models import FEED_PK, PROCESSING_PK, PURGE_PK, READY, Photo, from_item, owner_pk, photo_sk, to_item


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

    @property
    def table(self) -> Any:
        return self._table

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
        self._sync_terms(photo.owner, photo.id, set(), _terms(photo))
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
            before = _terms(photo)
            if change(photo) is None:
                return photo
            try:
                saved = self.save(photo)
            except StaleRecord:
                continue
            self._sync_terms(owner, photo_id, before, _terms(saved))
            return saved
        raise StaleRecord(photo_id)

    def delete(self, owner: str, photo_id: str) -> None:
        """Delete a record and everything that points to it: search terms, album entries, its hash.

        The record goes last, so a delete that fails half way is finished by retrying it.
        """
        photo = self.get(owner, photo_id)
        keys: list[dict[str, str]] = []
        if photo is not None:
            keys += [_term_key(owner, term, photo_id) for term in _terms(photo)]
            if photo.sha256 and self.sha_owner(owner, photo.sha256) == photo_id:
                keys.append(_sha_key(owner, photo.sha256))
        for item in self.query_all(
            Key("PK").eq(owner_pk(owner)) & Key("SK").begins_with(f"INALBUM#{photo_id}#")
        ):
            album_id = item["SK"].split("#")[2]
            keys += [
                {"PK": item["PK"], "SK": item["SK"]},
                {"PK": f"ALBUM#{album_id}", "SK": photo_sk(photo_id)},
            ]
        keys += self.share_keys(owner, image_id=photo_id)
        with self._table.batch_writer() as batch:
            for key in keys:
                batch.delete_item(Key=key)
        self._table.delete_item(Key={"PK": owner_pk(owner), "SK": photo_sk(photo_id)})

    def share_keys(
        self, owner: str, *, image_id: str | None = None, album_id: str | None = None
    ) -> list[dict[str, str]]:
        """The keys of the owner's share links (each link and its owner's reference): to this photo or
        album if one is named, else all of them. Deleting a photo, an album or the account revokes
        their links. One Query: an owner has few links."""
        keys: list[dict[str, str]] = []
        for ref in self.query_all(Key("PK").eq(owner_pk(owner)) & Key("SK").begins_with("SHARE#")):
            if (image_id and ref.get("image_id") != image_id) or (
                album_id and ref.get("album_id") != album_id
            ):
                continue
            keys += [{"PK": f"SHARE#{ref['token_hash']}", "SK": "SHARE"}, {"PK": ref["PK"], "SK": ref["SK"]}]
        return keys

    def hide_in_albums(self, owner: str, photo_id: str, hidden: bool) -> None:
        """Flag (or unflag) the photo's album entries while it is in the trash, so an album's count
        and cover come from its entries alone. Idempotent: trash and restore call it on every retry.
        An entry deleted meanwhile (the album or the photo went) is not brought back."""
        for link in self.query_all(
            Key("PK").eq(owner_pk(owner)) & Key("SK").begins_with(f"INALBUM#{photo_id}#")
        ):
            key = {"PK": f"ALBUM#{link['SK'].split('#')[2]}", "SK": photo_sk(photo_id)}
            # HIDDEN is one of DynamoDB's reserved words: name it through a placeholder.
            change = "SET #hidden = :yes" if hidden else "REMOVE #hidden"
            values = {"ExpressionAttributeValues": {":yes": True}} if hidden else {}
            try:
                self._table.update_item(
                    Key=key,
                    UpdateExpression=change,
                    ConditionExpression=Attr("PK").exists(),
                    ExpressionAttributeNames={"#hidden": "hidden"},
                    **values,
                )
            except ClientError as error:
                if not _conditional_failed(error):
                    raise

    def batch_get(self, owner: str, photo_ids: list[str]) -> list[Photo]:
        """The records of `photo_ids` that exist, in the order given."""
        found: dict[str, Photo] = {}
        wanted = list(dict.fromkeys(photo_ids))
        resource = self._table.meta.client
        for start in range(0, len(wanted), 100):
            keys = [{"PK": owner_pk(owner), "SK": photo_sk(pid)} for pid in wanted[start : start + 100]]
            request: dict[str, Any] = {self._table.name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = _batch_get(self._table, request, resource)
                for item in response["Responses"].get(self._table.name, []):
                    photo = from_item(item)
                    found[photo.id] = photo
                request = response.get("UnprocessedKeys") or {}
        return [found[pid] for pid in wanted if pid in found]

    # Search terms, content hashes

    def _sync_terms(self, owner: str, photo_id: str, before: set[str], after: set[str]) -> None:
        if before == after:
            return
        with self._table.batch_writer() as batch:
            for term in after - before:
                batch.put_item(Item=_term_item(owner, term, photo_id))
            for term in before - after:
                batch.delete_item(Key=_term_key(owner, term, photo_id))

    def term_ids(self, owner: str, term: str) -> list[str]:
        """Ids of the owner's photos found by `term`, newest first."""
        items = self.query_all(Key("PK").eq(f"TERM#{owner}#{term}"), forward=False)
        return [item["photo_id"] for item in items]

    def sha_owner(self, owner: str, sha256: str) -> str | None:
        """The id of the owner's photo with these bytes, if any."""
        item = self._table.get_item(Key=_sha_key(owner, sha256), ConsistentRead=True).get("Item")
        return str(item["photo_id"]) if item else None

    def release_sha(self, owner: str, sha256: str, photo_id: str) -> None:
        """Drop the claim on these bytes if `photo_id` holds it (its photo was deleted meanwhile)."""
        try:
            self._table.delete_item(
                Key=_sha_key(owner, sha256), ConditionExpression=Attr("photo_id").eq(photo_id)
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    def claim_sha(self, owner: str, sha256: str, photo_id: str) -> str:
        """Record `photo_id` as the owner's copy of these bytes, unless another photo already is.
        Returns the id that holds them now."""
        try:
            self._table.put_item(
                Item=_sha_item(owner, sha256, photo_id),
                ConditionExpression=Attr("PK").not_exists() | Attr("photo_id").eq(photo_id),
            )
            return photo_id
        except ClientError as error:
            if not _conditional_failed(error):
                raise
        holder = self.sha_owner(owner, sha256)
        if holder is None or self.get(owner, holder) is None:
            # The holder was deleted between the two reads: take over its hash.
            self._table.put_item(Item=_sha_item(owner, sha256, photo_id))
            return photo_id
        return holder

    # Listings: each one Query on a key or a sparse index, newest first.

    def gallery(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return self._query(
            index="gallery",
            condition=Key("gallery_pk").eq(owner_pk(owner)),
            scope=f"gallery:{owner}",
            limit=limit,
            cursor=cursor,
        )

    def feed(self, *, limit: int, cursor: str | None) -> Page:
        return self._query(
            index="feed", condition=Key("feed_pk").eq(FEED_PK), scope="feed", limit=limit, cursor=cursor
        )

    def wall(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return self._query(
            index="wall",
            condition=Key("wall_pk").eq(f"WALL#{owner}"),
            scope=f"wall:{owner}",
            limit=limit,
            cursor=cursor,
        )

    def trash(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return self._query(
            index="trash",
            condition=Key("trash_pk").eq(owner_pk(owner)),
            scope=f"trash:{owner}",
            limit=limit,
            cursor=cursor,
        )

    def favorite_ids(self, owner: str) -> list[str]:
        items = self.query_all(Key("fav_pk").eq(owner_pk(owner)), index="favorites", forward=False)
        return [item["id"] for item in items]

    def taken_ids(self, owner: str, start: str, end: str) -> list[str]:
        """Ids of photos taken (or, lacking EXIF, uploaded) between two ISO dates, inclusive."""
        condition = Key("taken_pk").eq(owner_pk(owner)) & Key("taken_sk").between(start, end + "~")
        return [item["id"] for item in self.query_all(condition, index="taken", forward=False)]

    def due_for_purge(self, now: int) -> list[tuple[str, str]]:
        """(owner, id) of every trashed photo whose time is up."""
        condition = Key("purge_pk").eq(PURGE_PK) & Key("purge_sk").lt(f"{now:012d}#~")
        return [(item["owner"], item["id"]) for item in self.query_all(condition, index="purge")]

    def processing_since(self, before: str) -> list[tuple[str, str]]:
        """(owner, id) of every photo in `processing` whose last claim (`updated_at`) is before the ISO
        time `before`: one Query on the `purge` index's PROCESSING partition (see models.index_keys)."""
        condition = Key("purge_pk").eq(PROCESSING_PK) & Key("purge_sk").lt(before)
        return [(item["owner"], item["id"]) for item in self.query_all(condition, index="purge")]

    def query_all(
        self, condition: Any, *, index: str | None = None, forward: bool = True
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": forward}
        if index:
            kwargs["IndexName"] = index
        items: list[dict[str, Any]] = []
        while True:
            response = self._table.query(**kwargs)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

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


def _terms(photo: Photo) -> set[str]:
    return search.terms(
        title=photo.title, description=photo.description, tags=photo.tags, camera=photo.camera
    )


def derived_items(photo: Photo) -> list[dict[str, Any]]:
    """The items a record implies, as this module writes them: its search terms and, once it is
    ready, the claim on its bytes' hash (the consistency checker compares these with the table)."""
    items = [_term_item(photo.owner, term, photo.id) for term in sorted(_terms(photo))]
    if photo.status == READY and photo.sha256:
        items.append(_sha_item(photo.owner, photo.sha256, photo.id))
    return items


def _term_item(owner: str, term: str, photo_id: str) -> dict[str, Any]:
    return {**_term_key(owner, term, photo_id), "type": "term", "photo_id": photo_id}


def _sha_item(owner: str, sha256: str, photo_id: str) -> dict[str, Any]:
    return {**_sha_key(owner, sha256), "type": "sha", "photo_id": photo_id}


def _term_key(owner: str, term: str, photo_id: str) -> dict[str, str]:
    return {"PK": f"TERM#{owner}#{term}", "SK": photo_sk(photo_id)}


def _sha_key(owner: str, sha256: str) -> dict[str, str]:
    return {"PK": owner_pk(owner), "SK": f"SHA#{sha256}"}


def _batch_get(table: Any, request: dict[str, Any], client: Any) -> dict[str, Any]:
    # A Table has no batch get of its own; its resource's client takes and returns plain Python
    # values (boto3 registers the same (de)serialisation on it as on the Table).
    response = client.batch_get_item(RequestItems=request)
    return {
        "Responses": response.get("Responses", {}),
        "UnprocessedKeys": response.get("UnprocessedKeys") or {},
    }


def _plain_key(key: dict[str, Any] | None) -> dict[str, Any] | None:
    if key is None:
        return None
    return {k: (int(v) if not isinstance(v, str) else v) for k, v in key.items()}
