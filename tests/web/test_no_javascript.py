"""chatapp's promise: a browser chat written in Python, no hand-written JavaScript.

Fails if a JavaScript/TypeScript file appears anywhere the app ships (bench/ holds the Node
Socket.IO baseline and is not shipped) other than the one service worker (assets/sw.js: browsers
run push and installability only in one; issue 14), if that file grows past ~60 lines, if inline
JS grows past the few one-line browser calls that Reflex has no Python API for, or if the app
reaches into Reflex's private modules.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {
    ".git",
    ".web",
    ".venv",
    "node_modules",
    "bench",
    "reflex.lock",
    ".states",
    "test-artifacts",
}
JS_SUFFIXES = {".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs"}
MAX_INLINE_JS = 9
# The one hand-written JavaScript file, and how long it may get.
SERVICE_WORKER = Path("assets/sw.js")
MAX_SERVICE_WORKER_LINES = 60


def _files(root: Path) -> list[Path]:
    out = []
    for path in root.iterdir():
        if path.name in SKIP or (path.name.startswith(".") and path.is_dir()):
            continue
        if path.is_dir():
            out += _files(path)
        else:
            out.append(path)
    return out


def test_no_javascript_files_ship_but_the_service_worker() -> None:
    found = [p.relative_to(ROOT) for p in _files(ROOT) if p.suffix in JS_SUFFIXES]
    assert found == [SERVICE_WORKER], f"hand-written JavaScript found: {found}"


def test_the_service_worker_stays_small_and_does_only_its_three_jobs() -> None:
    text = (ROOT / SERVICE_WORKER).read_text()
    assert len(text.splitlines()) <= MAX_SERVICE_WORKER_LINES
    listened = set(re.findall(r"addEventListener\('(\w+)'", text))
    # push -> showNotification, notificationclick -> focus/open, fetch -> the offline page
    # (install/activate keep that page cached).
    assert listened == {"install", "activate", "fetch", "push", "notificationclick"}
    assert "importScripts" not in text and "eval(" not in text


def _inline_js_sites() -> list[tuple[Path, int, str]]:
    sites = []
    pattern = re.compile(r"^\s*(?:[A-Z_]+_(?:JS|SCRIPT)\s*=|def \w+_script\()")
    for path in (ROOT / "chatapp").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.match(line):
                sites.append((path, n, line.strip()))
    return sites


def test_inline_javascript_is_a_few_commented_one_liners() -> None:
    sites = _inline_js_sites()
    assert 0 < len(sites) <= MAX_INLINE_JS, sites
    # Numbered "inline JS (n of m)", each number once, m the count.
    numbers = sorted(
        int(n)
        for path in {p for p, _n, _line in sites}
        for n, m in re.findall(r"inline JS \((\d+) of (\d+)\)", path.read_text())
        if int(m) == len(sites)
    )
    assert numbers == list(range(1, len(sites) + 1)), numbers
    for path, n, line in sites:
        above = path.read_text().splitlines()[max(0, n - 5) : n - 1]
        assert any("inline JS" in a for a in above), f"{path}:{n} {line}: say why (inline JS)"
    # Nowhere else: every call_script / raw Var goes through one of those named constants.
    for path in (ROOT / "chatapp").rglob("*.py"):
        text = path.read_text()
        for m in re.finditer(r"(call_script|rx\.Var|FunctionStringVar\.create)\(([^)\n]*)", text):
            arg = m.group(2).strip()
            if m.group(1) == "rx.Var" and not arg:
                continue
            assert re.match(r"^(?:[A-Z_]+_(?:JS|SCRIPT)|\w+_script\()", arg), (
                f"{path}: inline JS must be one of the named, commented constants: {m.group(0)}"
            )


def test_no_private_reflex_imports() -> None:
    bad = []
    for path in (ROOT / "chatapp").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"^\s*(from|import)\s+(reflex_base|reflex\._x|reflex\.experimental)", line):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert bad == []
