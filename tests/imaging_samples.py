"""Builders for image test inputs that tests/data has no file of: each is made from a real photo
(or, for the hostile cases, assembled byte by byte), in memory, in milliseconds."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

DATA = Path(__file__).parent / "data"


def photo(name: str) -> bytes:
    """A real file from tests/data."""
    return (DATA / name).read_bytes()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_from_rows(width: int, height: int, bit_depth: int, colour_type: int, row: bytes) -> bytes:
    """A complete PNG whose every row (filter byte included) is `row`, compressed as a stream so that
    even 12,000 x 12,000 px costs little time or memory."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims `width` x `height` RGB, with one row of pixel data: a bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(1 + 3 * min(width, 1000)))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def solid_png(width: int, height: int) -> bytes:
    """A complete 1-bit grey PNG, all black: 12,000 x 12,000 compresses to about 20 KB."""
    return png_from_rows(width, height, 1, 0, b"\x00" + bytes((width + 7) // 8))


def tall_png(width: int, height: int) -> bytes:
    """A complete 8-bit grey PNG, mid grey."""
    return png_from_rows(width, height, 8, 0, b"\x00" + b"\x80" * width)


def _crop(name: str, box: tuple[int, int, int, int] = (0, 0, 480, 320)) -> Image.Image:
    with Image.open(DATA / name) as im:
        return im.convert("RGB").crop(box)


def png16_rgb(name: str = "Landscape_1.jpg") -> tuple[bytes, Image.Image]:
    """A 16-bit RGB PNG of a crop of a real photo (Pillow cannot write one, so rows are packed here);
    returns it and the 8-bit source."""
    src = _crop(name)
    raw = src.tobytes()
    wide = bytearray(len(raw) * 2)
    wide[0::2] = raw  # v * 257: high byte and low byte both v
    wide[1::2] = raw
    stride = src.width * 6
    rows = b"".join(b"\x00" + bytes(wide[y * stride : (y + 1) * stride]) for y in range(src.height))
    ihdr = struct.pack(">IIBBBBB", src.width, src.height, 16, 2, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body, src


def png16_grey(name: str = "Landscape_1.jpg") -> tuple[bytes, Image.Image]:
    """A 16-bit grey PNG (Pillow mode I;16) of a real photo; returns it and the 8-bit grey source."""
    grey = _crop(name).convert("L")
    wide = Image.new("I;16", grey.size)
    wide.putdata([v * 257 for v in grey.getdata()])
    out = io.BytesIO()
    wide.save(out, "PNG")
    return out.getvalue(), grey


def palette_png(name: str = "Landscape_1.jpg", *, transparent_corner: bool = False) -> bytes:
    """A 256-colour palette PNG of a real photo, optionally with its top-left quarter transparent
    (that palette entry hidden under tRNS is pure black, which must never show)."""
    im = _crop(name).quantize(255)
    if transparent_corner:
        palette = im.getpalette() or []
        im.putpalette([*palette[: 255 * 3], 0, 0, 0])
        im.paste(255, (0, 0, im.width // 2, im.height // 2))
    out = io.BytesIO()
    im.save(out, "PNG", **({"transparency": 255} if transparent_corner else {}))
    return out.getvalue()


def lossless_webp(name: str = "blackbug.png") -> bytes:
    """A lossless WebP (with alpha, from the transparent PNG)."""
    with Image.open(DATA / name) as im:
        out = io.BytesIO()
        im.save(out, "WEBP", lossless=True)
        return out.getvalue()


def ycck_jpeg(name: str = "Channel_digital_image_CMYK_color.jpg") -> bytes:
    """An Adobe YCCK JPEG (APP14 transform 2) made from a real CMYK JPEG, keeping its ICC profile.

    libjpeg decodes YCCK as: C, M, Y = YCbCr->RGB of the first three components, and Pillow then
    undoes Adobe's inversion. So the stored components are YCbCr of (C, M, Y) plus inverted K; Pillow
    writes CMYK inverted, hence the 255 - v below. Then the APP14 transform byte is set to 2.
    """
    with Image.open(DATA / name) as im:
        icc = im.info.get("icc_profile")
        c, m, y, k = im.split()
    ycc = Image.merge("RGB", (c, m, y)).convert("YCbCr")
    stored = [ch.point(lambda v: 255 - v) for ch in ycc.split()]
    cmyk = Image.merge("CMYK", (*stored, k))
    out = io.BytesIO()
    cmyk.save(out, "JPEG", quality=95, icc_profile=icc)
    data = bytearray(out.getvalue())
    at = data.find(b"Adobe")
    assert data[at - 4 : at - 2] == b"\xff\xee", "libjpeg writes an Adobe APP14 marker for CMYK"
    data[at + 11] = 2  # "Adobe", version (2 bytes), flags0 (2), flags1 (2), then the transform
    return bytes(data)


def large_jpeg(width: int, height: int) -> bytes:
    """A camera-sized baseline JPEG (q90, 4:2:0): Issue_266.jpg's middle, scaled to `width` x `height`."""
    with Image.open(DATA / "Issue_266.jpg") as im:
        im.draft(None, (im.width // 4, im.height // 4))
        crop = im.crop((im.width // 8, im.height // 8, im.width * 7 // 8, im.height * 7 // 8))
        out = io.BytesIO()
        crop.resize((width, height), Image.Resampling.BICUBIC).save(out, "JPEG", quality=90)
    return out.getvalue()
