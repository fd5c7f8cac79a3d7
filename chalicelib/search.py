"""Pure search terms: what words, tags and camera a photo can be found by.

Each term becomes a small DynamoDB item per owner (`TERM#{owner}#{term}` → photo), written when a
photo changes, so a search is one Query per term instead of a read of every photo.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")
MAX_TERMS = 200


def fold(text: str) -> str:
    """Lower case without accents: "Été à Zürich" → "ete a zurich"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> set[str]:
    """The searchable words of `text` (two characters or more)."""
    return {w for w in _WORD.findall(fold(text)) if len(w) >= 2}


def camera_name(camera: dict[str, Any]) -> str:
    """One name for a camera: "canon canon eos 5d" becomes "canon eos 5d"."""
    make, model = fold(str(camera.get("make", ""))).strip(), fold(str(camera.get("model", ""))).strip()
    if make and model.startswith(make):
        make = ""
    return " ".join(part for part in (make, model) if part)


def tag_name(tag: str) -> str:
    return " ".join(fold(tag).split())


def terms(*, title: str, description: str, tags: list[str], camera: dict[str, Any]) -> set[str]:
    """Every term a photo is found by: `w:` words, `t:` tags, `c:` camera."""
    found = {f"w:{w}" for w in words(title) | words(description)}
    for tag in tags:
        found |= {f"w:{w}" for w in words(tag)}
        if tag_name(tag):
            found.add(f"t:{tag_name(tag)}")
    # A camera is found by its full name, its model or its make ("nikon coolpix p6000",
    # "coolpix p6000", "nikon").
    for name in (
        camera_name(camera),
        camera_name({"model": camera.get("model", "")}),
        camera_name({"model": camera.get("make", "")}),
    ):
        if name:
            found.add(f"c:{name}")
    return set(sorted(found)[:MAX_TERMS])
