"""The photo bucket: key layout, object I/O and presigned requests.

Keys are per owner (see docs/architecture.md). Bytes arrive under `uploads/`, which the S3 event
handler watches and a lifecycle rule expires; a photo that decoded is moved to `originals/`, and its
renditions live under `renditions/`, so writing them never triggers the handler again.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

UPLOADS = "uploads/"
ORIGINALS = "originals/"
RENDITIONS = "renditions/"

# Objects of a trashed photo carry this tag; a lifecycle rule deletes them if the purge never runs.
TRASHED_TAG = "gallery-trashed"

# Renditions never change under a key (a re-render writes the same bytes), so browsers may keep them.
RENDITION_CACHE_CONTROL = "private, max-age=31536000, immutable"


def upload_key(owner: str, photo_id: str) -> str:
    return f"{UPLOADS}{owner}/{photo_id}"


def original_key(owner: str, photo_id: str) -> str:
    return f"{ORIGINALS}{owner}/{photo_id}"


def rendition_prefix(owner: str, photo_id: str) -> str:
    return f"{RENDITIONS}{owner}/{photo_id}/"


def rendition_key(owner: str, photo_id: str, size: int | str, ext: str) -> str:
    return f"{rendition_prefix(owner, photo_id)}{size}.{ext}"


def parse_photo_key(key: str) -> tuple[str, str, str] | None:
    """Split `<prefix>/<owner>/<id>[/...]` into (prefix, owner, id), or None for a foreign key."""
    parts = key.split("/")
    if len(parts) < 3 or not parts[1] or not parts[2]:
        return None
    return parts[0] + "/", parts[1], parts[2]


def _not_found(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}


def content_disposition(filename: str, *, attachment: bool) -> str:
    """A Content-Disposition that survives any filename (RFC 6266 with an ASCII fallback)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    kind = "attachment" if attachment else "inline"
    quoted = urllib.parse.quote(filename, safe="")
    return f"{kind}; filename=\"{fallback or 'photo'}\"; filename*=UTF-8''{quoted}"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    last_modified: float


class Storage:
    """Object operations on the photo bucket. Takes its boto3 S3 client, so tests pass moto's."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> None:
        extra = {"CacheControl": cache_control} if cache_control else {}
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **extra)

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None if it does not exist (e.g. deleted before its event arrived)."""
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            return body.read()
        except ClientError as error:
            if _not_found(error):
                return None
            raise

    def head(self, key: str) -> dict[str, Any] | None:
        try:
            return self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _not_found(error):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def copy(self, source: str, destination: str, *, content_type: str) -> None:
        self._s3.copy_object(
            Bucket=self.bucket,
            Key=destination,
            CopySource={"Bucket": self.bucket, "Key": source},
            ContentType=content_type,
            MetadataDirective="REPLACE",
        )

    def delete(self, keys: Iterable[str]) -> None:
        """Delete keys (missing ones are fine: deletes are idempotent)."""
        batch = list(dict.fromkeys(keys))
        for start in range(0, len(batch), 1000):
            chunk = batch[start : start + 1000]
            response = self._s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
            )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise RuntimeError(f"could not delete {first.get('Key')}: {first.get('Message')}")

    def mark_trashed(self, keys: Iterable[str], trashed: bool) -> None:
        """Tag (or untag) objects of a trashed photo, for the bucket's lifecycle backstop."""
        for key in keys:
            try:
                if trashed:
                    self._s3.put_object_tagging(
                        Bucket=self.bucket,
                        Key=key,
                        Tagging={"TagSet": [{"Key": TRASHED_TAG, "Value": "true"}]},
                    )
                else:
                    self._s3.delete_object_tagging(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if not _not_found(error) and error.response.get("Error", {}).get("Code") != "NoSuchKey":
                    raise

    def list(self, prefix: str) -> Iterator[StoredObject]:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield StoredObject(item["Key"], item["Size"], item["LastModified"].timestamp())

    def delete_prefix(self, prefix: str) -> int:
        keys = [obj.key for obj in self.list(prefix)]
        self.delete(keys)
        return len(keys)

    # Presigned requests. A presigned URL makes no call of its own: it acts with our rights.

    def presign_upload(self, key: str, *, content_type: str, size: int, expires_in: int) -> dict[str, Any]:
        """A SigV4 PUT with the length and type signed in: S3 refuses any other body."""
        url = self._s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type, "ContentLength": size},
            ExpiresIn=expires_in,
            HttpMethod="PUT",
        )
        # Browsers set Content-Length themselves (and refuse to be told); other clients must send it.
        return {"method": "PUT", "url": url, "headers": {"Content-Type": content_type}}

    def presign_get(
        self,
        key: str,
        *,
        filename: str | None = None,
        attachment: bool = False,
        window: int = 300,
        expires_in: int = 900,
        now: float | None = None,
    ) -> str:
        """A presigned GET that stays the same for `window` seconds, so browsers can cache the object.

        The signature's timestamp is the start of the current window and the URL is valid for
        `expires_in` from then, so every URL handed out stays valid at least `expires_in - window`.
        """
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename, attachment=attachment)
        # Let boto3 build the URL (endpoint, addressing style, encoded parameters), then sign it again
        # with the window's start as its time.
        unsigned = self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        parts = urllib.parse.urlsplit(unsigned)
        query = [
            (name, value)
            for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if not name.startswith("X-Amz-")
        ]
        base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        started = int(time.time() if now is None else now) // window * window
        request = AWSRequest(method="GET", url=base, params=dict(query))
        signer = _WindowedQueryAuth(
            self._s3._request_signer._credentials.get_frozen_credentials(),
            "s3",
            self._s3.meta.region_name,
            expires=expires_in,
            timestamp=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)),
        )
        signer.add_auth(request)
        return request.prepare().url


class _WindowedQueryAuth(S3SigV4QueryAuth):
    """botocore's S3 query signer, with a timestamp we choose instead of now."""

    def __init__(self, credentials: Any, service: str, region: str, *, expires: int, timestamp: str) -> None:
        super().__init__(credentials, service, region, expires=expires)
        self._fixed_timestamp = timestamp

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self._fixed_timestamp
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))
