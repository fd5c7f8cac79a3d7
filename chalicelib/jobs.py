"""Background jobs from the work queue. Each is idempotent: running it twice does no harm."""

from __future__ import annotations

import logging
from typing import Any

from .photos import PhotoService
from .users import UserService

log = logging.getLogger(__name__)


class UnknownJob(ValueError):
    pass


class Jobs:
    def __init__(self, *, photos: PhotoService, users: UserService, labeler: Any = None) -> None:
        self._photos = photos
        self._users = users
        self._labeler = labeler

    def run(self, job: dict[str, Any]) -> str:
        kind = job.get("type")
        if kind == "purge_user":
            remaining = self._users.purge_photos(str(job["username"]))
            if remaining:
                # Hand the rest to the next message rather than outlive the Lambda timeout.
                self._users._queue.send({"type": "purge_user", "username": job["username"]})
            return f"purged, {remaining} left"
        if kind == "reprocess":
            # A transient fault raises, so SQS delivers the job again (and then to the dead-letter queue).
            return self._photos.reprocess(str(job["owner"]), str(job["id"]))
        if kind == "labels":
            return self._photos.add_labels(str(job["owner"]), str(job["id"]), self._labeler)
        raise UnknownJob(f"unknown job type {kind!r}")
