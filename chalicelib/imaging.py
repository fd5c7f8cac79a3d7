"""Pure image code: sniff the format, decode and validate, make renditions, read EXIF, make a placeholder.

No boto3 and no chalice here: callers hand in bytes and get back a `ProcessedImage` (or an
`ImageRejected` with a short, user-facing reason). Pillow is imported at the top of this module;
`app.py` imports this module lazily, inside its event handler, to keep cold starts of the API cheap.

Speed matters (every upload is decoded once, on Lambda), so `process` decodes once, as small as it
can (JPEG DCT-domain scaling by 1/8, 1/4, 3/8 or 1/2, see `_jpeg_draft`), makes the largest
rendition first and every smaller one from the previous, and does colour management and rotation on
the shrunk pixels only (alpha is composited on white before the first resample, which is cheaper).
"""

from __future__ import annotations

import functools
import io
import math
import re
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PIL import ExifTags, Image, ImageCms, ImageFile

from .formats import ALLOWED_TYPES, sniff  # noqa: F401 - part of this module's interface

RENDITION_SIZES: tuple[int, ...] = (1024, 256)

# Renditions are JPEG. Measured here on six test photos at 1024 px (Pillow 11.3, libjpeg-turbo,
# libwebp 1.5): JPEG q82 and WebP q75 give the same mean PSNR (~34 dB); WebP is 22% smaller at
# method 0 (32% at method 4) but takes 15 ms (51 ms) to encode against 1.5 ms for JPEG, which would
# be a third of the whole per-photo budget. A 1024 px JPEG is ~150 KB, so we keep the CPU and pick
# the format every browser and every image tool has always shown. JPEG has no alpha: transparent
# pixels are composited on white.
RENDITION_TYPE = "image/jpeg"
RENDITION_EXT = "jpg"
JPEG_QUALITY = 82
# Resampling. The first rendition comes from the decoded pixels: reduce() by the largest integer
# factor that keeps it at least the rendition's size (a box average, ~1.5 ms for 1800x1200 -> 900x600),
# then resample the remaining factor (< 2) with HAMMING (a 1-lobe windowed filter, support 1 like
# BILINEAR). Measured here on 1800x1200 -> 1024x683 RGB (Pillow 11.3): BOX 9.7 ms, HAMMING 12.5,
# BILINEAR 16.0, BICUBIC 17.3, LANCZOS 25.5, against 5.9 ms for the full JPEG decode: the resample
# was the biggest single cost of a JPEG. BOX aliases: the 8 EXIF-orientation copies of one photo
# then give 1024 px renditions differing by 3.4 (mean abs, 0..255; the test allows 3); HAMMING 2.9,
# BILINEAR 2.4, BICUBIC 2.7.
# Every later rendition comes from the previous one (small, sRGB, upright): reduce() while the
# factor stays over 2, then BICUBIC. That step bounds the 256 px quality: against a LANCZOS resize
# of the full decode the corpus's worst 256 px PSNR is 27.8 dB with BICUBIC there, 27.2 with
# HAMMING and 23.8 with BOX, and the same 27.8 whichever filter the first step uses.
RESAMPLE = Image.Resampling.HAMMING
REDUCING_GAP = 1.0
NEXT_RESAMPLE = Image.Resampling.BICUBIC
NEXT_REDUCING_GAP = 2.0
# BlurHash is pure Python and O(pixels x components): 16 px is plenty for 4x3 components.
PLACEHOLDER_SIDE = 16

# Brands seen in the `ftyp` box of ISO-BMFF images (ISO/IEC 23008-12, AV1 image format spec).
# Pillow format names tried for each sniffed type; nothing else is ever parsed.
_PIL_FORMATS: dict[str, list[str]] = {
    "image/jpeg": ["JPEG"],
    "image/png": ["PNG"],
    "image/webp": ["WEBP"],
    "image/gif": ["GIF"],
    "image/heic": ["HEIF"],
    "image/heif": ["HEIF", "AVIF"],
    "image/avif": ["AVIF"],
}
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


