"""A text watermark on the renditions that public routes serve (pure: Pillow only).

Owners always see clean renditions; the feed, walls and share links show these. Drawn on the
finished rendition, so it costs one small decode and encode, not another pass over the original.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

JPEG_QUALITY = 82


def apply(rendition: bytes, text: str) -> bytes:
    """The rendition (JPEG bytes) with `text` in its lower right corner, legible on any photo."""
    with Image.open(io.BytesIO(rendition)) as opened:
        image = opened.convert("RGB")
    size = max(10, min(image.width, image.height) // 14)
    font = ImageFont.load_default(size=size)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    margin = max(4, size // 2)
    x = image.width - (right - left) - margin
    y = image.height - (bottom - top) - margin - top
    # A soft shadow under light text reads on bright skies and dark shadows alike.
    draw.text((x + 1, y + 1), text, font=font, fill=(0, 0, 0, 110))
    draw.text((x, y), text, font=font, fill=(255, 255, 255, 170))
    marked = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    out = io.BytesIO()
    marked.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
