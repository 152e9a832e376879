"""Sample the server with py-spy during a step and say where its time goes.

py-spy is pinned in requirements-dev.txt (installed by scripts/test.sh).
Samples are written as collapsed stacks (bench/out/profile-*.txt, loadable in speedscope) and
summarised here by the library the innermost frame belongs to, and by function.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from bench.procs import OUT, VENV_BIN

# py-spy names files relative to sys.path; the first matching prefix names the bucket.
BUCKETS = [
    ("chatapp", ("chatapp/",)),
    ("SQLAlchemy/SQLModel", ("sqlalchemy/", "sqlmodel/")),
    ("PyMySQL (DB driver)", ("pymysql/",)),
    ("Reflex (state, events, deltas)", ("reflex/", "reflex_base/")),
    ("socket.io/engine.io/starlette", ("engineio/", "socketio/", "starlette/")),
    ("granian", ("granian/",)),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("json", ("json/",)),
    ("asyncio", ("asyncio/", "selectors.py")),
    ("threads", ("threading.py", "concurrent/", "queue.py")),
]
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    found = VENV_BIN / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


class Sampler:
    """`py-spy record` on one process for `seconds`. Threads waiting for I/O or a lock are
    idle and not sampled; pass ``extra=("--gil",)`` to sample only the thread holding the GIL."""

    def __init__(self, pid: int, label: str, seconds: float, extra: tuple[str, ...] = ()) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy not found: install requirements-dev.txt")
        OUT.mkdir(exist_ok=True)
        self.path = OUT / f"profile-{label}.txt"
        cmd = [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds)))]
        # --nonblocking: never pause the server (pausing it 100 times a second showed up as
        # 100+ ms stalls in the latencies being measured).
        cmd += ["--rate", "100", "--format", "raw", "--threads", "--nonblocking", *extra]
        cmd += ["--output", str(self.path)]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def wait(self) -> Path | None:
        try:
            await asyncio.to_thread(self.proc.wait, 60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
        return self.path if self.path.exists() else None


def _bucket(file: str) -> str:
    for name, prefixes in BUCKETS:
        if file.startswith(prefixes):
            return name
    return "other"


def summarize(path: Path, top: int = 15) -> list[str]:
    """Markdown tables: samples by library of the innermost frame, and the hottest functions
    (self = innermost frame; total = anywhere on the stack)."""
    by_bucket: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    total_fn: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [f for f in stack.split(";") if not f.startswith("thread (")]
        if not frames:
            continue
        samples += count
        names = []
        for f in frames:
            m = FRAME.match(f)
            func, file = (m["func"], m["file"]) if m else (f, "")
            names.append((f"{func} ({_short(file)})", file))
        leaf_name, leaf_file = names[-1]
        by_bucket[_bucket(leaf_file)] += count
        self_fn[leaf_name] += count
        for name in {n for n, _ in names}:
            total_fn[name] += count
    if not samples:
        return ["(no samples)"]
    out = [f"{samples} samples in {path.name}", "", "| innermost frame in | share |", "|---|---|"]
    out += [f"| {b} | {100 * c / samples:.0f}% |" for b, c in by_bucket.most_common()]
    out += ["", "| function (self time) | share |", "|---|---|"]
    out += [f"| {f} | {100 * c / samples:.1f}% |" for f, c in self_fn.most_common(top)]
    chat = [(f, c) for f, c in total_fn.most_common() if "(chatapp/" in f]
    out += ["", "| chatapp function (total time, incl. callees) | share |", "|---|---|"]
    out += [f"| {f} | {100 * c / samples:.1f}% |" for f, c in chat[:top]]
    return out


def _short(file: str) -> str:
    return file.rsplit(":", 1)[0]