class ImageRejected(ValueError):
    """The bytes are not a decodable image of an allowed format; `reason` is safe to show a user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Rendition:
    """One resized, re-encoded copy of a photo."""

    size: int
    width: int
    height: int
    data: bytes
    content_type: str
    ext: str


@dataclass(frozen=True)
class ProcessedImage:
    """Everything the gallery keeps from a decoded upload."""

    content_type: str
    width: int
    height: int
    renditions: tuple[Rendition, ...]
    taken_at: str | None
    camera: dict[str, str | float | int]
    gps: dict[str, float] | None
    placeholder: str
    dominant_color: str


def open_size(data: bytes) -> tuple[int, int]:
    """(width, height) as stored, from the header only; raises ImageRejected like `process`."""
    content_type = sniff(data[:32])
    if content_type is None:
        raise ImageRejected("unsupported format")
    with _open(data, content_type, None) as im:
        return im.size


def process(
    data: bytes, *, max_pixels: int = 100_000_000, sizes: tuple[int, ...] = RENDITION_SIZES
) -> ProcessedImage:
    """Decode fully, validate, make renditions. Raises ImageRejected for anything that is not a
    decodable image of an allowed format."""
    if not data:
        raise ImageRejected("empty file")
    content_type = sniff(data[:32])
    if content_type is None:
        raise ImageRejected("unsupported format")
    sizes = tuple(sorted({s for s in sizes if s > 0}, reverse=True))
    if not sizes:
        raise ValueError("sizes must hold at least one positive size")

    im = _open(data, content_type, max_pixels)
    width, height = im.size
    if width * height > max_pixels:
        raise ImageRejected(_too_many_pixels(width * height, max_pixels))
    try:
        if content_type == "image/jpeg":
            _jpeg_draft(im, sizes[0])
        im.load()
    except ImageRejected:
        raise
    except Exception as exc:  # Pillow's decoders raise many types on hostile bytes
        raise ImageRejected(_decode_reason(exc)) from exc

    exif = _exif(im)
    # HEIF decoders apply irot/imir themselves (pillow-heif then resets the EXIF tag): never twice.
    orientation = 1 if im.format == "HEIF" else _orientation(exif)
    if orientation in (5, 6, 7, 8):
        width, height = height, width

    # Composite on white before resampling: the filter is linear, so this is the same picture as
    # compositing after, without Pillow's premultiply/unpremultiply passes over the full-size
    # pixels (a 2048x1536 RGBA to 1024 px: 13 ms instead of 34).
    base = _flatten(_normalise_mode(im))
    icc = im.info.get("icc_profile")
    renditions: list[Rendition] = []
    previous: Image.Image | None = None
    for size in sizes:
        box = _fit(width, height, size)
        if previous is None:
            # Sizes are upright; the decoded pixels are not rotated yet.
            raw_box = (box[1], box[0]) if orientation in (5, 6, 7, 8) else box
            shrunk = _resize(base, raw_box, RESAMPLE, REDUCING_GAP)
            current = _to_srgb(shrunk, icc)
            current = _upright(current, orientation)
        else:
            current = _resize(previous, box, NEXT_RESAMPLE, NEXT_REDUCING_GAP)
        renditions.append(_encode(current, size))
        previous = current
    assert previous is not None

    tiny = previous.copy()
    tiny.thumbnail((PLACEHOLDER_SIDE, PLACEHOLDER_SIDE), Image.Resampling.BOX)
    tiny = tiny.convert("RGB")
    return ProcessedImage(
        content_type=content_type,
        width=width,
        height=height,
        renditions=tuple(renditions),
        taken_at=_taken_at(exif),
        camera=_camera(exif),
        gps=_gps(exif),
        placeholder=_blurhash(tiny),
        dominant_color=_dominant_color(tiny),
    )


# --- decoding -----------------------------------------------------------------------------------


def _open(data: bytes, content_type: str, max_pixels: int | None) -> ImageFile.ImageFile:
    """Open (header only) with the one plugin the sniffed type allows."""
    if content_type in ("image/heic", "image/heif"):
        _register_heif()
    try:
        with warnings.catch_warnings():
            # We enforce our own limit (max_pixels) as an error; Pillow's 89.5 MP warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS[content_type])
    except Image.DecompressionBombError as exc:
        # Pillow refuses outright at twice its own limit, before we can look at the size.
        found = _BOMB_PIXELS.search(str(exc))
        raise ImageRejected(
            _too_many_pixels(int(found.group(1)), max_pixels) if found else "image has too many pixels"
        ) from exc
    except Exception as exc:  # header parsers raise SyntaxError, struct.error, ... on junk
        raise ImageRejected(_decode_reason(exc)) from exc
    if im.width < 1 or im.height < 1:
        raise ImageRejected("not a decodable image")
    return im


@functools.cache
def _register_heif() -> None:
    """Register pillow-heif's opener on first use only: it costs ~40 ms of import."""
    from pillow_heif import register_heif_opener

    register_heif_opener(thumbnails=False)


