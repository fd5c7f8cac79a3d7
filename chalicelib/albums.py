"""Albums: named, ordered sets of one owner's photos.

Items (one table, see docs/architecture.md): the album `USER#{owner}`/`ALBUM#{id}`, one entry per
photo `ALBUM#{id}`/`PHOTO#{photo}` (holding its date, so ordering needs no photo reads, and a
`hidden` flag while the photo is in the trash, so counting needs none either), and its mirror
`USER#{owner}`/`INALBUM#{photo}#{id}`, so deleting or trashing a photo finds its albums with one Query.

An album's count and cover are worked out from its entries when it is read, never kept as counters
that a failed write could leave wrong.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from . import cursors, ids, validation
from .catalog import Catalog
from .errors import BadRequest, NotFound
from .models import DUPLICATE, PENDING, Photo, owner_pk, photo_sk
from .photos import now_iso

MAX_ADD = 100
MAX_ORDER = 10_000


def album_sk(album_id: str) -> str:
    return f"ALBUM#{album_id}"


def link_item(owner: str, photo_id: str, album_id: str) -> dict[str, Any]:
    """The mirror of an album entry, in the owner's partition: finds a photo's albums."""
    return {
        "PK": owner_pk(owner),
        "SK": f"INALBUM#{photo_id}#{album_id}",
        "type": "album_link",
        "album_id": album_id,
    }


@dataclass(frozen=True)
class AlbumSummary:
    """An album as lists show it: its fields, how many photos it shows, and the cover photo."""

    view: dict[str, Any]
    cover: Photo | None


@dataclass(frozen=True)
class AlbumPage:
    items: list[AlbumSummary]
    next_cursor: str | None


class AlbumService:
    def __init__(self, *, table: Any, catalog: Catalog, cursor_secret: str) -> None:
        self._table = table
        self._catalog = catalog
        self._secret = cursor_secret

    def create(self, owner: str, body: dict[str, Any]) -> AlbumSummary:
        clock = time.time()
        album = {
            "PK": owner_pk(owner),
            "SK": "",
            "type": "album",
            "id": ids.new_id(int(clock * 1000)),
            "owner": owner,
            "title": validation.title(body["title"]),
            "description": validation.description(body.get("description", "")),
            "created_at": now_iso(clock),
            "updated_at": now_iso(clock),
        }
        if not album["title"]:
            raise BadRequest("title must not be empty")
        album["SK"] = album_sk(album["id"])
        self._table.put_item(Item=album)
        return AlbumSummary(view=_album_view(album, count=0), cover=None)

    def get_album(self, owner: str, album_id: str) -> dict[str, Any]:
        """The album's item, or NotFound (also for another owner's album)."""
        if not ids.is_valid(album_id):
            raise NotFound("no such album")
        item = self._table.get_item(
            Key={"PK": owner_pk(owner), "SK": album_sk(album_id)}, ConsistentRead=True
        ).get("Item")
        if item is None:
            raise NotFound("no such album")
        return item

    def list_albums(self, owner: str, *, limit: int, cursor: str | None) -> AlbumPage:
        scope = f"albums:{owner}"
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("PK").eq(owner_pk(owner)) & Key("SK").begins_with("ALBUM#"),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        start = cursors.decode(cursor, scope=scope, secret=self._secret)
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self._table.query(**kwargs)
        items = response.get("Items", [])
        last = response.get("LastEvaluatedKey") if len(items) == limit else None
        return AlbumPage(self.summaries(owner, items), cursors.encode(last, scope=scope, secret=self._secret))

    def summaries(self, owner: str, albums: list[dict[str, Any]]) -> list[AlbumSummary]:
        """Count and cover of each album: one Query of its entries, one BatchGetItem for all covers."""
        return self._summarise(owner, [(album, self._shown(album)) for album in albums])

    def _summarise(self, owner: str, shown: list[tuple[dict[str, Any], list[str]]]) -> list[AlbumSummary]:
        """The cover is the one the owner chose, else the album's first photo in its order; photos in
        the trash count for neither."""
        cover_ids = [
            album.get("cover_image_id") if album.get("cover_image_id") in ids else (ids[0] if ids else None)
            for album, ids in shown
        ]
        found = {p.id: p for p in self._catalog.batch_get(owner, [c for c in cover_ids if c])}
        return [
            AlbumSummary(
                view=_album_view(album, len(ids)),
                cover=found[cover] if cover in found and _visible(found[cover]) else None,
            )
            for (album, ids), cover in zip(shown, cover_ids, strict=True)
        ]

    def member_ids(self, owner: str, album_id: str) -> list[str]:
        """The album's photo ids in its order (those in the trash too): the owner's manual order,
        else by date taken."""
        album = self.get_album(owner, album_id)
        return self._ordered(self._entries(album_id), album)

    def _shown(self, album: dict[str, Any]) -> list[str]:
        """The album's photo ids in its order, without those in the trash."""
        return self._ordered(_shown_entries(self._entries(album["id"])), album)

    @staticmethod
    def _ordered(entries: list[dict[str, Any]], album: dict[str, Any]) -> list[str]:
        by_date = [
            e["photo_id"] for e in sorted(entries, key=lambda e: (e.get("taken_sk", ""), e["photo_id"]))
        ]
        present = set(by_date)
        manual = [pid for pid in album.get("order", []) if pid in present]
        chosen = set(manual)
        return manual + [pid for pid in by_date if pid not in chosen]

    def _entries(self, album_id: str) -> list[dict[str, Any]]:
        return self._catalog.query_all(Key("PK").eq(f"ALBUM#{album_id}"))

    def open(
        self, owner: str, album_id: str, *, limit: int, cursor: str | None
    ) -> tuple[AlbumSummary, list[Photo], str | None]:
        """The album with its count and cover, and one page of its photos: its entries read once."""
        album = self.get_album(owner, album_id)
        shown = self._shown(album)
        photos, next_cursor = self._page(owner, album_id, shown, limit=limit, cursor=cursor)
        return self._summarise(owner, [(album, shown)])[0], photos, next_cursor

    def photos(
        self, owner: str, album_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[Photo], str | None]:
        """One page of the album's visible photos, in order."""
        shown = self._shown(self.get_album(owner, album_id))
        return self._page(owner, album_id, shown, limit=limit, cursor=cursor)

    def _page(
        self, owner: str, album_id: str, ordered: list[str], *, limit: int, cursor: str | None
    ) -> tuple[list[Photo], str | None]:
        scope = f"album:{owner}:{album_id}"
        start = cursors.decode(cursor, scope=scope, secret=self._secret)
        offset = int(start.get("offset", 0)) if start else 0
        shown: list[Photo] = []
        position = offset
        while position < len(ordered) and len(shown) < limit:
            batch = ordered[position : position + limit]
            found = {p.id: p for p in self._catalog.batch_get(owner, batch)}
            for photo_id in batch:
                position += 1
                photo = found.get(photo_id)
                # The records decide: an entry may not know yet that its photo went to the trash.
                if photo is not None and _visible(photo):
                    shown.append(photo)
                    if len(shown) == limit:
                        break
        next_cursor = (
            cursors.encode({"offset": position}, scope=scope, secret=self._secret)
            if position < len(ordered)
            else None
        )
        return shown, next_cursor

    def update(self, owner: str, album_id: str, body: dict[str, Any]) -> AlbumSummary:
        album = self.get_album(owner, album_id)
        if "title" in body:
            album["title"] = validation.title(body["title"])
            if not album["title"]:
                raise BadRequest("title must not be empty")
        if "description" in body:
            album["description"] = validation.description(body["description"])
        entries = self._entries(album_id)
        members = {e["photo_id"] for e in entries}
        if "cover_image_id" in body:
            cover = body["cover_image_id"]
            if cover is not None and (not isinstance(cover, str) or cover not in members):
                raise BadRequest("cover_image_id must be a photo in this album (or null)")
            album["cover_image_id"] = cover
        if "order" in body:
            order = body["order"]
            if (
                not isinstance(order, list)
                or len(order) > MAX_ORDER
                or not all(isinstance(pid, str) for pid in order)
                or len(set(order)) != len(order)
            ):
                raise BadRequest("order must be a list of distinct photo ids")
            unknown = [pid for pid in order if pid not in members]
            if unknown:
                raise BadRequest(f"order names photos not in this album: {', '.join(unknown[:5])}")
            album["order"] = order
        album["updated_at"] = now_iso()
        self._table.put_item(Item={k: v for k, v in album.items() if v is not None})
        return self._summarise(owner, [(album, self._ordered(_shown_entries(entries), album))])[0]

    def delete(self, owner: str, album_id: str) -> None:
        """Delete the album and revoke its share links; its photos stay. The album item goes last,
        so a delete cut short is finished by retrying it."""
        self.get_album(owner, album_id)
        with self._table.batch_writer() as batch:
            for key in self._catalog.share_keys(owner, album_id=album_id):
                batch.delete_item(Key=key)
        self._remove(owner, album_id)

    def delete_all(self, owner: str) -> int:
        """Delete every album of the owner (a deleted account); returns how many. Their share links
        are the caller's: a deleted account's are all revoked at once (UserService.unshare)."""
        albums = self._catalog.query_all(Key("PK").eq(owner_pk(owner)) & Key("SK").begins_with("ALBUM#"))
        for album in albums:
            self._remove(owner, album["id"])
        return len(albums)

    def _remove(self, owner: str, album_id: str) -> None:
        """The album's entries, their mirrors, then the album item."""
        with self._table.batch_writer() as batch:
            for entry in self._entries(album_id):
                batch.delete_item(Key={"PK": entry["PK"], "SK": entry["SK"]})
                link = link_item(owner, entry["photo_id"], album_id)
                batch.delete_item(Key={"PK": link["PK"], "SK": link["SK"]})
        self._table.delete_item(Key={"PK": owner_pk(owner), "SK": album_sk(album_id)})

    def add(self, owner: str, album_id: str, photo_ids: Any) -> dict[str, Any]:
        """Add photos (idempotent). Only the owner's own photos: anything else is a 404."""
        self.get_album(owner, album_id)
        if (
            not isinstance(photo_ids, list)
            or not 1 <= len(photo_ids) <= MAX_ADD
            or not all(isinstance(pid, str) for pid in photo_ids)
        ):
            raise BadRequest(f"image_ids must be a list of 1 to {MAX_ADD} photo ids")
        wanted = list(dict.fromkeys(photo_ids))
        found = {p.id: p for p in self._catalog.batch_get(owner, [p for p in wanted if ids.is_valid(p)])}
        missing = [pid for pid in wanted if pid not in found or not _visible(found[pid])]
        if missing:
            raise NotFound(f"no such photo: {missing[0]}")
        with self._table.batch_writer() as batch:
            for pid in wanted:
                photo = found[pid]
                batch.put_item(
                    Item={
                        "PK": f"ALBUM#{album_id}",
                        "SK": photo_sk(pid),
                        "type": "album_entry",
                        "photo_id": pid,
                        "owner": owner,
                        "taken_sk": f"{photo.taken_at or photo.created_at}#{pid}",
                    }
                )
                batch.put_item(Item=link_item(owner, pid, album_id))
        return {"album_id": album_id, "added": wanted}

    def remove(self, owner: str, album_id: str, photo_id: str) -> None:
        self.get_album(owner, album_id)
        entry = self._table.get_item(Key={"PK": f"ALBUM#{album_id}", "SK": photo_sk(photo_id)}).get("Item")
        if entry is None:
            raise NotFound("that photo is not in this album")
        self._table.delete_item(Key={"PK": owner_pk(owner), "SK": f"INALBUM#{photo_id}#{album_id}"})
        self._table.delete_item(Key={"PK": f"ALBUM#{album_id}", "SK": photo_sk(photo_id)})


def _shown_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries whose photo is not in the trash."""
    return [e for e in entries if not e.get("hidden")]


def _visible(photo: Photo) -> bool:
    return not photo.trashed_at and photo.status not in (PENDING, DUPLICATE)


def _album_view(album: dict[str, Any], count: int | None = None) -> dict[str, Any]:
    view = {
        name: album.get(name)
        for name in ("id", "title", "description", "cover_image_id", "created_at", "updated_at")
    }
    view["order"] = album.get("order") or None
    if count is not None:
        view["count"] = count
    return view
