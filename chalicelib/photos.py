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

from . import formats, ids, storage, validation
from .catalog import Catalog, Page
from .config import Settings
from .errors import BadRequest, NotFound, PayloadTooLarge, ServiceUnavailable, UnsupportedMediaType
from .models import (
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
    request: dict[str, Any]


class PhotoService:
    def __init__(self, *, catalog: Catalog, storage: Storage, settings: Settings) -> None:
        self.catalog = catalog
        self.storage = storage
        self.settings = settings

    # Uploads

    def upload_inline(
        self, owner: str, data: bytes, *, title: Any = None, description: Any = None, filename: Any = None
    ) -> Photo:
        """Store bytes sent in the request body; the S3 event turns them into a ready photo."""
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
        photo = self._new_photo(
            owner, status=PROCESSING, content_type=content_type, size=len(data),
            title=title, description=description, filename=filename,
        )
        photo.sha256 = hashlib.sha256(data).hexdigest()
        self.catalog.create(photo)
        try:
            self.storage.put(storage.upload_key(owner, photo.id), data, content_type=content_type)
        except Exception as error:
            # Leave nothing behind: a record without bytes would never become ready.
            log.warning("inline upload of %s failed: %s", photo.id, error)
            self.catalog.delete(owner, photo.id)
            raise ServiceUnavailable("storing the photo failed; try again", retry_after=2) from error
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
    ) -> DirectUpload:
        """A pending record and a presigned PUT that sends the bytes straight to S3."""
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
            owner, status=PENDING, content_type=content_type, size=size,
            title=title, description=description, filename=filename,
        )
        self.catalog.create(photo)
        request = self.storage.presign_upload(
            storage.upload_key(owner, photo.id), content_type=content_type, size=size, expires_in=ttl
        )
        return DirectUpload(photo, request)

    def _new_photo(
        self, owner: str, *, status: str, content_type: str, size: int,
        title: Any, description: Any, filename: Any,
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

    def get(self, owner: str, photo_id: str) -> Photo:
        photo = self.catalog.get(owner, photo_id) if ids.is_valid(photo_id) else None
        if photo is None or self._expired(photo):
            raise NotFound("no such photo")
        return photo

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return self.catalog.gallery(owner, limit=limit, cursor=cursor)

    def feed(self, *, limit: int, cursor: str | None) -> Page:
        return self.catalog.feed(limit=limit, cursor=cursor)

    def wall(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return self.catalog.wall(owner, limit=limit, cursor=cursor)

    def _expired(self, photo: Photo) -> bool:
        return photo.status == PENDING and photo.expires_at is not None and photo.expires_at < time.time()

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
        photo = self.get(owner, photo_id)
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
        if photo.status in (READY, REJECTED, FAILED):
            # A second delivery, or a run that stopped after its last write: finish the move only.
            if photo.status == REJECTED or self.storage.exists(storage.original_key(owner, photo_id)):
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
        try:
            result = imaging.process(data, max_pixels=self.settings.max_pixels)
        except imaging.ImageRejected as rejected:
            return self._reject(photo, key, rejected.reason)
        renditions: dict[str, dict[str, Any]] = {}
        for rendition in result.renditions:
            rendition_key = storage.rendition_key(owner, photo_id, rendition.size, rendition.ext)
            self.storage.put(
                rendition_key, rendition.data, content_type=rendition.content_type,
                cache_control=storage.RENDITION_CACHE_CONTROL,
            )
            renditions[str(rendition.size)] = {
                "key": rendition_key, "width": rendition.width, "height": rendition.height,
                "content_type": rendition.content_type,
            }
        original = storage.original_key(owner, photo_id)
        self.storage.copy(key, original, content_type=result.content_type)

        def ready(p: Photo) -> Photo:
            p.status, p.reason, p.error = READY, None, None
            p.content_type = result.content_type
            p.width, p.height = result.width, result.height
            p.renditions = renditions
            p.taken_at, p.camera, p.gps = result.taken_at, dict(result.camera), result.gps
            p.placeholder, p.dominant_color = result.placeholder, result.dominant_color
            p.sha256 = p.sha256 or hashlib.sha256(data).hexdigest()
            p.expires_at = None
            p.updated_at = now_iso()
            return p

        if self.catalog.update(owner, photo_id, ready) is None:
            # Deleted while we worked: remove what we wrote, as the delete would have.
            self.storage.delete([key, original, *(r["key"] for r in renditions.values())])
            return "orphan-deleted"
        self.storage.delete([key])
        return READY

    def _reject(self, photo: Photo, key: str, reason: str) -> str:
        self.storage.delete([key])

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
        self.storage.delete([key])

    # Views: what leaves through the API

    def owner_view(self, photo: Photo) -> dict[str, Any]:
        view = _common_view(photo)
        view.update(
            filename=photo.filename, content_type=photo.content_type, size=photo.size,
            status=photo.status, visibility=photo.visibility, updated_at=photo.updated_at,
            favorite=photo.favorite, sha256=photo.sha256, gps=photo.gps,
        )
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
        """What anyone may see of a public photo: no original, no GPS, no file details."""
        view = _common_view(photo)
        view["owner"] = photo.owner
        view["urls"] = self._rendition_urls(photo)
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

    def _rendition_urls(self, photo: Photo) -> dict[str, str]:
        urls: dict[str, str] = {}
        for name, size in (("thumbnail", "256"), ("preview", "1024")):
            rendition = photo.renditions.get(size)
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


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:500]
