"""Unit tests of the pure image module, on real photos from tests/data and on inputs built from them
(tests/imaging_samples.py) for the classes tests/data has no file of."""

from __future__ import annotations

import functools
import io
import re

import blurhash
import imaging_samples as samples
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageCms, ImageStat

from chalicelib import imaging
from chalicelib.imaging import ImageRejected, process, sniff


@functools.cache
def processed(name: str) -> imaging.ProcessedImage:
    """Each photo is processed once per test session."""
    return process(samples.photo(name))


def decoded(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB").resize(a.size, Image.Resampling.LANCZOS))
    return sum(ImageStat.Stat(diff).mean) / 3


@pytest.fixture(scope="session")
def png_12k() -> bytes:
    """A complete, valid 12,000 x 12,000 PNG (144 MP, over the 100 MP default): ~20 KB."""
    return samples.solid_png(12_000, 12_000)


# --- sniffing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("Landscape_1.jpg", "image/jpeg"),
        ("blackbug.png", "image/png"),
        ("4.webp", "image/webp"),
        ("animated-loop-3.gif", "image/gif"),
        ("iphone_13_pro_max.HEIC", "image/heic"),
        ("Issue_649.avif", "image/avif"),
    ],
)
def test_sniff_knows_every_allowed_format_from_32_bytes(name: str, content_type: str) -> None:
    assert sniff(samples.photo(name)[:32]) == content_type
    assert content_type in imaging.ALLOWED_TYPES


def test_sniff_tells_heif_from_heic_and_avif_by_brand() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
        return (len(body) + 4).to_bytes(4, "big") + body

    assert sniff(ftyp(b"mif1", b"mif1", b"heic")) == "image/heic"
    assert sniff(ftyp(b"mif1", b"mif1", b"avif")) == "image/avif"
    assert sniff(ftyp(b"mif1", b"mif1")) == "image/heif"
    assert sniff(ftyp(b"isom", b"mp41")) is None  # an MP4 video


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"<!DOCTYPE html><html>",
        b'<?xml version="1.0"?><svg xmlns=',
        b"<svg onload=alert(1)>",
        b"BM6\x00",
    ],
)
def test_sniff_refuses_other_bytes(head: bytes) -> None:
    assert sniff(head) is None


def test_allowed_types_and_sizes_are_as_agreed() -> None:
    assert set(imaging.ALLOWED_TYPES) == {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/heic",
        "image/heif",
        "image/avif",
    }
    assert imaging.RENDITION_SIZES == (1024, 256)


# --- every input class decodes, with the right size --------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "size", "first"),
    [
        ("Issue_266.jpg", "image/jpeg", (5760, 3840), (1024, 683)),  # baseline, 22 MP
        ("Issue_242.jpg", "image/jpeg", (960, 1280), (768, 1024)),  # progressive
        ("Channel_digital_image_CMYK_color.jpg", "image/jpeg", (500, 333), (500, 333)),  # CMYK + ICC
        ("embedgravitybird.png", "image/png", (576, 384), (576, 384)),
        ("blackbug.png", "image/png", (2048, 1536), (1024, 768)),  # real alpha
        ("4.webp", "image/webp", (1024, 772), (1024, 772)),  # lossy
        ("Alpha_Lossy_1_.webp", "image/webp", (400, 301), (400, 301)),  # lossy + alpha
        ("animated-loop-3.gif", "image/gif", (370, 285), (370, 285)),
        ("iphone_13_pro_max.HEIC", "image/heic", (3024, 4032), (768, 1024)),
        ("Issue_649.avif", "image/avif", (5472, 3648), (1024, 683)),
        ("Canon_40D.jpg", "image/jpeg", (100, 68), (100, 68)),  # smaller than both sizes
    ],
)
def test_can_process_every_input_class(
    name: str, content_type: str, size: tuple[int, int], first: tuple[int, int]
) -> None:
    result = processed(name)
    assert result.content_type == content_type
    assert (result.width, result.height) == size
    assert [r.size for r in result.renditions] == [1024, 256]
    assert (result.renditions[0].width, result.renditions[0].height) == first
    for rendition in result.renditions:
        assert max(rendition.width, rendition.height) <= rendition.size
        assert rendition.width <= result.width and rendition.height <= result.height  # never upscaled
        assert (rendition.content_type, rendition.ext) == ("image/jpeg", "jpg")
        im = decoded(rendition.data)
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (rendition.width, rendition.height))


