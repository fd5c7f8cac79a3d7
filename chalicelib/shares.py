"""Share links: an unguessable token that opens one album or one photo to anyone who has it.

The token is never stored: only its SHA-256 (`SHARE#{hash}`), so a leaked table leaks no link. An
optional password is kept as a salted scrypt hash. An expired or revoked link answers exactly like
one that never existed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from boto3.dynamodb.conditions import Key

from . import ids, validation
from .albums import AlbumService
from .errors import BadRequest, NotFound, Unauthorized
from .models import READY, Photo, owner_pk
from .photos import PhotoService, now_iso

DEFAULT_EXPIRY = 7 * 86400
MAX_EXPIRY = 365 * 86400
# A wrong password costs the guesser this long (on top of scrypt), so guessing stays slow.
WRONG_PASSWORD_DELAY = 0.5
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_GONE = "no such share link"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    _, salt_hex, digest_hex = stored.split("$")
    candidate = hash_password(password, bytes.fromhex(salt_hex)).split("$")[2]
    return hmac.compare_digest(candidate, digest_hex)


class ShareService:
    def __init__(self, *, table: Any, photos: PhotoService, albums: AlbumService) -> None:
        self._table = table
        self._photos = photos
        self._albums = albums

    def create(self, owner: str, body: dict[str, Any]) -> dict[str, Any]:
        album_id, image_id = body.get("album_id"), body.get("image_id")
        if (album_id is None) == (image_id is None):
            raise BadRequest("give exactly one of album_id or image_id")
        if album_id is not None:
            if not isinstance(album_id, str):
                raise BadRequest("album_id must be a string")
            target = {"album_id": self._albums.get_album(owner, album_id)["id"]}
        else:
            if not isinstance(image_id, str):
                raise BadRequest("image_id must be a string")
            target = {"image_id": self._photos.get(owner, image_id).id}
        expires_in = validation.integer(
            body.get("expires_in", DEFAULT_EXPIRY), name="expires_in", minimum=60, maximum=MAX_EXPIRY
        )
        allow_download = validation.boolean(body.get("allow_download", False), name="allow_download")
        password = body.get("password")
        if password is not None and (not isinstance(password, str) or not 1 <= len(password) <= 200):
            raise BadRequest("password must be a string of 1 to 200 characters")
        token = secrets.token_urlsafe(32)  # 256 random bits
        clock = time.time()
        share_id = ids.new_id(int(clock * 1000))
        expires_at = int(clock) + expires_in
        common = {
            "owner": owner,
            "share_id": share_id,
            "expires_at": expires_at,
            "allow_download": allow_download,
            "created_at": now_iso(clock),
            "has_password": password is not None,
            "ttl": expires_at + 86400,
            **target,
        }
        link = {"PK": f"SHARE#{token_hash(token)}", "SK": "SHARE", "type": "share", **common}
        if password is not None:
            link["password"] = hash_password(password)
        mine = {
            "PK": owner_pk(owner),
            "SK": f"SHARE#{share_id}",
            "type": "share_ref",
            "token_hash": token_hash(token),
            **common,
        }
        self._table.put_item(Item=mine)
        self._table.put_item(Item=link)
        return {
            "id": share_id,
            "token": token,
            "expires_at": now_iso(expires_at),
            **target,
            "allow_download": allow_download,
            "has_password": password is not None,
        }

    def list_shares(self, owner: str) -> dict[str, Any]:
        response = self._table.query(
            KeyConditionExpression=Key("PK").eq(owner_pk(owner)) & Key("SK").begins_with("SHARE#"),
            ScanIndexForward=False,
        )
        now = time.time()
        items = [
            {
                "id": item["share_id"],
                "album_id": item.get("album_id"),
                "image_id": item.get("image_id"),
                "created_at": item["created_at"],
                "expires_at": now_iso(int(item["expires_at"])),
                "expired": int(item["expires_at"]) < now,
                "has_password": bool(item.get("has_password")),
                "allow_download": bool(item.get("allow_download")),
            }
            for item in response.get("Items", [])
        ]
        return {"items": items}

    def revoke(self, owner: str, token_or_id: str) -> None:
        """Revoke by the token itself, or by the share's id (listed by `GET /shares`)."""
        hashed = token_hash(token_or_id)
        if ids.is_valid(token_or_id):
            ref = self._table.get_item(Key={"PK": owner_pk(owner), "SK": f"SHARE#{token_or_id}"}).get("Item")
            if ref is None:
                raise NotFound(_GONE)
            hashed = ref["token_hash"]
        link = self._table.get_item(Key={"PK": f"SHARE#{hashed}", "SK": "SHARE"}, ConsistentRead=True).get(
            "Item"
        )
        if link is None and ids.is_valid(token_or_id):
            # The reference of a link whose creation was cut short (or a revoke retried): finish.
            self._table.delete_item(Key={"PK": owner_pk(owner), "SK": f"SHARE#{token_or_id}"})
            return
        if link is None or link["owner"] != owner:
            raise NotFound(_GONE)
        self._table.delete_item(Key={"PK": f"SHARE#{hashed}", "SK": "SHARE"})
        self._table.delete_item(Key={"PK": owner_pk(owner), "SK": f"SHARE#{link['share_id']}"})

    def content(self, token: str, *, password: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        """What the link opens, for anyone holding it: never GPS, filenames or other photos."""
        if not 16 <= len(token) <= 100:
            raise NotFound(_GONE)
        link = self._table.get_item(
            Key={"PK": f"SHARE#{token_hash(token)}", "SK": "SHARE"}, ConsistentRead=True
        ).get("Item")
        if link is None or int(link["expires_at"]) < time.time():
            raise NotFound(_GONE)
        if link.get("password") and (password is None or not password_matches(password, link["password"])):
            time.sleep(WRONG_PASSWORD_DELAY)
            raise Unauthorized("this link needs its password (header X-Share-Password)")
        owner, allow_download = link["owner"], bool(link.get("allow_download"))
        answer: dict[str, Any] = {
            "expires_at": now_iso(int(link["expires_at"])),
            "allow_download": allow_download,
        }
        if link.get("album_id"):
            try:
                album = self._albums.get_album(owner, link["album_id"])
            except NotFound:
                raise NotFound(_GONE) from None
            photos, next_cursor = self._albums.photos(owner, album["id"], limit=limit, cursor=cursor)
            answer["album"] = {"title": album.get("title", ""), "description": album.get("description", "")}
            answer["items"] = [self._view(p, allow_download) for p in photos if p.status == READY]
            answer["next_cursor"] = next_cursor
        else:
            photo = self._photos.catalog.get(owner, link["image_id"])
            if photo is None or photo.trashed_at or photo.status != READY:
                raise NotFound(_GONE)
            answer["items"] = [self._view(photo, allow_download)]
            answer["next_cursor"] = None
        return answer

    def _view(self, photo: Photo, allow_download: bool) -> dict[str, Any]:
        view = self._photos.public_view(photo)
        view.pop("owner", None)
        if allow_download:
            view["urls"]["download"] = self._photos.download_url(photo)
        return view
