"""One frozen settings object, read from the environment at call time.

Chalice sets a stage's environment variables around each call in tests and at import while packaging,
so nothing here is read once at import: call `load()` where a setting is needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_BUCKET = "gallery-local-photos-123456789012"
DEFAULT_WORK_QUEUE = "gallery-local-work"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def _flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    return default if not raw else raw in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    bucket: str
    table: str
    work_queue_name: str
    work_queue_url: str
    user_pool_id: str
    user_pool_client_id: str
    jwks_url: str
    auto_confirm: bool
    max_inline_bytes: int
    max_upload_bytes: int
    max_pixels: int
    upload_url_ttl: int
    cursor_secret: str
    trash_days: int
    watermark_text: str
    labels_enabled: bool

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


def load() -> Settings:
    """Build the settings from the current environment."""
    env = os.environ.get
    region = env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "us-east-1"
    stage = env("STAGE", "local")
    return Settings(
        stage=stage,
        region=region,
        bucket=env("PHOTOS_BUCKET", DEFAULT_BUCKET),
        table=env("PHOTOS_TABLE", "gallery-local"),
        work_queue_name=env("WORK_QUEUE_NAME", DEFAULT_WORK_QUEUE),
        work_queue_url=env("WORK_QUEUE_URL", ""),
        user_pool_id=env("USER_POOL_ID", ""),
        user_pool_client_id=env("USER_POOL_CLIENT_ID", ""),
        jwks_url=env("JWKS_URL", ""),
        auto_confirm=_flag("AUTO_CONFIRM"),
        max_inline_bytes=_int("MAX_INLINE_BYTES", 4 * 1024 * 1024),
        max_upload_bytes=_int("MAX_UPLOAD_BYTES", 50 * 1024 * 1024),
        max_pixels=_int("MAX_PIXELS", 100_000_000),
        upload_url_ttl=_int("UPLOAD_URL_TTL", 900),
        # The local stage needs no secret of its own: its cursors only have to resist tampering by
        # its one user. Deployed stages get a random one from `make deploy`.
        cursor_secret=env("CURSOR_SECRET", "") or f"gallery-{stage}-cursor-key",
        trash_days=_int("TRASH_DAYS", 30),
        watermark_text=env("WATERMARK_TEXT", "").strip(),
        labels_enabled=_flag("LABELS"),
    )


def import_time_bucket() -> str:
    """The bucket name for `@app.on_s3_event`, which Chalice needs when `app.py` is imported."""
    return os.environ.get("PHOTOS_BUCKET", DEFAULT_BUCKET)


def import_time_work_queue() -> str:
    """The work queue's name for `@app.on_sqs_message`, needed at import like the bucket."""
    return os.environ.get("WORK_QUEUE_NAME", DEFAULT_WORK_QUEUE)
