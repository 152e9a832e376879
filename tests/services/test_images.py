"""services/images.py in-process: the gate's limits at their edges, what each kind of image is
stored as, the size it is kept at, and the shared memory budget. (tests/storage/ has the same
gate over HTTP; tests/services/test_image_memory.py measures memory in a process of its own.)
Found by mutation testing and branch coverage (TESTING.md)."""

from __future__ import annotations

import io
import struct
import threading
import zlib

import pytest
from PIL import Image

from chatapp.services import images
from chatapp.services.errors import ServiceError
from tests.support.images import animated_gif, many_frames_gif, plain


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels but holds one row: _open only reads the
    header, decoding it would fail ("damaged")."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * width)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _refusal(data: bytes, avatar: bool = False) -> str:
    with pytest.raises(ServiceError) as exc:
        (images.process_avatar if avatar else images.process_chat_image)(data)
    return str(exc.value)


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


# The gate ----------------------------------------------------------------------------------------


def test_size_limit_is_ten_megabytes_exactly() -> None:
    at_limit = b"\x00" * images.MAX_BYTES
    assert _refusal(at_limit) == "That file is not a JPEG, PNG, WebP or GIF image."
    assert _refusal(at_limit + b"\x00") == "Images can be at most 10 MB."
    assert _refusal(b"") == "The file is empty."


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO"])
def test_other_image_formats_are_refused(fmt: str) -> None:
    assert _refusal(plain(fmt, 16, 16)) == "Only JPEG, PNG, WebP and GIF images are accepted."


def test_pixel_limit_per_frame_at_its_edge() -> None:
    limit = images.MAX_PIXELS["PNG"]  # 16.8 MP: 4200 x 4000
    at = png_header(4200, limit // 4200)
    assert 4200 * (limit // 4200) == limit
    assert images.process_chat_image(at).full.width == 2560  # passed the pixel check
    over = png_header(4200, limit // 4200 + 1)
    assert _refusal(over) == "That image has too many pixels (at most 16.8 megapixels)."


def test_frame_limit_at_its_edge() -> None:
    at = many_frames_gif(images.MAX_FRAMES, 4)
    out = images.process_chat_image(at)
    with _open(out.full.data) as im:
        assert getattr(im, "n_frames", 1) == images.MAX_FRAMES
    over = many_frames_gif(images.MAX_FRAMES + 1, 4)
    assert _refusal(over) == "Animated images can have at most 300 frames."


def test_animation_pixel_limit_over_all_frames() -> None:
    # 50 frames of 1000 x 1000 is exactly 50 MP: accepted (test_image_memory.py decodes it);
    # one row more per frame is over.
    assert _refusal(animated_gif(1000, 1001, 50)) == (
        "That animation is too large (at most 50 megapixels over all its frames)."
    )


# What is kept ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mode", "mime", "thumb_mime"),
    [
        ("JPEG", "RGB", "image/jpeg", "image/jpeg"),
        ("JPEG", "L", "image/jpeg", "image/jpeg"),
        ("JPEG", "CMYK", "image/jpeg", "image/jpeg"),
        ("PNG", "RGBA", "image/png", "image/png"),
        ("WEBP", "RGB", "image/webp", "image/png"),
        ("GIF", "P", "image/gif", "image/png"),
    ],
)
def test_each_kind_is_kept_as_its_own_kind(fmt: str, mode: str, mime: str, thumb_mime: str) -> None:
    if mode == "L":
        buf = io.BytesIO()
        Image.new("L", (64, 48), 90).save(buf, fmt)
        data = buf.getvalue()
    else:
        data = plain(fmt, 64, 48, mode if mode != "P" else "RGB")
    out = images.process_chat_image(data)
    assert (out.full.mime, out.full.width, out.full.height) == (mime, 64, 48)
    assert out.thumb.mime == thumb_mime
    with _open(out.full.data) as im:
        assert im.format == fmt and im.size == (64, 48)
        if fmt == "JPEG":
            assert im.mode in ("RGB", "L")  # CMYK is converted


@pytest.mark.parametrize(
    ("size", "full", "thumb"),
    [
        ((6000, 300), (2560, 128), (480, 24)),  # a wide JPEG, decoded at half scale first
        ((300, 5200), (148, 2560), (28, 480)),  # a tall one
        ((2561, 20), (2560, 20), (480, 4)),  # just over the side
        ((2560, 20), (2560, 20), (480, 4)),  # exactly the side: kept as it is
    ],
)
def test_big_images_are_kept_at_most_2560_on_the_long_side(
    size: tuple[int, int], full: tuple[int, int], thumb: tuple[int, int]
) -> None:
    out = images.process_chat_image(plain("JPEG", *size))
    assert (out.full.width, out.full.height) == full
    assert (out.thumb.width, out.thumb.height) == thumb
    with _open(out.full.data) as im:
        assert im.size == full


def test_a_big_png_is_reduced_then_resampled() -> None:
    out = images.process_chat_image(plain("PNG", 7700, 40, "RGBA"))
    assert (out.full.width, out.full.height) == (2560, 14)
    with _open(out.full.data) as im:
        assert (im.mode, im.getpixel((5, 5))) == ("RGBA", (10, 20, 30, 200))


def test_an_animated_gif_keeps_its_timing_and_gets_a_still_thumbnail() -> None:
    out = images.process_chat_image(animated_gif(64, 32, 5))
    with _open(out.full.data) as im:
        assert (im.format, im.n_frames, im.info["duration"], im.info["loop"]) == ("GIF", 5, 40, 0)
    with _open(out.thumb.data) as th:
        assert (th.format, getattr(th, "n_frames", 1), th.size) == ("PNG", 1, (64, 32))


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (plain("PNG", 900, 600, "RGBA"), "PNG"),  # transparency: PNG
        (plain("JPEG", 900, 600), "JPEG"),
        (animated_gif(300, 200, 4), "PNG"),  # the first frame, as a still (palette: PNG)
    ],
)
def test_avatars_are_squares_of_512_with_a_96_thumbnail(data: bytes, fmt: str) -> None:
    out = images.process_avatar(data)
    assert (out.full.width, out.full.height, out.thumb.width, out.thumb.height) == (
        512,
        512,
        96,
        96,
    )
    with _open(out.full.data) as full, _open(out.thumb.data) as thumb:
        assert (full.format, thumb.format, getattr(full, "n_frames", 1)) == (fmt, fmt, 1)