def test_renditions_keep_the_aspect_ratio() -> None:
    result = processed("Issue_266.jpg")
    assert [(r.width, r.height) for r in result.renditions] == [(1024, 683), (256, 171)]


def test_renditions_look_like_the_full_decode() -> None:
    """DCT-domain draft decoding plus bicubic keeps the picture (not just its size)."""
    result = processed("Issue_266.jpg")
    full = decoded(samples.photo("Issue_266.jpg"))
    assert mean_abs_diff(decoded(result.renditions[1].data), full) < 5


@pytest.mark.parametrize(
    ("size", "decoded_size"),
    [
        ((3264, 2448), (1224, 918)),  # 3/8: the smallest libjpeg-turbo scale that covers 1024 px
        ((4032, 3024), (1512, 1134)),  # 3/8 again (1/4 would be 1008 px)
        ((2725, 2225), (1363, 1113)),  # 1/2 (3/8 would be 1022 px, short of 1024)
        ((4608, 3456), (1152, 864)),  # 1/4
        ((1800, 1200), (1800, 1200)),  # no DCT scale covers 1024 px but the full one
    ],
)
def test_jpeg_decodes_at_the_smallest_dct_scale_that_covers_the_rendition(
    size: tuple[int, int], decoded_size: tuple[int, int]
) -> None:
    data = samples.large_jpeg(*size)
    im = Image.open(io.BytesIO(data))
    imaging._jpeg_draft(im, 1024)
    im.load()
    assert im.size == decoded_size
    result = process(data)
    assert (result.width, result.height) == size
    first = result.renditions[0]
    assert max(first.width, first.height) == 1024
    assert mean_abs_diff(decoded(first.data), decoded(data)) < 3


@pytest.mark.parametrize("build", [samples.png16_rgb, samples.png16_grey])
def test_can_process_16_bit_png_without_clipping(build) -> None:  # type: ignore[no-untyped-def]
    data, source = build()
    result = process(data)
    assert (result.width, result.height) == source.size
    assert mean_abs_diff(decoded(result.renditions[0].data), source) < 3


def test_can_process_palette_png() -> None:
    result = process(samples.palette_png())
    source = decoded(samples.palette_png())
    assert source.mode == "P"
    assert mean_abs_diff(decoded(result.renditions[0].data), source) < 3


def test_can_process_lossless_webp_with_alpha() -> None:
    data = samples.lossless_webp()
    assert decoded(data).mode == "RGBA"
    result = process(data)
    assert (result.width, result.height) == (2048, 1536)
    assert (result.renditions[0].width, result.renditions[0].height) == (1024, 768)


def test_animated_gif_gives_its_first_frame() -> None:
    result = processed("animated-loop-3.gif")
    with Image.open(samples.DATA / "animated-loop-3.gif") as gif:
        assert gif.n_frames > 1
        first = gif.convert("RGB")
        gif.seek(5)
        later = gif.convert("RGB")
    out = decoded(result.renditions[0].data)
    assert mean_abs_diff(out, first) < 4
    assert mean_abs_diff(out, first) < mean_abs_diff(out, later)


# --- orientation --------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_1_to_8_all_come_out_upright(orientation: int) -> None:
    upright = processed("Landscape_1.jpg")
    result = processed(f"Landscape_{orientation}.jpg")
    assert (result.width, result.height) == (1800, 1200)
    for mine, reference in zip(result.renditions, upright.renditions, strict=True):
        assert (mine.width, mine.height) == (reference.width, reference.height)
        assert mean_abs_diff(decoded(mine.data), decoded(reference.data)) < 3


def test_heic_is_not_rotated_twice() -> None:
    """libheif applies irot/imir itself; the iPhone photo is portrait and must stay so."""
    result = processed("iphone_13_pro_max.HEIC")
    assert result.height > result.width
    assert result.renditions[0].height == 1024


# --- colour -------------------------------------------------------------------------------------


