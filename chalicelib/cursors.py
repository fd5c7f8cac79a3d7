"""Opaque pagination cursors: DynamoDB's LastEvaluatedKey, bound to one listing and signed.

A cursor carries the listing it belongs to (say, one owner's gallery), so a cursor from another
user's listing, or one edited by hand, answers 400 instead of leaking or skipping items.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from .errors import BadRequest

_INVALID = "invalid cursor"


def encode(last_key: dict[str, Any] | None, *, scope: str, secret: str) -> str | None:
    if not last_key:
        return None
    payload = json.dumps({"s": scope, "k": last_key}, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
    return _b64(payload) + "." + _b64(mac)


def decode(cursor: str | None, *, scope: str, secret: str) -> dict[str, Any] | None:
    """The ExclusiveStartKey inside `cursor`, or None for the first page. Tampered: BadRequest."""
    if cursor is None or cursor == "":
        return None
    try:
        payload_part, mac_part = cursor.split(".")
        payload, mac = _unb64(payload_part), _unb64(mac_part)
    except (ValueError, binascii.Error):
        raise BadRequest(_INVALID) from None
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        raise BadRequest(_INVALID)
    data = json.loads(payload)
    if data.get("s") != scope or not isinstance(data.get("k"), dict):
        raise BadRequest(_INVALID)
    return data["k"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or len(text) > 2000:
        raise ValueError("bad length")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
