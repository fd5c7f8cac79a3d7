"""The photo service: what uploading, listing, editing, deleting and processing a photo mean.

It holds no AWS client of its own: `Storage` and `Catalog` are handed in. Image decoding lives in
`imaging`, imported only by the event path so the API's cold start never loads Pillow.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import cursors, formats, ids, search, storage, validation
from .catalog import Catalog, Page
from .config import Settings
from .errors import BadRequest, NotFound, PayloadTooLarge, ServiceUnavailable, UnsupportedMediaType
from .models import (
    DUPLICATE,
    FAILED,
    PENDING,
    PRIVATE,
    PROCESSING,
    PUBLIC,
    READY,
    REJECTED,
    Photo,
)
from .storage import Storage

log = logging.getLogger(__name__)

# A thumbnail event that fails this many times is recorded as `failed` instead of raised again, so
# it is never lost in a retry loop; `reprocess` can queue it once the cause is fixed.
MAX_ATTEMPTS = 3


def now_iso(clock: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if clock is None else clock, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class DirectUpload:
    photo: Photo
    request: dict[str, Any] | None  # None when the owner already has these bytes
    duplicate: bool = False


@dataclass(frozen=True)
class Upload:
    photo: Photo
    duplicate: bool = False


@dataclass(frozen=True)
class Filters:
    """What `GET /images` may be narrowed by; all of them combine."""

    q: str | None = None
    tag: str | None = None
    camera: str | None = None
    album: str | None = None
    favorite: bool = False
    taken_from: str | None = None
    taken_to: str | None = None

    def __bool__(self) -> bool:
        return any((self.q, self.tag, self.camera, self.album, self.favorite, self.taken_from, self.taken_to))

    def scope(self) -> str:
        return "search:" + "|".join(
            str(v)
            for v in (
                self.q,
                self.tag,
                self.camera,
                self.album,
                self.favorite,
                self.taken_from,
                self.taken_to,
            )
        )


class PhotoService:
    def __init__(self, *, catalog: Catalog, storage: Storage, settings: Settings) -> None:
        self.catalog = catalog
        self.storage = storage
        self.settings = settings
        # Set by the composition root: the album ids a photo is in (for album search), and the
        # work queue for jobs that follow processing.
        self.album_members: Any = None
        self.queue: Any = None

    # Uploads

    def upload_inline(
        self, owner: str, data: bytes, *, title: Any = None, description: Any = None, filename: Any = None
    ) -> Upload:
        """Store bytes sent in the request body; the S3 event turns them into a ready photo."""
        _check_text(title, description, filename)  # before the duplicate check, which answers without them
        if not data:
            raise BadRequest("the request body is empty: send the image's bytes")
        if len(data) > self.settings.max_inline_bytes:
            raise PayloadTooLarge(
                f"the body is larger than {self.settings.max_inline_bytes} bytes: upload photos up to "
                f"{self.settings.max_upload_bytes} bytes with POST /uploads, which sends them to S3 directly"
            )
        content_type = formats.sniff(data[:64])
        if content_type is None:
            raise BadRequest(f"the body is not an image of an allowed format ({formats.ALLOWED_NAMES})")
        digest = hashlib.sha256(data).hexdigest()
        existing = self.existing_copy(owner, digest)
        if existing is not None:
            return Upload(existing, duplicate=True)
        photo = self._new_photo(
            owner,
            status=PROCESSING,
            content_type=content_type,
            size=len(data),
            title=title,
            description=description,
            filename=filename,
        )
        photo.sha256 = digest
        self.catalog.create(photo)
        try:
            self.storage.put(storage.upload_key(owner, photo.id), data, content_type=content_type)
        except Exception as error:
            # Leave nothing behind: a record without bytes would never become ready.
            log.warning("inline upload of %s failed: %s", photo.id, error)
            self.catalog.delete(owner, photo.id)
            raise ServiceUnavailable("storing the photo failed; try again", retry_after=2) from error
        return Upload(photo)

    def existing_copy(self, owner: str, digest: str) -> Photo | None:
        """The owner's photo with these exact bytes (brought back from the trash), if there is one."""
        holder = self.catalog.sha_owner(owner, digest)
        photo = self.catalog.get(owner, holder) if holder else None
        if photo is None or photo.status in (REJECTED, DUPLICATE) or self._expired(photo):
            return None
        if photo.trashed_at:
            photo = self.restore(owner, photo.id)
        return photo

    def start_direct_upload(
        self,
        owner: str,
        *,
        filename: Any,
        content_type: Any,
        size: Any,
        title: Any = None,
        description: Any = None,
        sha256: Any = None,
    ) -> DirectUpload:
        """A pending record and a presigned PUT that sends the bytes straight to S3."""
        _check_text(title, description, filename)  # before the duplicate check, which answers without them
        if sha256 is not None:
            if not isinstance(sha256, str) or not _is_sha256(sha256):
                raise BadRequest("sha256 must be 64 lower-case hexadecimal characters")
            existing = self.existing_copy(owner, sha256)
            if existing is not None:
                return DirectUpload(existing, None, duplicate=True)
        if not isinstance(content_type, str):
            raise BadRequest("content_type must be a string")
        if content_type not in formats.ALLOWED_TYPES and content_type != formats.OCTET_STREAM:
            raise UnsupportedMediaType(
                f"content_type must be one of {', '.join(formats.ALLOWED_TYPES)} or {formats.OCTET_STREAM}"
            )
        size = validation.integer(size, name="size", minimum=1, maximum=2**53)
        if size > self.settings.max_upload_bytes:
            raise PayloadTooLarge(f"photos may be at most {self.settings.max_upload_bytes} bytes")
        ttl = self.settings.upload_url_ttl
        photo = self._new_photo(
            owner,
            status=PENDING,
            content_type=content_type,
            size=size,
            title=title,
            description=description,
            filename=filename,
        )
        self.catalog.create(photo)
        request = self.storage.presign_upload(
            storage.upload_key(owner, photo.id), content_type=content_type, size=size, expires_in=ttl
        )
        return DirectUpload(photo, request)

    def _new_photo(
        self,
        owner: str,
        *,
        status: str,
        content_type: str,
        size: int,
        title: Any,
        description: Any,
        filename: Any,
    ) -> Photo:
        clock = time.time()
        stamp = now_iso(clock)
        return Photo(
            id=ids.new_id(int(clock * 1000)),
            owner=owner,
            status=status,
            created_at=stamp,
            updated_at=stamp,
            title=validation.title(title) if title is not None else "",
            description=validation.description(description) if description is not None else "",
            filename=validation.filename(filename),
            content_type=content_type,
            size=size,
            # Until its bytes are processed a record may vanish: its bytes may never come.
            expires_at=int(clock) + self.settings.upload_url_ttl,
        )

    # Reading

    def get(self, owner: str, photo_id: str, *, trashed: bool = False) -> Photo:
        """The owner's photo; a trashed one only when asked for (it has left every view)."""
        photo = self.catalog.get(owner, photo_id) if ids.is_valid(photo_id) else None
        if photo is None or self._expired(photo) or (photo.trashed_at and not trashed):
            raise NotFound("no such photo")
        return photo

    def gallery(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return self.catalog.gallery(owner, limit=limit, cursor=cursor)

    def feed(self, *, limit: int, cursor: str | None) -> Page:
        return self.catalog.feed(limit=limit, cursor=cursor)

    def wall(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return self.catalog.wall(owner, limit=limit, cursor=cursor)

    def _expired(self, photo: Photo) -> bool:
        return (
            photo.status in (PENDING, DUPLICATE)
            and photo.expires_at is not None
            and photo.expires_at < time.time()
        )

    # Search

    def search(self, owner: str, filters: Filters, *, limit: int, cursor: str | None) -> Page:
        """Photos matching every filter, newest first. Each filter is answered by Queries on keys
        made for it; their id sets are intersected, and only one page of records is read."""
        scope = filters.scope() + ":" + owner
        start = cursors.decode(cursor, scope=scope, secret=self.settings.cursor_secret)
        candidates: set[str] | None = None

        def narrow(found: list[str]) -> None:
            nonlocal candidates
            candidates = set(found) if candidates is None else candidates & set(found)

        if filters.q:
            terms = search.words(filters.q)
            if not terms:
                raise BadRequest("q must contain a word of two letters or digits or more")
            for word in sorted(terms):
                narrow(self.catalog.term_ids(owner, f"w:{word}"))
        if filters.tag:
            narrow(self.catalog.term_ids(owner, f"t:{search.tag_name(filters.tag)}"))
        if filters.camera:
            narrow(self.catalog.term_ids(owner, f"c:{search.camera_name({'model': filters.camera})}"))
        if filters.favorite:
            narrow(self.catalog.favorite_ids(owner))
        if filters.taken_from or filters.taken_to:
            narrow(self.catalog.taken_ids(owner, filters.taken_from or "0000", filters.taken_to or "9999"))
        if filters.album:
            if self.album_members is None:
                raise NotFound("no such album")
            narrow(self.album_members(owner, filters.album))
        ordered = sorted(candidates or set(), reverse=True)
        if start is not None:
            ordered = [pid for pid in ordered if pid < str(start.get("after", ""))]
        items: list[Photo] = []
        remaining = ordered
        while remaining and len(items) < limit:
            batch, remaining = remaining[: limit * 2], remaining[limit * 2 :]
            for photo in self.catalog.batch_get(owner, batch):
                if photo.trashed_at or photo.status in (PENDING, DUPLICATE):
                    continue
                items.append(photo)
                if len(items) == limit:
                    remaining = [pid for pid in batch + remaining if pid < photo.id]
                    break
        next_cursor = None
        if remaining and items:
            next_cursor = cursors.encode(
                {"after": items[-1].id}, scope=scope, secret=self.settings.cursor_secret
            )
        return Page(items, next_cursor)

    # Trash

    def trash(self, owner: str, photo_id: str) -> Photo:
        photo = self.get(owner, photo_id)
        if photo.trashed_at:
            self.catalog.hide_in_albums(owner, photo_id, True)  # finish an earlier call cut short
            return photo
        clock = time.time()

        def to_trash(p: Photo) -> Photo:
            p.trashed_at = now_iso(clock)
            p.purge_at = int(clock) + self.settings.trash_days * 86400
            p.updated_at = p.trashed_at
            return p

        saved = self._save_or_404(owner, photo_id, to_trash)
        self.catalog.hide_in_albums(owner, photo_id, True)
        self.storage.mark_trashed(self._object_keys(saved), True)
        return saved

    def restore(self, owner: str, photo_id: str) -> Photo:
        photo = self.catalog.get(owner, photo_id)
        if photo is None:
            raise NotFound("no such photo")
        if not photo.trashed_at:
            self.catalog.hide_in_albums(owner, photo_id, False)  # finish an earlier call cut short
            return photo

        def from_trash(p: Photo) -> Photo:
            p.trashed_at, p.purge_at, p.updated_at = None, None, now_iso()
            return p

        saved = self._save_or_404(owner, photo_id, from_trash)
        self.catalog.hide_in_albums(owner, photo_id, False)
        self.storage.mark_trashed(self._object_keys(saved), False)
        return saved

    def list_trash(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return self.catalog.trash(owner, limit=limit, cursor=cursor)

    def empty_trash(self, owner: str) -> int:
        count = 0
        while True:
            page = self.catalog.trash(owner, limit=100, cursor=None)
            for photo in page.items:
                self.purge(photo)
                count += 1
            if not page.items:
                return count

    def purge_due(self, now: float | None = None) -> int:
        """Delete for good every trashed photo whose time is up (the scheduled handler)."""
        count = 0
        for owner, photo_id in self.catalog.due_for_purge(int(time.time() if now is None else now)):
            photo = self.catalog.get(owner, photo_id)
            if photo is not None and photo.trashed_at:
                self.purge(photo)
                count += 1
        return count

    def stuck(self, *, older_than: int, now: float | None = None) -> list[tuple[str, str]]:
        """(owner, id) of the photos in `processing` for more than `older_than` seconds (the scheduled
        check that feeds the StuckPhotos alarm)."""
        return self.catalog.processing_since(now_iso((time.time() if now is None else now) - older_than))

    def _save_or_404(self, owner: str, photo_id: str, change: Any) -> Photo:
        saved = self.catalog.update(owner, photo_id, change)
        if saved is None:
            raise NotFound("no such photo")
        return saved

    def _object_keys(self, photo: Photo) -> list[str]:
        keys = [r["key"] for r in photo.renditions.values()]
        if photo.status in (READY, FAILED):
            keys.append(storage.original_key(photo.owner, photo.id))
        return keys

    # Editing and deleting

    def edit(self, owner: str, photo_id: str, changes: dict[str, Any]) -> Photo:
        """Apply a validated PATCH body."""
        clean: dict[str, Any] = {}
        if "title" in changes:
            clean["title"] = validation.title(changes["title"])
        if "description" in changes:
            clean["description"] = validation.description(changes["description"])
        if "visibility" in changes:
            if changes["visibility"] not in (PRIVATE, PUBLIC):
                raise BadRequest("visibility must be 'private' or 'public'")
            clean["visibility"] = changes["visibility"]
        if "favorite" in changes:
            clean["favorite"] = validation.boolean(changes["favorite"], name="favorite")
        if "tags" in changes:
            clean["tags"] = validation.tags(changes["tags"])
        self.get(owner, photo_id)

        def apply(photo: Photo) -> Photo:
            for name, value in clean.items():
                setattr(photo, name, value)
            photo.updated_at = now_iso()
            return photo

        saved = self.catalog.update(owner, photo_id, apply)
        if saved is None:
            raise NotFound("no such photo")
        return saved

    def delete(self, owner: str, photo_id: str) -> None:
        """Remove the original, every rendition and the record. Safe to retry after a failure."""
        photo = self.get(owner, photo_id, trashed=True)
        self.purge(photo)

    def purge(self, photo: Photo) -> None:
        # Objects first: if this fails half way the record is still there to retry the delete.
        keys = [storage.upload_key(photo.owner, photo.id), storage.original_key(photo.owner, photo.id)]
        keys += [r["key"] for r in photo.renditions.values()]
        keys += [obj.key for obj in self.storage.list(storage.rendition_prefix(photo.owner, photo.id))]
        self.storage.delete(keys)
        self.catalog.delete(photo.owner, photo.id)

    # Processing (the S3 event handler)

    def process_upload(self, key: str) -> str:
        """Turn the bytes at `key` into a ready (or rejected) photo. Idempotent; returns the outcome."""
        parsed = storage.parse_photo_key(key)
        if parsed is None or parsed[0] != storage.UPLOADS:
            log.warning("ignoring an event for %s, which is not an upload", key)
            return "ignored"
        _, owner, photo_id = parsed
        photo = self.catalog.get(owner, photo_id)
        if photo is None:
            # Deleted (or expired) before its bytes were processed: drop the bytes too.
            self.storage.delete([key])
            return "orphan-deleted"
        if photo.status in (READY, REJECTED, FAILED, DUPLICATE):
            # A second delivery, or a run that stopped after its last write: finish the move only.
            if photo.status in (REJECTED, DUPLICATE) or self.storage.exists(
                storage.original_key(owner, photo_id)
            ):
                self.storage.delete([key])
            return "already-" + photo.status
        data = self.storage.get(key)
        if data is None:
            return "missing"
        claimed = self.catalog.update(owner, photo_id, lambda p: _claim(p, len(data)))
        if claimed is None:
            self.storage.delete([key])
            return "orphan-deleted"
        if claimed.status != PROCESSING:
            return "already-" + claimed.status
        try:
            return self._render(claimed, key, data)
        except Exception as error:
            if claimed.attempts < MAX_ATTEMPTS:
                raise  # a transient fault: let the event be delivered again
            log.exception("giving up on %s after %d attempts", photo_id, claimed.attempts)
            self._fail(claimed, key, error)
            return FAILED

    def _render(self, photo: Photo, key: str, data: bytes) -> str:
        from . import imaging  # Pillow is for the event path only

        owner, photo_id = photo.owner, photo.id
        if len(data) > self.settings.max_upload_bytes:
            return self._reject(photo, key, f"the file is larger than {self.settings.max_upload_bytes} bytes")
        digest = hashlib.sha256(data).hexdigest()
        holder = self.catalog.claim_sha(owner, digest, photo_id)
        if holder != photo_id:
            return self._fold_duplicate(photo, key, holder)
        try:
            result = imaging.process(data, max_pixels=self.settings.max_pixels)
        except imaging.ImageRejected as rejected:
            return self._reject(photo, key, rejected.reason, digest)
        renditions: dict[str, dict[str, Any]] = {}
        for rendition in result.renditions:
            rendition_key = storage.rendition_key(owner, photo_id, rendition.size, rendition.ext)
            self.storage.put(
                rendition_key,
                rendition.data,
                content_type=rendition.content_type,
                cache_control=storage.RENDITION_CACHE_CONTROL,
            )
            renditions[str(rendition.size)] = {
                "key": rendition_key,
                "width": rendition.width,
                "height": rendition.height,
                "content_type": rendition.content_type,
            }
        public_renditions = self._watermark(owner, photo_id, result.renditions)
        original = storage.original_key(owner, photo_id)
        if key != original:  # a reprocess renders from the original itself
            self.storage.copy(key, original, content_type=result.content_type)

        def ready(p: Photo) -> Photo:
            p.status, p.reason, p.error = READY, None, None
            p.content_type = result.content_type
            p.width, p.height = result.width, result.height
            p.renditions = renditions
            p.public_renditions = public_renditions
            p.taken_at, p.camera, p.gps = result.taken_at, dict(result.camera), result.gps
            p.placeholder, p.dominant_color = result.placeholder, result.dominant_color
            p.sha256 = digest
            p.expires_at = None
            p.updated_at = now_iso()
            return p

        if self.catalog.update(owner, photo_id, ready) is None:
            # Deleted while we worked: remove what we wrote, as the delete would have.
            self.storage.delete([key, original, *(r["key"] for r in renditions.values())])
            self.catalog.release_sha(owner, digest, photo_id)
            return "orphan-deleted"
        if key != original:
            self.storage.delete([key])
        if self.settings.labels_enabled and self.queue is not None:
            self.queue.send({"type": "labels", "owner": owner, "id": photo_id})
        return READY

    def _watermark(self, owner: str, photo_id: str, renditions: Any) -> dict[str, dict[str, Any]]:
        """Write the watermarked copies public routes serve (none without WATERMARK_TEXT)."""
        text = self.settings.watermark_text
        if not text:
            stale = [
                obj.key
                for obj in self.storage.list(storage.rendition_prefix(owner, photo_id))
                if "/public-" in obj.key
            ]
            self.storage.delete(stale)
            return {}
        from . import watermark

        marked: dict[str, dict[str, Any]] = {}
        for rendition in renditions:
            key = storage.rendition_key(owner, photo_id, f"public-{rendition.size}", "jpg")
            self.storage.put(
                key,
                watermark.apply(rendition.data, text),
                content_type="image/jpeg",
                cache_control=storage.RENDITION_CACHE_CONTROL,
            )
            marked[str(rendition.size)] = {
                "key": key,
                "width": rendition.width,
                "height": rendition.height,
                "content_type": "image/jpeg",
            }
        return marked

    def add_labels(self, owner: str, photo_id: str, labeler: Any) -> str:
        """Tag a ready photo with what Rekognition sees in it (the `labels` job). Idempotent."""
        photo = self.catalog.get(owner, photo_id)
        if photo is None or photo.status != READY:
            return "skipped"
        found = labeler.labels(self.storage.bucket, storage.original_key(owner, photo_id))

        def tag(p: Photo) -> Photo | None:
            new = [label for label in found if label not in p.tags]
            if not new:
                return None
            p.tags = (p.tags + new)[: validation.MAX_TAGS]
            return p

        self.catalog.update(owner, photo_id, tag)
        return "labelled"

    def reprocess(self, owner: str, photo_id: str) -> str:
        """Render a photo again from its bytes (the `reprocess` job; `make check-consistency --repair`
        queues it for stuck photos and missing renditions). Idempotent; returns the outcome."""
        photo = self.catalog.get(owner, photo_id)
        if photo is None:
            return "gone"
        if photo.status in (REJECTED, DUPLICATE) or photo.trashed_at:
            return "skipped-" + (photo.status if not photo.trashed_at else "trashed")
        for key in (storage.upload_key(owner, photo_id), storage.original_key(owner, photo_id)):
            data = self.storage.get(key)
            if data is not None:
                break
        else:
            return "missing"

        def reclaim(p: Photo) -> Photo:
            if p.status != READY:  # a ready photo stays listed as it is while its renditions are redone
                p.status = PROCESSING
            p.attempts += 1
            p.updated_at = now_iso()
            return p

        claimed = self.catalog.update(owner, photo_id, reclaim)
        if claimed is None:
            return "gone"
        return self._render(claimed, key, data)

    def _fold_duplicate(self, photo: Photo, key: str, holder: str) -> str:
        """These bytes are already the owner's photo `holder`: keep that one, drop this copy."""
        self.storage.delete([key])
        existing = self.catalog.get(photo.owner, holder)
        if existing is not None and existing.trashed_at:
            self.restore(photo.owner, holder)

        def fold(p: Photo) -> Photo:
            p.status, p.duplicate_of, p.updated_at = DUPLICATE, holder, now_iso()
            # Answers for as long as its upload would have been valid, then goes.
            p.expires_at = int(time.time()) + self.settings.upload_url_ttl
            return p

        self.catalog.update(photo.owner, photo.id, fold)
        return DUPLICATE

    def _reject(self, photo: Photo, key: str, reason: str, digest: str | None = None) -> str:
        self.storage.delete([key])
        if digest:  # rejected bytes are nobody's copy: the same bytes again are judged again
            self.catalog.release_sha(photo.owner, digest, photo.id)

        def reject(p: Photo) -> Photo:
            p.status, p.reason, p.expires_at, p.updated_at = REJECTED, reason, None, now_iso()
            return p

        self.catalog.update(photo.owner, photo.id, reject)
        return REJECTED

    def _fail(self, photo: Photo, key: str, error: Exception) -> None:
        # Keep the bytes where no lifecycle rule expires them, so the photo can be processed again.
        if self.storage.exists(key):
            original = storage.original_key(photo.owner, photo.id)
            self.storage.copy(key, original, content_type=photo.content_type)

        def fail(p: Photo) -> Photo:
            p.status, p.error, p.expires_at, p.updated_at = FAILED, _describe(error), None, now_iso()
            return p

        self.catalog.update(photo.owner, photo.id, fail)
        # Renditions written before the failure belong to no record now.
        partial = [o.key for o in self.storage.list(storage.rendition_prefix(photo.owner, photo.id))]
        self.storage.delete([key, *partial])

    # Views: what leaves through the API

    def owner_view(self, photo: Photo) -> dict[str, Any]:
        if photo.status == DUPLICATE:
            return {"id": photo.id, "status": DUPLICATE, "duplicate_of": photo.duplicate_of}
        view = _common_view(photo)
        view.update(
            filename=photo.filename,
            content_type=photo.content_type,
            size=photo.size,
            status=photo.status,
            visibility=photo.visibility,
            updated_at=photo.updated_at,
            favorite=photo.favorite,
            sha256=photo.sha256,
            gps=photo.gps,
            tags=photo.tags,
        )
        if photo.trashed_at:
            view["trashed_at"] = photo.trashed_at
            view["deletes_at"] = now_iso(photo.purge_at)
        if photo.status == REJECTED:
            view["reason"] = photo.reason
        if photo.status == FAILED:
            view["error"] = photo.error
        if photo.status == PENDING:
            view["expires_at"] = now_iso(photo.expires_at)
        urls = self._rendition_urls(photo)
        original = self._original_key(photo)
        if original:
            urls["original"] = self.storage.presign_get(original)
            urls["download"] = self.storage.presign_get(
                original, filename=self.download_name(photo), attachment=True
            )
        view["urls"] = urls
        return view

    def public_view(self, photo: Photo) -> dict[str, Any]:
        """What anyone may see of a public photo: no original, no GPS, no file details, and the
        watermarked renditions when the stage has a watermark."""
        view = _common_view(photo)
        view["owner"] = photo.owner
        watermarked = bool(self.settings.watermark_text and photo.public_renditions)
        view["urls"] = self._rendition_urls(photo, public=watermarked)
        return view

    def download_url(self, photo: Photo) -> str:
        original = self._original_key(photo)
        if original is None:
            raise NotFound("this photo has no original to download yet")
        return self.storage.presign_get(original, filename=self.download_name(photo), attachment=True)

    def download_name(self, photo: Photo) -> str:
        if photo.filename:
            return photo.filename
        return f"{photo.id}.{formats.ALLOWED_TYPES.get(photo.content_type, 'bin')}"

    def _original_key(self, photo: Photo) -> str | None:
        if photo.status in (READY, FAILED):
            return storage.original_key(photo.owner, photo.id)
        if photo.status == PROCESSING:
            return storage.upload_key(photo.owner, photo.id)
        return None

    def _rendition_urls(self, photo: Photo, *, public: bool = False) -> dict[str, str]:
        urls: dict[str, str] = {}
        source = photo.public_renditions if public else photo.renditions
        for name, size in (("thumbnail", "256"), ("preview", "1024")):
            rendition = source.get(size)
            if rendition and photo.status == READY:
                urls[name] = self.storage.presign_get(rendition["key"])
        return urls


def _common_view(photo: Photo) -> dict[str, Any]:
    return {
        "id": photo.id,
        "title": photo.title,
        "description": photo.description,
        "width": photo.width,
        "height": photo.height,
        "created_at": photo.created_at,
        "taken_at": photo.taken_at,
        "camera": photo.camera,
        "placeholder": photo.placeholder,
        "dominant_color": photo.dominant_color,
    }


def _claim(photo: Photo, size: int) -> Photo | None:
    if photo.status not in (PENDING, PROCESSING):
        return None
    photo.status = PROCESSING
    photo.attempts += 1
    photo.size = size
    photo.updated_at = now_iso()
    return photo


def _check_text(title: Any, description: Any, filename: Any) -> None:
    """BadRequest for an invalid title, description or filename (None: not given)."""
    if title is not None:
        validation.title(title)
    if description is not None:
        validation.description(description)
    validation.filename(filename)


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:500]
