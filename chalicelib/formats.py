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
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2", b"miaf"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff(head: bytes) -> str | None:
    """The content type `head` (the first 32 bytes or more) starts, or None if none we accept.
    HEIC, HEIF and AVIF are told apart by their `ftyp` brands, the major brand first."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        box_end = min(int.from_bytes(head[:4], "big"), len(head))
        major = head[8:12]
        compatible = [head[i : i + 4] for i in range(16, box_end - 3, 4)]
        for brands in ([major], compatible):
            if _AVIF_BRANDS.intersection(brands):
                return "image/avif"
            if _HEIC_BRANDS.intersection(brands):
                return "image/heic"
        if _HEIF_BRANDS.intersection([major, *compatible]):
            return "image/heif"
    return None
