"""Make the derived icons from assets/icon-512.png (run again if that icon changes):

- assets/icon-maskable-512.png: the web app manifest's maskable icon (a phone crops it to a
  circle or a rounded square): a white bubble on a full-bleed accent background, inside the
  central 80 % safe zone.
- assets/favicon-unread.png: the tab icon while something is unread: the bubble with a red dot.

    .venv/bin/python scripts/icons.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

ASSETS = Path(__file__).resolve().parent.parent / "assets"
ACCENT = (62, 99, 221, 255)  # indigo 9, the bubble's own colour
DOT = (229, 72, 77, 255)  # red 9


def maskable(icon: Image.Image) -> Image.Image:
    size = 512
    out = Image.new("RGBA", (size, size), ACCENT)
    inner = int(size * 0.6)  # well inside the 80 % circle every mask keeps
    small = icon.resize((inner, inner), Image.Resampling.LANCZOS)
    r, _g, _b, a = small.split()
    # The bubble (blue) becomes white; its dots (white) stay accent: blue-ness times opacity.
    blue = r.point(lambda v: max(0, min(255, (255 - v) * 255 // (255 - ACCENT[0]))))
    mask = ImageChops.multiply(blue, a)
    white = Image.new("RGBA", (inner, inner), (255, 255, 255, 255))
    off = (size - inner) // 2
    out.paste(white, (off, off), mask)
    return out


def unread_favicon(icon: Image.Image) -> Image.Image:
    size = 64
    out = icon.resize((size, size), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(out)
    r = 15
    cx, cy = size - r - 1, r + 1
    draw.ellipse((cx - r - 3, cy - r - 3, cx + r + 3, cy + r + 3), fill=(255, 255, 255, 255))
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=DOT)
    return out


def main() -> None:
    icon = Image.open(ASSETS / "icon-512.png").convert("RGBA")
    maskable(icon).save(ASSETS / "icon-maskable-512.png", optimize=True)
    unread_favicon(icon).save(ASSETS / "favicon-unread.png", optimize=True)


if __name__ == "__main__":
    main()