def _jpeg_draft(im: ImageFile.ImageFile, size: int) -> None:
    """Decode a JPEG as small as it can be while its longest side stays at least `size`, by scaling
    in the DCT domain (libjpeg-turbo skips most of the inverse DCT and colour work).

    Image.draft() offers 1/2, 1/4 and 1/8 and picks the largest power-of-two s with w // s >= want_w
    and h // s >= want_h, so asking for the rendition's exact box gives the smallest of those that
    covers it (3888x2592 -> 1/2, 1944x1296; 1/4 would be 972x648). libjpeg-turbo also scales by
    3/8, which Pillow passes through (its decoder asks for scale 1/n and libjpeg-turbo rounds that
    up to the next n/8 it has: 1/3 -> 3/8), but draft() never asks for: for a 2731..4096 px photo
    (most phones and cameras) it decodes 1458x972 instead of 1944x1296 (44% fewer pixels to
    decode and to resample; 69 against 90 ms decode + resample here for 3888x2592). The output size
    is then libjpeg's own ceil(w * 3 / 8), and the tile is set to exactly that; only done when the
    JPEG library is libjpeg-turbo (IJG libjpeg 6b would round 1/3 to 1/2 and overrun the tile).

    Then the decoder's `draft` flag (which Pillow's draft() sets only for a mode change):
    JDCT_FASTEST and merged rather than "fancy" chroma upsampling, 20-30% less decode time on camera
    JPEGs (58 -> 45 ms for 3888x2592 at 1/2); the 256 px PSNR of the bench corpus is unchanged."""
    width, height = im.size
    want_w, want_h = _fit(width, height, size)
    denominator, eighths = 1, 8
    if max(width, height) > size and len(im.tile) == 1:
        for n, m in ((8, 1), (4, 2), (3, 3), (2, 4)):
            if n == 3 and not _libjpeg_turbo():
                continue
            if -(-width * m // 8) >= want_w and -(-height * m // 8) >= want_h:
                denominator, eighths = n, m
                break
    if denominator > 1:
        decoder, extents, offset, args = im.tile[0]
        out = (-(-width * eighths // 8), -(-height * eighths // 8))
        if extents is None or extents[:2] != (0, 0) or extents[2:] != (width, height):
            im.draft(None, (want_w, want_h))  # an odd tile: let Pillow do it (power-of-two only)
        else:
            im.tile = [ImageFile._Tile(decoder, (0, 0, *out), offset, args)]
            im._size = out
            im.decoderconfig = (denominator, 0)
    scale = im.decoderconfig[0] if im.decoderconfig else 1
    im.decoderconfig = (scale, 1)


@functools.cache
def _libjpeg_turbo() -> bool:
    from PIL import features

    return bool(features.check_feature("libjpeg_turbo"))


def _decode_reason(exc: Exception) -> str:
    if "truncated" in str(exc) or isinstance(exc, EOFError):
        return "image is truncated"
    return "not a decodable image"


def _too_many_pixels(pixels: int, limit: int | None) -> str:
    if limit is None:
        return f"image has {pixels} pixels, more than the limit"
    return f"image has {pixels} pixels, more than the limit of {limit}"


def _normalise_mode(im: Image.Image) -> Image.Image:
    """A mode that resizes correctly: 8-bit L, LA, RGB, RGBA or CMYK (palettes cannot be resampled)."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return im
    if mode in ("P", "PA"):
        return im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
    if mode.startswith("I"):
        # 16-bit grey: Pillow's I -> L conversion clips at 255 instead of scaling.
        return im.convert("I").point(lambda v: v / 257).convert("L")
    if mode == "1":
        return im.convert("L")
    if mode.endswith("A") or mode == "RGBa":
        return im.convert("RGBA")
    return im.convert("RGB")


def _fit(width: int, height: int, size: int) -> tuple[int, int]:
    """The box of longest side `size` with the image's aspect; never larger than the image."""
    longest = max(width, height)
    if longest <= size:
        return width, height
    return max(1, round(width * size / longest)), max(1, round(height * size / longest))


def _resize(im: Image.Image, box: tuple[int, int], resample: Image.Resampling, gap: float) -> Image.Image:
    if im.size == box:
        return im
    # reduce() by an integer factor first (reducing_gap), then resample.
    return im.resize(box, resample, reducing_gap=gap)


def _flatten(im: Image.Image) -> Image.Image:
    """Composite alpha on white (the renditions are JPEG)."""
    if im.mode not in ("RGBA", "LA"):
        return im
    base = Image.new(im.mode[:-1], im.size, "white")
    base.paste(im, mask=im.getchannel("A"))
    return base


@functools.lru_cache(maxsize=16)
def _srgb_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """A transform from the embedded profile to sRGB, or None when the profile is sRGB already."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if mode != "CMYK" and "srgb" in ImageCms.getProfileDescription(profile).lower():
            return None
        return ImageCms.buildTransform(
            profile, _SRGB, mode, "RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken profile: fall back to treating the pixels as sRGB


_SRGB = ImageCms.createProfile("sRGB")


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels in sRGB, as L or RGB: the embedded profile applied (essential for CMYK)."""
    transform = _srgb_transform(icc, im.mode) if icc else None
    if transform is not None:
        return transform.apply(im)
    return im if im.mode in ("L", "RGB") else im.convert("RGB")


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(im: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return im.transpose(method) if method is not None else im


def _encode(im: Image.Image, size: int) -> Rendition:
    out = io.BytesIO()
    # No exif= and no icc_profile=: the output carries no EXIF, GPS or profile (untagged means sRGB).
    im.save(out, "JPEG", quality=JPEG_QUALITY)
    return Rendition(
        size=size,
        width=im.width,
        height=im.height,
        data=out.getvalue(),
        content_type=RENDITION_TYPE,
        ext=RENDITION_EXT,
    )


# --- placeholder --------------------------------------------------------------------------------


def _blurhash(tiny: Image.Image) -> str:
    """BlurHash of the image, with more components along its longer side.

    The BlurHash algorithm (as in the `blurhash` package, which decodes it in the tests), with the
    sRGB->linear conversion from a 256-entry table and the cosine basis precomputed and applied
    separably (rows first): ~0.3 ms for 16x12 px, where `blurhash.encode` calls math.cos for every
    pixel of every component (~10 ms)."""
    w, h = tiny.size
    cx, cy = (4, 3) if w >= h else (3, 4)
    cx, cy = min(cx, w), min(cy, h)
    data = tiny.tobytes()  # RGB, row-major
    lin = _SRGB_TO_LINEAR
    basis_x = [[math.cos(math.pi * i * x / w) for x in range(w)] for i in range(cx)]
    basis_y = [[math.cos(math.pi * j * y / h) for y in range(h)] for j in range(cy)]
    # rows[i][y] = (r, g, b): the row y projected on the i-th horizontal basis function.
    rows: list[list[tuple[float, float, float]]] = [[] for _ in range(cx)]
    for y in range(h):
        line = data[y * w * 3 : (y + 1) * w * 3]
        reds = [lin[v] for v in line[0::3]]
        greens = [lin[v] for v in line[1::3]]
        blues = [lin[v] for v in line[2::3]]
        for i in range(cx):
            bx = basis_x[i]
            rows[i].append(
                (
                    sum(b * v for b, v in zip(bx, reds, strict=True)),
                    sum(b * v for b, v in zip(bx, greens, strict=True)),
                    sum(b * v for b, v in zip(bx, blues, strict=True)),
                )
            )
    components: list[tuple[float, float, float]] = []
    for j in range(cy):
        by = basis_y[j]
        for i in range(cx):
            scale = (1.0 if i == 0 and j == 0 else 2.0) / (w * h)
            col = rows[i]
            components.append(
                (
                    scale * sum(b * c[0] for b, c in zip(by, col, strict=True)),
                    scale * sum(b * c[1] for b, c in zip(by, col, strict=True)),
                    scale * sum(b * c[2] for b, c in zip(by, col, strict=True)),
                )
            )
    dc, ac = components[0], components[1:]
    max_ac = max((abs(v) for comp in ac for v in comp), default=0.0)
    quant_max = int(max(0, min(82, math.floor(max_ac * 166 - 0.5))))
    norm = (quant_max + 1) / 166.0

    def quant(v: float) -> int:
        return int(max(0.0, min(18.0, math.floor(math.copysign(abs(v / norm) ** 0.5, v) * 9.0 + 9.5))))

    out = _base83((cx - 1) + (cy - 1) * 9, 1) + _base83(quant_max, 1)
    out += _base83((_linear_to_srgb(dc[0]) << 16) + (_linear_to_srgb(dc[1]) << 8) + _linear_to_srgb(dc[2]), 4)
    for r, g, b in ac:
        out += _base83(quant(r) * 361 + quant(g) * 19 + quant(b), 2)
    return out


_SRGB_TO_LINEAR = [
    v / 255 / 12.92 if v / 255 <= 0.04045 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in range(256)
]
_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _linear_to_srgb(value: float) -> int:
    value = max(0.0, min(1.0, value))
    if value <= 0.0031308:
        return int(value * 12.92 * 255 + 0.5)
    return int((1.055 * value ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[value // 83 ** (length - i) % 83] for i in range(1, length + 1))


def _dominant_color(tiny: Image.Image) -> str:
    """The most common of five median-cut colours of the thumbnail."""
    quantized = tiny.quantize(colors=5, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or [0, 0, 0]
    _, index = max(quantized.getcolors() or [(1, 0)])
    assert isinstance(index, int)  # a palette image's colours are palette indexes
    r, g, b = palette[index * 3 : index * 3 + 3]
    return f"#{r:02x}{g:02x}{b:02x}"


# --- EXIF (Pillow's parser; malformed metadata never rejects a decodable image) -------------------


def _exif(im: Image.Image) -> Image.Exif:
    try:
        return im.getexif()
    except Exception:  # noqa: BLE001 - corrupt EXIF is common and never fatal
        return Image.Exif()


def _ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:  # noqa: BLE001
        return {}


def _orientation(exif: Image.Exif) -> int:
    value = exif.get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value or None


def _number(value: Any) -> float | None:
    if isinstance(value, tuple | list):
        value = value[0] if value else None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _taken_at(exif: Image.Exif) -> str | None:
    sub = _ifd(exif, ExifTags.IFD.Exif)
    candidates = (
        (sub.get(ExifTags.Base.DateTimeOriginal), sub.get(ExifTags.Base.OffsetTimeOriginal)),
        (sub.get(ExifTags.Base.DateTimeDigitized), sub.get(ExifTags.Base.OffsetTimeDigitized)),
        (exif.get(ExifTags.Base.DateTime), sub.get(ExifTags.Base.OffsetTime)),
    )
    for stamp, offset in candidates:
        text = _text(stamp)
        if not text:
            continue
        try:
            moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            continue  # "0000:00:00 00:00:00" and other placeholders
        iso = moment.isoformat()
        offset_text = _text(offset)
        if offset_text and re.fullmatch(r"[+-]\d\d:\d\d", offset_text):
            iso += offset_text
        elif offset_text == "Z":
            iso += "+00:00"
        return iso
    return None


def _camera(exif: Image.Exif) -> dict[str, str | float | int]:
    sub = _ifd(exif, ExifTags.IFD.Exif)
    camera: dict[str, str | float | int] = {}
    for key, value in (
        ("make", exif.get(ExifTags.Base.Make)),
        ("model", exif.get(ExifTags.Base.Model)),
        ("lens", sub.get(ExifTags.Base.LensModel)),
    ):
        text = _text(value)
        if text:
            camera[key] = text[:100]
    exposure = _number(sub.get(ExifTags.Base.ExposureTime))
    if exposure and exposure > 0:
        camera["exposure"] = f"1/{round(1 / exposure)}" if exposure < 1 else f"{exposure:g}"
    aperture = _number(sub.get(ExifTags.Base.FNumber))
    if aperture and aperture > 0:
        camera["aperture"] = round(aperture, 1)
    iso = _number(sub.get(ExifTags.Base.ISOSpeedRatings))
    if iso and iso > 0:
        camera["iso"] = int(iso)
    focal = _number(sub.get(ExifTags.Base.FocalLength))
    if focal and focal > 0:
        camera["focal_length"] = round(focal, 1)
    return camera


def _gps(exif: Image.Exif) -> dict[str, float] | None:
    gps = _ifd(exif, ExifTags.IFD.GPSInfo)
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S")
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180 or (lat == 0 and lon == 0):
        return None
    result = {"lat": round(lat, 7), "lon": round(lon, 7)}
    alt = _number(gps.get(ExifTags.GPS.GPSAltitude))
    if alt is not None:
        below = gps.get(ExifTags.GPS.GPSAltitudeRef) in (1, b"\x01")
        result["alt"] = round(-alt if below else alt, 2)
    return result


def _degrees(dms: Any, ref: Any, negative: str) -> float | None:
    if not isinstance(dms, tuple | list) or len(dms) != 3:
        return None
    parts = [_number(part) for part in dms]
    if any(part is None for part in parts):
        return None
    d, m, s = (part or 0.0 for part in parts)
    value = d + m / 60 + s / 3600
    return -value if _text(ref) == negative else value
