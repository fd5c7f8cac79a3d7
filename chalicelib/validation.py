"""Pure validation of what callers send: titles, descriptions, filenames, JSON bodies.

Everything here raises `BadRequest` with a message a person can act on, and never touches AWS.
"""

from __future__ import annotations

import json
import posixpath
import unicodedata
from typing import Any

from .errors import BadRequest

MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_FILENAME = 255
# Bidirectional overrides and isolates: legitimate in prose, but in a filename they disguise the
# extension ("photo\u202egpj.exe"), so filenames drop them.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}


def _has_control(text: str, allowed: str = "") -> bool:
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text)


def text_field(value: Any, *, name: str, max_length: int, multiline: bool = False) -> str:
    """A title or description: a string, not too long, no control characters (but newlines and tabs
    in multi-line fields)."""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    if len(value) > max_length:
        raise BadRequest(f"{name} must be at most {max_length} characters")
    if _has_control(value, "\n\r\t" if multiline else ""):
        raise BadRequest(f"{name} must not contain control characters")
    return value if multiline else value.strip()


def title(value: Any) -> str:
    return text_field(value, name="title", max_length=MAX_TITLE)


def description(value: Any) -> str:
    return text_field(value, name="description", max_length=MAX_DESCRIPTION, multiline=True)


def filename(value: Any) -> str:
    """A display filename: the last path component, without bidi tricks; "" when none was given."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest("filename must be a string")
    if len(value) > MAX_FILENAME:
        raise BadRequest(f"filename must be at most {MAX_FILENAME} characters")
    if _has_control(value):
        raise BadRequest("filename must not contain control characters")
    cleaned = "".join(ch for ch in value if ch not in _BIDI_CONTROLS)
    base = posixpath.basename(cleaned.replace("\\", "/")).strip()
    return "" if base in {".", ".."} else base


def json_object(
    raw_body: bytes | None, *, allowed: set[str], required: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Parse a JSON object body and check its keys: unknown or missing ones are a 400."""
    if not raw_body:
        raise BadRequest("request body must be a JSON object")
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}")
    missing = sorted(required - set(body))
    if missing:
        raise BadRequest(f"missing field(s): {', '.join(missing)}")
    return body


MAX_TAGS = 50
MAX_TAG = 50


def tags(value: Any) -> list[str]:
    """A list of short labels, trimmed and without repeats."""
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise BadRequest(f"tags must be a list of at most {MAX_TAGS} strings")
    cleaned: list[str] = []
    for tag in value:
        text = text_field(tag, name="tag", max_length=MAX_TAG)
        if text and text not in cleaned:
            cleaned.append(text)
    return cleaned


def iso_date(value: str | None, *, name: str) -> str | None:
    """A `YYYY-MM-DD` (or longer ISO 8601) date from a query string."""
    import datetime

    if value is None or value == "":
        return None
    try:
        datetime.date.fromisoformat(value[:10])
    except ValueError:
        raise BadRequest(f"{name} must be a date like 2024-07-31") from None
    if len(value) > 10:
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"{name} must be a date like 2024-07-31") from None
    return value


def integer(value: Any, *, name: str, minimum: int, maximum: int) -> int:
    # bool is an int in Python, but `true` is not a size.
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer")
    if not minimum <= value <= maximum:
        raise BadRequest(f"{name} must be between {minimum} and {maximum}")
    return value


def boolean(value: Any, *, name: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false")
    return value


def limit(raw: str | None, *, default: int = 30, maximum: int = 100) -> int:
    """The `limit` query parameter of a listing."""
    if raw is None:
        return default
    # An empty `?limit=` is no integer either; and str.isdigit() and int() also take other scripts'
    # digits ("٣", "３"), hence isascii.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise BadRequest(f"limit must be an integer from 1 to {maximum}")
    return int(raw)