def test_a_palette_avatar_keeps_its_transparency() -> None:
    im = Image.new("P", (40, 40), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    im.paste(1, (10, 10, 30, 30))
    buf = io.BytesIO()
    im.save(buf, "PNG", transparency=0)
    out = images.process_avatar(buf.getvalue())
    with _open(out.full.data) as full:
        assert full.format == "PNG" and full.mode == "RGBA"
        assert full.getpixel((0, 0))[3] == 0  # the transparent corner stays transparent
        assert full.getpixel((256, 256)) == (255, 0, 0, 255)


# The shared memory budget ------------------------------------------------------------------------


def test_a_job_that_does_not_fit_waits_then_is_told_the_server_is_busy() -> None:
    budget = images._Budget(total_bytes=100, workers=2)
    with budget.hold(60):
        with pytest.raises(ServiceError, match="busy"), budget.hold(50, timeout=0.01):
            pass
        with budget.hold(40):  # what is left still fits
            pass
    with budget.hold(100):  # all of it, once the others are done
        pass


def test_workers_are_a_limit_too_and_a_finished_job_lets_the_next_one_in() -> None:
    budget = images._Budget(total_bytes=100, workers=1)
    started = threading.Event()
    release = threading.Event()

    def first() -> None:
        with budget.hold(1):
            started.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    assert started.wait(10)
    with pytest.raises(ServiceError, match="busy"), budget.hold(1, timeout=0.01):
        pass
    release.set()
    with budget.hold(1, timeout=10):  # woken when the first one ends, not after the timeout
        pass
    t.join(10)


def test_a_job_larger_than_the_whole_budget_runs_alone() -> None:
    budget = images._Budget(total_bytes=100, workers=2)
    with budget.hold(10**9):
        with pytest.raises(ServiceError), budget.hold(1, timeout=0.01):
            pass


# Found by the second mutation run ----------------------------------------------------------------


def _gif(frames: list[Image.Image], **kw: object) -> bytes:
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("size", "thumb"), [((1, 2000), (1, 480)), ((2000, 1), (480, 1)), ((64, 48), (64, 48))]
)
def test_thin_and_small_images_are_kept_and_never_enlarged(
    size: tuple[int, int], thumb: tuple[int, int]
) -> None:
    out = images.process_chat_image(plain("PNG", *size))
    assert (out.full.width, out.full.height) == size
    assert (out.thumb.width, out.thumb.height) == thumb


