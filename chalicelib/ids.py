"""Photo ids that sort by creation time.

26 characters of Crockford base32: 48 bits of milliseconds since the epoch, then 80 random bits (the
ULID layout). Sorting ids sorts photos by upload time, so "newest first" is a key order, not a sort.
"""

from __future__ import annotations

import re
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def new_id(now_ms: int | None = None) -> str:
    """A new id for something created now (or at `now_ms`)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_valid(candidate: str) -> bool:
    """True if `candidate` has the shape of an id (cheap check before touching DynamoDB)."""
    return bool(ID_RE.match(candidate))
