"""An installable app: the web app manifest and the offline page, written here in Python.

- ``/manifest.webmanifest``: name, icons (192, 512 and a maskable 512), colours, standalone
  display, start URL ``/``. With it (and the service worker) Chromium offers to install chatapp
  and a phone opens it full-screen from the home screen.
- ``/offline.html``: what the service worker (assets/sw.js, the one hand-written JavaScript
  file) shows when a page cannot be loaded because the network is gone. No script; it only
  needs to be readable, in light and dark.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

NAME = "chatapp"
THEME_LIGHT = "#3e63dd"  # indigo 9: the accent colour, the icon's bubble
THEME_DARK = "#111113"  # the dark theme's page background (gray 1)
BACKGROUND = "#ffffff"
LIGHT = "(prefers-color-scheme: light)"
DARK = "(prefers-color-scheme: dark)"

MANIFEST = {
    "id": "/",
    "name": NAME,
    "short_name": NAME,
    "description": "Chat with the people you know, in real time.",
    "start_url": "/",
    "scope": "/",
    "display": "standalone",
    "orientation": "any",
    "background_color": BACKGROUND,
    "theme_color": THEME_LIGHT,
    "icons": [
        {"src": "/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
        {"src": "/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
        {
            "src": "/icon-maskable-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ],
}

OFFLINE_HTML = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="theme-color" content="{THEME_LIGHT}" media="{LIGHT}">
<meta name="theme-color" content="{THEME_DARK}" media="{DARK}">
<title>Offline · {NAME}</title>
<style>
  :root {{ color-scheme: light dark; }}
  body {{ margin: 0; min-height: 100dvh; display: grid; place-items: center;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    background: #f9f9fb; color: #1c2024; }}
  main {{ max-width: 360px; padding: 24px; text-align: center; }}
  img {{ width: 72px; height: 72px; }}
  h1 {{ font-size: 1.4rem; margin: 12px 0 8px; }}
  p {{ color: #60646c; line-height: 1.5; }}
  a {{ display: inline-block; margin-top: 12px; padding: 10px 18px; border-radius: 8px;
    background: {THEME_LIGHT}; color: #fff; text-decoration: none; font-weight: 600; }}
  @media {DARK} {{
    body {{ background: {THEME_DARK}; color: #edeef0; }}
    p {{ color: #b0b4ba; }}
  }}
</style>
</head>
<body>
<main>
<img src="/icon-192.png" alt="">
<h1>You're offline</h1>
<p>{NAME} can't reach the server right now. Check your connection; your messages are waiting
for you.</p>
<a href="/">Try again</a>
</main>
</body>
</html>
"""


async def manifest(_request: Request) -> Response:
    return Response(
        json.dumps(MANIFEST, separators=(",", ":")),
        media_type="application/manifest+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


async def offline(_request: Request) -> Response:
    return HTMLResponse(OFFLINE_HTML, headers={"Cache-Control": "no-cache"})


routes = [
    Route("/manifest.webmanifest", manifest, methods=["GET"]),
    Route("/offline.html", offline, methods=["GET"]),
]
