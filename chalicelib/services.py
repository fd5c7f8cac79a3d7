"""The composition root: builds each service once per container from the settings.

Views and event handlers ask `services(settings)` for what they need; the AWS clients behind it are
created lazily, once, in `aws`. A new settings object (another stage, another test) builds anew.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from . import aws
from .albums import AlbumService
from .catalog import Catalog
from .config import Settings
from .jobs import Jobs
from .labels import Labeler
from .photos import PhotoService
from .queue import WorkQueue
from .shares import ShareService
from .storage import Storage
from .users import UserService


@dataclass(frozen=True)
class Services:
    settings: Settings
    photos: PhotoService
    users: UserService
    jobs: Jobs
    queue: WorkQueue
    albums: AlbumService
    shares: ShareService

    def identify(self, authorization: str | None) -> str:
        """The username behind an `Authorization: Bearer` header, or Unauthorized."""
        return self.users.identify(authorization)


@functools.cache
def services(settings: Settings) -> Services:
    table = aws.table(settings.table)
    catalog = Catalog(table, cursor_secret=settings.cursor_secret)
    storage = Storage(aws.client("s3"), settings.bucket)
    queue = WorkQueue(aws.client("sqs"), name=settings.work_queue_name, url=settings.work_queue_url)
    photos = PhotoService(catalog=catalog, storage=storage, settings=settings)
    albums = AlbumService(table=table, catalog=catalog, cursor_secret=settings.cursor_secret)
    photos.album_members = albums.member_ids
    photos.queue = queue
    shares = ShareService(table=table, photos=photos, albums=albums)
    users = UserService(
        settings=settings,
        table=table,
        cognito=aws.client("cognito-idp"),
        queue=queue,
        photos=photos,
        albums=albums,
    )
    jobs = Jobs(photos=photos, users=users, labeler=Labeler(lambda: aws.client("rekognition")))
    return Services(
        settings=settings, photos=photos, users=users, jobs=jobs, queue=queue, albums=albums, shares=shares
    )


def reset() -> None:
    """Forget every built service and client (tests switch emulators between cases)."""
    services.cache_clear()
    aws.reset()
