"""The browser UI's static files, served by the app itself (only `chalicelib/` is packaged).

Assets are read once per container. Each answer carries an ETag; `index.html` is revalidated on
every load (so a deploy shows at once) while versioned assets are cached for a day.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

WEB_ROOT = Path(__file__).resolve().parent / "web"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    cache_control: str


# Bounded: every name anyone asks for is a key, and a miss is cached too.
@functools.lru_cache(maxsize=128)
def asset(name: str) -> Asset | None:
    """The asset at `name` under the web root, or None (never a file outside it)."""
    if not name or len(name) > 100 or "/" in name or "\\" in name or "\x00" in name or name.startswith("."):
        return None
    path = WEB_ROOT / name
    try:
        if not path.is_file():
            return None
    except (OSError, ValueError):  # a name the file system refuses (too long, say) is no asset
        return None
    body = path.read_bytes()
    content_type = _TYPES.get(path.suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    cache = "no-cache" if name == "index.html" else "public, max-age=86400"
    return Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', cache)
