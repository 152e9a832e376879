"""Image validation and clean re-encoding (Pillow). Pure functions: bytes in, bytes out.

The browser's checks are a convenience; this is the gate. We decode the bytes (never trust a
name or MIME type), refuse empty, oversized, non-image, truncated and decompression-bomb files,
apply the EXIF orientation, and re-encode without any metadata (GPS above all).

Memory is bounded (issue 11, finding 6: a 242 KB GIF of 300 frames cost ~600 MB, a 40 MP
still up to ~840 MB):

* what an image may decode to is capped before it is decoded: 16 megapixels a frame for PNG
  and GIF (4096 x 4096), 8 for WebP (4K), 40 for a JPEG (decoded at a reduced scale when it
  is larger than what we keep), 50 megapixels over all the frames of an animation;
* the stored image is at most FULL_MAX_SIDE (2560) pixels on its long side; a big original is
  first reduced by a whole factor (no resampling copy of the original) and let go at once;
* animation frames are streamed into the encoder one at a time, never all held decoded;
* images being processed at once share a budget (IMAGE_MEMORY_MB, IMAGE_WORKERS): a job that
  does not fit waits its turn (or is told the server is busy), and freed memory is handed
  back to the operating system after each job.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from PIL import (
    ExifTags,
    GifImagePlugin,
    Image,
    ImageFile,
    ImageOps,
    ImageSequence,
    UnidentifiedImageError,
)

from chatapp.services.errors import ServiceError
from chatapp.settings import get_settings

MAX_BYTES = 10 * 1024 * 1024
# Pixels per frame. A JPEG is decoded at 1/2 or 1/4 scale when it is larger than we keep, so
# it may be bigger; Pillow's WebP decoder needs ~15 bytes a pixel while it works.
MAX_PIXELS = {"JPEG": 40_000_000, "PNG": 16_800_000, "GIF": 16_800_000, "WEBP": 8_300_000}
MAX_FRAMES = 300
MAX_TOTAL_PIXELS = 50_000_000  # all frames of an animation together
FULL_MAX_SIDE = 2560  # the stored "full" image, long side (what Telegram keeps of a photo)
ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
CHAT_THUMB = 480
AVATAR_SIZE = 512
AVATAR_THUMB = 96
BUSY = "The server is busy with other images. Try again in a moment."
BUDGET_WAIT_SECONDS = 60.0

# Never decode partial files silently; bomb checks are ours (below), Pillow's are a backstop.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# GIF frames that share the first frame's palette stay palette images (a byte a pixel) instead
# of being expanded to RGB and quantised back on saving: a fifth of the memory, far less CPU.
GifImagePlugin.LOADING_STRATEGY = GifImagePlugin.LoadingStrategy.RGB_AFTER_DIFFERENT_PALETTE_ONLY
Image.MAX_IMAGE_PIXELS = max(MAX_PIXELS.values())

_ORIENT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


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


# Memory budget shared by the images processed at once ---------------------------------------
class _Budget:
    def __init__(self, *, total_bytes: int, workers: int) -> None:
        self.total = total_bytes
        self._free = total_bytes
        self._slots = workers
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, cost: int, timeout: float = BUDGET_WAIT_SECONDS) -> Iterator[None]:
        cost = max(1, min(cost, self.total))  # the largest allowed job fits alone
        with self._cond:
            if not self._cond.wait_for(lambda: self._slots > 0 and self._free >= cost, timeout):
                raise ServiceError(BUSY)
            self._slots -= 1
            self._free -= cost
        try:
            yield
        finally:
            with self._cond:
                self._slots += 1
                self._free += cost
                self._cond.notify_all()
            _return_freed_memory()


_creating = threading.Lock()


@lru_cache(maxsize=1)
def _make_budget() -> _Budget:
    s = get_settings()
    _tune_malloc()
    return _Budget(total_bytes=s.image_memory_mb * 1024 * 1024, workers=s.image_workers)


def _budget() -> _Budget:
    # Under a lock: uploads arriving together right after start-up must share one budget
    # (lru_cache alone would let each of them build its own).
    with _creating:
        return _make_budget()


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def _tune_malloc() -> None:
    """glibc: serve every allocation over 1 MiB (decoded images) with its own mapping, so it
    goes back to the operating system when freed instead of staying in the process's heap
    (the issue's "it was not released"). Without glibc this does nothing."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD (fixed: no dynamic raising)


def _return_freed_memory() -> None:
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


# Opening and checking ------------------------------------------------------------------------
def _too_many_pixels(fmt: str | None) -> ServiceError:
    limit = MAX_PIXELS.get(fmt or "", MAX_PIXELS["PNG"]) / 1_000_000
    return ServiceError(f"That image has too many pixels (at most {limit:g} megapixels).")


def _open(data: bytes) -> Image.Image:
    """Read the header only and refuse what would decode too big (nothing is decoded yet)."""
    if not data:
        raise ServiceError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ServiceError("Images can be at most 10 MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(None) from None
    except (UnidentifiedImageError, OSError):
        raise ServiceError("That file is not a JPEG, PNG, WebP or GIF image.") from None
    if im.format not in ALLOWED:
        raise ServiceError("Only JPEG, PNG, WebP and GIF images are accepted.")
    w, h = im.size
    if w < 1 or h < 1 or w * h > MAX_PIXELS[im.format]:
        raise _too_many_pixels(im.format)
    frames = getattr(im, "n_frames", 1)
    if frames > MAX_FRAMES:
        raise ServiceError(f"Animated images can have at most {MAX_FRAMES} frames.")
    if frames * w * h > MAX_TOTAL_PIXELS:
        raise ServiceError(
            "That animation is too large "
            f"(at most {MAX_TOTAL_PIXELS // 1_000_000} megapixels over all its frames)."
        )
    return im


def _animated(im: Image.Image) -> bool:
    return im.format == "GIF" and getattr(im, "n_frames", 1) > 1


def _jpeg_scale(size: tuple[int, int], side: int) -> int:
    """The largest DCT scale (1, 2, 4, 8) that keeps a JPEG's long side at `side` or more."""
    scale = 1
    while scale < 8 and max(size) / (scale * 2) >= side:
        scale *= 2
    return scale


def _cost(im: Image.Image, side: int) -> int:
    """Bytes this job may hold at its peak (checked by tests/services/test_image_memory.py)."""
    w, h = im.size
    if _animated(im):
        # The GIF writer keeps every frame (a byte a pixel, plus its bookkeeping) to the end.
        return 13 * getattr(im, "n_frames", 1) * w * h // 10 + 16 * w * h
    if im.format == "JPEG":
        scale = _jpeg_scale(im.size, side)
        return 8 * (w // scale) * (h // scale)
    if im.format == "WEBP":
        return 21 * w * h  # Pillow's WebP decoder, then the encoder
    # The decoded original (4 bytes a pixel at most), its premultiplied copy, the resampled.
    return 12 * w * h


def _load(im: Image.Image) -> None:
    """Decode (this frame): truncated or corrupt data fails here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombWarning):
        raise ServiceError("The image is damaged or incomplete.") from None


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:
        return 1


def _within(size: tuple[int, int], side: int) -> tuple[int, int]:
    w, h = size
    scale = min(1.0, side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _shrink(im: Image.Image, side: int) -> Image.Image:
    """At most `side` on the long side. A much bigger original is first reduced by a whole
    factor (a box filter straight from the original: Pillow's resampling would first copy an
    RGBA original to premultiply it), and each original is closed as soon as its smaller copy
    exists."""
    target = _within(im.size, side)
    if target == im.size:
        return im
    factor = max(im.size) // side
    if factor >= 2 and im.mode not in ("P", "1"):  # (palette images resize by nearest pixel)
        smaller = im.reduce(factor)
        im.close()
        im = smaller
    if max(im.size) > side:
        smaller = im.resize(_within(im.size, side), Image.Resampling.LANCZOS)
        im.close()
        im = smaller
    return im


def _decode_still(im: Image.Image, side: int) -> Image.Image:
    """The decoded image, oriented, at most `side` on its long side, no metadata attached."""
    orientation = _orientation(im)
    if im.format == "JPEG":
        # Decode at 1/2, 1/4 or 1/8 scale when the image is that much bigger than `side`
        # (libjpeg's DCT scaling): a 40 MP photo never exists in memory at full size.
        scale = _jpeg_scale(im.size, side)
        mode = im.mode if im.mode in ("RGB", "L", "CMYK") else "RGB"
        im.draft(mode, (im.width // scale, im.height // scale))
    _load(im)
    im = _shrink(im, side)
    if orientation in _ORIENT:
        im = im.transpose(_ORIENT[orientation])
    im.info = {k: v for k, v in im.info.items() if k in {"transparency", "duration", "loop"}}
    if hasattr(im, "_exif"):
        im._exif = None
    return im


def _encode(im: Image.Image, fmt: str) -> CleanImage:
    out = io.BytesIO()
    if fmt == "JPEG":
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        # progressive/optimize make libjpeg buffer the whole image's coefficients: only for
        # small images (thumbnails, avatars), where they pay off.
        small = im.width * im.height <= 1_000_000
        im.save(out, "JPEG", quality=85, optimize=small, progressive=small)
    elif fmt == "PNG":
        im.save(out, "PNG", optimize=True)
    elif fmt == "WEBP":
        im.save(out, "WEBP", quality=85)
    else:  # a single-frame GIF
        im.save(out, "GIF")
    return CleanImage(out.getvalue(), ALLOWED[fmt], EXT[fmt], im.width, im.height)


def _clean_frames(im: Image.Image) -> Iterator[Image.Image]:
    """Every frame after the first, one at a time, carrying timing only (comments and
    application extensions can carry anything)."""
    for n, frame in enumerate(ImageSequence.Iterator(im)):
        if n == 0:
            continue
        f = frame.copy()
        f.info = {k: v for k, v in f.info.items() if k in {"duration", "loop"}}
        yield f


def _encode_animation(im: Image.Image) -> CleanImage:
    out = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.seek(0)
            first = im.copy()
            first.info = {k: v for k, v in first.info.items() if k in {"duration", "loop"}}
            first.save(
                out,
                "GIF",
                save_all=True,
                append_images=_clean_frames(im),  # streamed, never a list of decoded frames
                loop=im.info.get("loop", 0),
                duration=im.info.get("duration", 100),
                disposal=2,
            )
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombWarning):
        raise ServiceError("The image is damaged or incomplete.") from None
    return CleanImage(out.getvalue(), ALLOWED["GIF"], EXT["GIF"], im.width, im.height)


def process_chat_image(data: bytes) -> Processed:
    im = _open(data)
    with _budget().hold(_cost(im, FULL_MAX_SIDE)):
        fmt = im.format or "PNG"
        if _animated(im):
            full = _encode_animation(im)
            im.seek(0)
            first = im.convert("RGBA")
            first.thumbnail((CHAT_THUMB, CHAT_THUMB))
            return Processed(full=full, thumb=_encode(first, "PNG"))
        clean = _decode_still(im, FULL_MAX_SIDE)
        full = _encode(clean, fmt)
        thumb = clean.resize(
            _within(clean.size, CHAT_THUMB), Image.Resampling.LANCZOS, reducing_gap=2.0
        )
        del clean
        return Processed(full=full, thumb=_encode(thumb, "JPEG" if fmt == "JPEG" else "PNG"))


def process_avatar(data: bytes) -> Processed:
    """A centre-cropped square and a small thumbnail for lists."""
    im = _open(data)
    with _budget().hold(_cost(im, 2 * AVATAR_SIZE)):
        if _animated(im):
            _load(im)  # the first frame is the picture
        clean = _decode_still(im, 2 * AVATAR_SIZE)
        if clean.mode == "P":
            clean = clean.convert("RGBA")
        square = ImageOps.fit(clean, (AVATAR_SIZE,) * 2)
        del clean
        fmt = "PNG" if square.mode in ("RGBA", "LA") else "JPEG"
        small = square.resize((AVATAR_THUMB, AVATAR_THUMB), Image.Resampling.LANCZOS)
        return Processed(full=_encode(square, fmt), thumb=_encode(small, fmt))
