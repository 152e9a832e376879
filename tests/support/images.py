"""Test images made on the fly: a JPEG with GPS EXIF and an orientation tag, bad inputs."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import ExifTags, Image


def jpeg_with_gps(width: int = 640, height: int = 480, orientation: int = 6) -> bytes:
    """A photo-like JPEG carrying GPS coordinates, a camera model and an orientation tag."""
    im = Image.new("RGB", (width, height), (30, 120, 200))
    for x in range(0, width, 40):  # some structure so the encoder has work to do
        im.paste((220, 80, 40), (x, 0, x + 20, height // 2))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Model] = "SecretCam 3000"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def has_gps(data: bytes) -> bool:
    im = Image.open(io.BytesIO(data))
    exif = im.getexif()
    return bool(exif.get_ifd(ExifTags.IFD.GPSInfo)) or b"SecretCam" in data or b"GPS" in data


def png(width: int = 64, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (0, 200, 0)).save(out, "PNG")
    return out.getvalue()


def huge_dimensions_png(side: int = 30_000) -> bytes:
    """A tiny file that claims side × side pixels (a decompression bomb)."""
    raw = b"".join(b"\x00" + b"\x00" * side for _ in range(1))  # one real row is enough

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def many_frames_gif(frames: int = 3000, side: int = 8) -> bytes:
    out = io.BytesIO()
    imgs = []
    for i in range(frames):  # every frame differs, so the encoder cannot merge them
        im = Image.new("L", (side, side), 0)
        im.putpixel((i % side, (i // side) % side), 255)
        im.putpixel(((i * 7) % side, (i * 3) % side), 128)
        imgs.append(im)
    imgs[0].save(out, "GIF", save_all=True, append_images=imgs[1:], duration=10, loop=0)
    return out.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg_with_gps()
    return data[: len(data) // 2]


def elf_executable() -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x90" * 4000


def animated_gif(width: int, height: int, frames: int) -> bytes:
    """A small file that decodes to `frames` full frames: a 3-pixel mark moves across a plain
    background (the issue's 239 KB, 300-frame GIF that cost ~585 MB to decode)."""
    palette = [0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9)
    shots = []
    for i in range(frames):
        im = Image.new("P", (width, height), 0)
        im.putpalette(palette)
        im.paste(1 + i % 2, (i % width, 0, min(width, i % width + 3), 4))
        shots.append(im)
    out = io.BytesIO()
    shots[0].save(out, "GIF", save_all=True, append_images=shots[1:], duration=40, loop=0)
    return out.getvalue()


def plain(fmt: str, width: int, height: int, mode: str = "RGB") -> bytes:
    """A plain image of the given size: tiny on the wire, `width * height` pixels decoded."""
    out = io.BytesIO()
    color = (10, 20, 30, 200) if mode == "RGBA" else (10, 20, 30)
    Image.new(mode, (width, height), color).save(out, fmt)
    return out.getvalue()