def icc_correct_srgb(name_or_data: str | bytes) -> Image.Image:
    data = samples.photo(name_or_data) if isinstance(name_or_data, str) else name_or_data
    im = decoded(data)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
    out = ImageCms.profileToProfile(im, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    assert out is not None
    return out


def test_cmyk_jpeg_comes_out_in_the_right_colours() -> None:
    name = "Channel_digital_image_CMYK_color.jpg"
    result = processed(name)
    out = decoded(result.renditions[0].data)
    correct = icc_correct_srgb(name)
    naive = decoded(samples.photo(name)).convert("RGB")  # Pillow's profile-less CMYK maths
    # 4.2 is exactly the JPEG q82 noise of re-encoding the correct conversion itself; naive is 12.5.
    assert mean_abs_diff(out, correct) < 5
    assert mean_abs_diff(naive, correct) > 2.5 * mean_abs_diff(out, correct)  # the check has teeth


def test_ycck_jpeg_comes_out_in_the_right_colours() -> None:
    data = samples.ycck_jpeg()
    assert decoded(data).info.get("adobe_transform") == 2
    out = decoded(process(data).renditions[0].data)
    assert mean_abs_diff(out, icc_correct_srgb("Channel_digital_image_CMYK_color.jpg")) < 5


def test_transparent_areas_come_out_white_not_black() -> None:
    source = decoded(samples.photo("blackbug.png"))
    out = decoded(processed("blackbug.png").renditions[0].data)
    alpha = source.getchannel("A").resize(out.size, Image.Resampling.BOX)
    clear = [xy for xy in ((5, 5), (out.width - 5, 5), (5, out.height - 5)) if alpha.getpixel(xy) == 0]
    assert clear, "the corners of blackbug.png are transparent"
    for xy in clear:
        assert min(out.getpixel(xy)) >= 245  # type: ignore[arg-type]


def test_alpha_webp_background_is_white() -> None:
    source = decoded(samples.photo("Alpha_Lossy_1_.webp"))
    out = decoded(processed("Alpha_Lossy_1_.webp").renditions[0].data)
    assert source.getchannel("A").getpixel((0, 0)) == 0
    assert min(out.getpixel((0, 0))) >= 245  # type: ignore[arg-type]


def test_colour_hidden_under_transparency_never_shows() -> None:
    """The palette entry under tRNS is black: the transparent quarter must be white, edges too."""
    out = decoded(process(samples.palette_png(transparent_corner=True)).renditions[1].data)
    corner = out.crop((0, 0, out.width // 2 - 2, out.height // 2 - 2))
    assert min(ImageStat.Stat(corner).extrema[c][0] for c in range(3)) >= 235


# --- metadata -----------------------------------------------------------------------------------


def test_reads_gps_from_exif() -> None:
    gps = processed("DSCN0010.jpg").gps
    assert gps is not None
    assert gps["lat"] == pytest.approx(43.4674, abs=1e-3)
    assert gps["lon"] == pytest.approx(11.8851, abs=1e-3)


def test_reads_camera_fields_and_time_from_exif() -> None:
    result = processed("Canon_40D.jpg")
    assert result.camera == {
        "make": "Canon",
        "model": "Canon EOS 40D",
        "exposure": "1/160",
        "aperture": 7.1,
        "iso": 100,
        "focal_length": 135.0,
    }
    assert result.taken_at == "2008-05-30T15:56:01"  # no offset in this file's EXIF
    assert result.gps is None


def test_taken_at_has_an_offset_when_exif_has_one() -> None:
    result = processed("iphone_13_pro_max.HEIC")
    assert result.taken_at == "2022-02-16T12:55:41+01:00"
    assert result.camera["make"] == "Apple"
    assert "lens" in result.camera


def test_photo_without_exif_has_empty_metadata() -> None:
    result = processed("blackbug.png")
    assert (result.taken_at, result.camera, result.gps) == (None, {}, None)


@pytest.mark.parametrize(
    "name", ["DSCN0010.jpg", "iphone_13_pro_max.HEIC", "Channel_digital_image_CMYK_color.jpg"]
)
def test_renditions_carry_no_exif_gps_or_profile(name: str) -> None:
    for rendition in processed(name).renditions:
        im = decoded(rendition.data)
        assert not im.getexif()
        assert "icc_profile" not in im.info and "exif" not in im.info
        assert b"Exif" not in rendition.data and b"GPS" not in rendition.data


# --- placeholder --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Landscape_1.jpg", "Issue_242.jpg", "blackbug.png", "Canon_40D.jpg"])
def test_placeholder_is_a_decodable_blurhash_of_the_photo(name: str) -> None:
    result = processed(name)
    x, y = blurhash.components(result.placeholder)
    assert (x, y) == ((4, 3) if result.width >= result.height else (3, 4))
    assert len(result.placeholder) == 4 + 2 * x * y
    rows = blurhash.decode(result.placeholder, 8, 6)
    average = [sum(px[c] for row in rows for px in row) / 48 for c in range(3)]
    thumb = decoded(result.renditions[-1].data)
    assert max(abs(a - b) for a, b in zip(average, ImageStat.Stat(thumb).mean, strict=True)) < 30
    assert re.fullmatch(r"#[0-9a-f]{6}", result.dominant_color)


def test_dominant_colour_of_a_white_background_drawing_is_white() -> None:
    assert processed("blackbug.png").dominant_color == "#ffffff"


# --- hostile inputs -----------------------------------------------------------------------------


def rejected(data: bytes, **kwargs: int) -> str:
    with pytest.raises(ImageRejected) as info:
        process(data, **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    return info.value.reason


@pytest.mark.parametrize(
    "name", ["Issue_266.jpg", "Issue_242.jpg", "blackbug.png", "4.webp", "iphone_13_pro_max.HEIC"]
)
def test_truncated_files_are_rejected(name: str) -> None:
    data = samples.photo(name)
    reason = rejected(data[: len(data) // 2])
    assert reason in ("image is truncated", "not a decodable image")


def test_truncated_jpeg_says_so() -> None:
    data = samples.photo("Landscape_1.jpg")
    assert rejected(data[: len(data) * 2 // 3]) == "image is truncated"


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"GIF89a<script>",
        b"\xff\xd8\xff" + b"<html>" * 10,
        b"\x89PNG\r\n\x1a\n",
    ],
)
def test_markup_and_junk_are_rejected(data: bytes) -> None:
    assert rejected(data) in ("unsupported format", "not a decodable image", "image is truncated")


def test_zero_bytes_are_rejected() -> None:
    assert rejected(b"") == "empty file"


def test_script_appended_to_a_jpeg_never_reaches_the_renditions() -> None:
    script = b"<script>alert(document.cookie)</script>"
    result = process(samples.photo("DSCN0010.jpg") + script)
    assert all(script not in r.data and b"<script" not in r.data for r in result.renditions)


def test_huge_png_header_is_rejected_with_the_pixel_count() -> None:
    reason = rejected(samples.png_header_only(50_000, 50_000))
    assert reason == "image has 2500000000 pixels, more than the limit of 100000000"


def test_complete_png_over_the_limit_is_rejected_before_decoding(png_12k: bytes) -> None:
    assert rejected(png_12k) == "image has 144000000 pixels, more than the limit of 100000000"


def test_pixel_limit_is_the_callers() -> None:
    assert rejected(samples.photo("Landscape_1.jpg"), max_pixels=1_000_000).startswith(
        "image has 2160000 pixels"
    )


def test_one_pixel_wide_image_gives_a_tiny_rendition() -> None:
    result = process(samples.tall_png(1, 65_535))
    assert (result.width, result.height) == (1, 65_535)
    assert [(r.width, r.height) for r in result.renditions] == [(1, 1024), (1, 256)]


def test_one_pixel_high_image_gives_a_tiny_rendition() -> None:
    result = process(samples.png_from_rows(65_535, 1, 8, 0, b"\x00" + b"\x10" * 65_535))
    assert [(r.width, r.height) for r in result.renditions] == [(1024, 1), (256, 1)]


def test_open_size_reads_the_header_only(png_12k: bytes) -> None:
    assert imaging.open_size(png_12k) == (12_000, 12_000)
    with pytest.raises(ImageRejected):
        imaging.open_size(b"<html>")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_photos_raise_only_image_rejected(data: st.DataObject) -> None:
    """Flip, cut and splice bytes of small real files: the result is a photo or ImageRejected."""
    name = data.draw(st.sampled_from(["Canon_40D.jpg", "animated-loop-3.gif", "Alpha_Lossy_1_.webp"]))
    blob = bytearray(samples.photo(name))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(8, len(blob)))
    try:
        process(bytes(blob[:cut]))
    except ImageRejected as exc:
        assert exc.reason