def test_the_pixel_limit_told_is_the_one_of_the_images_format() -> None:
    assert _refusal(plain("WEBP", 4000, 2100)) == (
        "That image has too many pixels (at most 8.3 megapixels)."
    )


def test_a_big_still_is_not_counted_as_an_animation() -> None:
    out = images.process_chat_image(plain("JPEG", 6500, 4000))  # 26 MP: over half of 50
    assert (out.full.width, out.full.height) == (2560, 1575)


def test_two_frames_are_an_animation_and_an_animated_webp_is_kept_as_a_still() -> None:
    two = _gif([Image.new("L", (8, 8), 0), Image.new("L", (8, 8), 255)], duration=50, loop=0)
    out = images.process_chat_image(two)
    assert out.full.ext == "gif"
    with _open(out.full.data) as im:
        assert im.n_frames == 2
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(
        buf, "WEBP", save_all=True, append_images=[Image.new("RGB", (8, 8), (0, 255, 0))]
    )
    out = images.process_chat_image(buf.getvalue())
    with _open(out.full.data) as im:
        assert (im.format, getattr(im, "n_frames", 1)) == ("WEBP", 1)


def test_an_animations_thumbnail_is_its_first_frame_and_keeps_transparency() -> None:
    palette = [0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9)
    frames = []
    for color in (1, 2):  # red, then green; index 0 is transparent
        im = Image.new("P", (20, 20), 0)
        im.putpalette(palette)
        im.paste(color, (5, 5, 15, 15))
        frames.append(im)
    out = images.process_chat_image(_gif(frames, transparency=0, duration=50, loop=0))
    with _open(out.thumb.data) as th:
        rgba = th.convert("RGBA")
        assert rgba.getpixel((10, 10)) == (255, 0, 0, 255)
        assert rgba.getpixel((0, 0))[3] == 0


def test_a_grey_avatar_with_transparency_stays_a_png_with_it() -> None:
    im = Image.new("LA", (100, 100), (128, 0))
    im.paste((200, 255), (25, 25, 75, 75))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    out = images.process_avatar(buf.getvalue())
    assert out.full.mime == out.thumb.mime == "image/png"
    with _open(out.full.data) as full:
        assert full.convert("RGBA").getpixel((0, 0))[3] == 0


def test_an_image_without_an_orientation_tag_is_not_turned() -> None:
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (20, 0, 40, 20))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    out = images.process_chat_image(buf.getvalue())
    with _open(out.full.data) as full:
        assert full.size == (40, 20)
        assert full.convert("RGB").getpixel((2, 10)) == (255, 0, 0)


def test_a_wide_palette_image_is_shrunk_without_the_box_filter() -> None:
    """Palette images cannot be reduced by Pillow's box filter (it raises): they are resized."""
    im = Image.new("P", (6000, 40), 1)
    im.putpalette([0, 0, 0, 10, 200, 30] + [0] * (256 * 3 - 6))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    out = images.process_chat_image(buf.getvalue())
    assert (out.full.width, out.full.height) == (2560, 17)


# Found by the third mutation run -----------------------------------------------------------------


def test_an_image_that_makes_pillow_warn_of_a_bomb_is_refused_cleanly() -> None:
    """45 MP is past Pillow's own warning (40 MP) but short of its error (80 MP): the warning
    is turned into the refusal, never an unhandled exception."""
    assert _refusal(png_header(7000, 6500)) == (
        "That image has too many pixels (at most 16.8 megapixels)."
    )


def test_an_animation_of_exactly_50_megapixels_is_accepted() -> None:
    out = images.process_chat_image(animated_gif(1000, 1000, 50))
    with _open(out.full.data) as im:
        assert (im.n_frames, im.size) == (50, (1000, 1000))


def test_a_single_frame_gif_is_a_still_and_is_shrunk() -> None:
    out = images.process_chat_image(plain("GIF", 3000, 30))
    assert (out.full.mime, out.full.width, out.full.height) == ("image/gif", 2560, 26)


def test_a_wide_black_and_white_image_is_shrunk_without_the_box_filter() -> None:
    im = Image.new("1", (6000, 30), 1)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    out = images.process_chat_image(buf.getvalue())
    assert (out.full.width, out.full.height) == (2560, 13)
