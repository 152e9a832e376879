"""Image validation and clean re-encoding (Pillow). Pure functions: bytes in, bytes out.

The browser's checks are a convenience; this is the gate. We decode the bytes (never trust a
name or MIME type), refuse empty, oversized, non-image, truncated and decompression-bomb files,
apply the EXIF orientation, and re-encode without any metadata (GPS above all).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, ImageSequence, UnidentifiedImageError

from chatapp.services.errors import ServiceError

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # per frame: a 40-megapixel photo is fine, 30,000 × 30,000 is not
MAX_FRAMES = 300
MAX_TOTAL_PIXELS = 120_000_000  # all frames of an animation together
ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
CHAT_THUMB = 480
AVATAR_SIZE = 512
AVATAR_THUMB = 96

# Never decode partial files silently; bomb checks are ours (below), Pillow's are a backstop.
ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass(frozen=True, slots=True)
class CleanImage:
    data: bytes
    mime: str
    ext: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Processed:
    full: CleanImage
    thumb: CleanImage


def _open(data: bytes) -> Image.Image:
    if not data:
        raise ServiceError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ServiceError("Images can be at most 10 MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ServiceError("That image has too many pixels (at most 40 megapixels).") from None
    except UnidentifiedImageError:
        raise ServiceError("That file is not a JPEG, PNG, WebP or GIF image.") from None
    except OSError:
        raise ServiceError("That file is not a JPEG, PNG, WebP or GIF image.") from None
    if im.format not in ALLOWED:
        raise ServiceError("Only JPEG, PNG, WebP and GIF images are accepted.")
    w, h = im.size
    if w < 1 or h < 1 or w * h > MAX_PIXELS:
        raise ServiceError("That image has too many pixels (at most 40 megapixels).")
    frames = getattr(im, "n_frames", 1)
    if frames > MAX_FRAMES or frames * w * h > MAX_TOTAL_PIXELS:
        raise ServiceError(f"Animated images can have at most {MAX_FRAMES} frames.")
    return im


def _decode(im: Image.Image) -> None:
    """Force a full decode of every frame: truncated or corrupt data fails here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            for frame in ImageSequence.Iterator(im):
                frame.load()
            im.seek(0)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombWarning):
        raise ServiceError("The image is damaged or incomplete.") from None


def _encode(im: Image.Image, fmt: str, *, animated: bool = False) -> CleanImage:
    out = io.BytesIO()
    if fmt == "JPEG":
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        im.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    elif fmt == "PNG":
        im.save(out, "PNG", optimize=True)
    elif fmt == "WEBP":
        im.save(out, "WEBP", quality=85)
    else:  # GIF
        if animated:
            frames = []
            for f in ImageSequence.Iterator(im):
                frame = f.copy()
                # Keep timing only: comments and application extensions can carry anything.
                frame.info = {k: v for k, v in frame.info.items() if k in {"duration", "loop"}}
                frames.append(frame)
            frames[0].save(
                out,
                "GIF",
                save_all=True,
                append_images=frames[1:],
                loop=im.info.get("loop", 0),
                duration=im.info.get("duration", 100),
                disposal=2,
            )
        else:
            im.save(out, "GIF")
    return CleanImage(out.getvalue(), ALLOWED[fmt], EXT[fmt], im.width, im.height)


def _strip(im: Image.Image) -> Image.Image:
    """A copy with the orientation applied and no metadata attached."""
    im = ImageOps.exif_transpose(im)  # returns a copy (also for images without EXIF)
    im.info = {k: v for k, v in im.info.items() if k in {"transparency", "duration", "loop"}}
    if hasattr(im, "_exif"):
        im._exif = None
    return im


def process_chat_image(data: bytes) -> Processed:
    im = _open(data)
    _decode(im)
    fmt = im.format or "PNG"
    animated = fmt == "GIF" and getattr(im, "n_frames", 1) > 1
    if animated:
        full = _encode(im, "GIF", animated=True)
        first = _strip(im.convert("RGBA"))
        first.thumbnail((CHAT_THUMB, CHAT_THUMB))
        return Processed(full=full, thumb=_encode(first, "PNG"))
    clean = _strip(im)
    full = _encode(clean, fmt)
    thumb = clean.copy()
    thumb.thumbnail((CHAT_THUMB, CHAT_THUMB))
    return Processed(full=full, thumb=_encode(thumb, "JPEG" if fmt == "JPEG" else "PNG"))


def process_avatar(data: bytes) -> Processed:
    """A centre-cropped square and a small thumbnail for lists."""
    im = _open(data)
    _decode(im)
    square = ImageOps.fit(_strip(im.convert("RGBA") if im.mode == "P" else im), (AVATAR_SIZE,) * 2)
    fmt = "PNG" if square.mode in ("RGBA", "LA") else "JPEG"
    small = square.resize((AVATAR_THUMB, AVATAR_THUMB), Image.Resampling.LANCZOS)
    return Processed(full=_encode(square, fmt), thumb=_encode(small, fmt))
