"""Which image formats the gallery accepts, recognised by their first bytes. Pure and Pillow-free,
so the API can refuse a body that is no image without loading an image library."""

from __future__ import annotations

# Content type -> extension of every format we accept.
ALLOWED_TYPES: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/avif": "avif",
}
ALLOWED_NAMES = "JPEG, PNG, WebP, GIF, HEIC, HEIF or AVIF"
OCTET_STREAM = "application/octet-stream"

# ISO base media file brands (the `ftyp` box) of HEIF images.
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff(head: bytes) -> str | None:
    """The content type `head` (the first 32 bytes or more) starts, or None if none we accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[4:8] == b"ftyp":
        return _iso_brand(head)
    return None


def _iso_brand(head: bytes) -> str | None:
    box_size = int.from_bytes(head[:4], "big")
    major = head[8:12]
    # The compatible brands follow the major brand and minor version, up to the box's end.
    compatible = {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    brands = {major} | compatible
    if major in _AVIF_BRANDS or (major not in _HEIC_BRANDS and brands & _AVIF_BRANDS):
        return "image/avif"
    if brands & _HEIC_BRANDS:
        return "image/heic"
    if brands & _HEIF_BRANDS:
        return "image/heif"
    return None
