"""Figures of one measurement step, and how they are printed."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


@dataclass
class StepResult:
    target: str
    users: int
    rate: float  # requested aggregate messages/s
    duration: float
    sent: int = 0
    achieved_rate: float = 0.0  # sent / time it took to send them
    delivered: int = 0
    delivered_rate: float = 0.0  # deliveries / (send time + drain time)
    p50: float = math.nan
    p95: float = math.nan
    p99: float = math.nan
    max: float = math.nan
    confirm_p50: float = math.nan  # sender sees its message stored (chatapp only)
    confirm_p99: float = math.nan
    lost: int = 0
    duplicated: int = 0
    not_stored: int | None = None
    stored_twice: int | None = None
    errors: dict[str, int] = field(default_factory=dict)
    frame_bytes_p50: float = math.nan
    server_cpu_pct: float = 0.0  # 100 = one core
    server_rss_mb: float = 0.0
    client_cpu_pct: float = 0.0
    db_cpu_pct: float | None = None
    loadavg: float = 0.0  # the machine's 1-minute load average at the end (2 cores)
    ping_p50: float = math.nan  # GET /ping during the step: is the event loop responsive?
    ping_p99: float = math.nan
    t_start: float = 0.0  # wall clock (time.time()) of the step, to line up server logs
    t_end: float = 0.0
    crossed: int | None = None  # deliveries between tabs held by different server processes

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


HEADER = (
    "| target | users | rate/s | sent/s | p50 ms | p95 ms | p99 ms | max ms | lost | dup "
    "| not stored | errors | server CPU % | DB CPU % | server RSS MB | client CPU % "
    "| /ping p99 ms |"
)
RULE = "|" + "---|" * 17


def row(r: StepResult) -> str:
    stored = "–" if r.not_stored is None else f"{r.not_stored}/{r.stored_twice}"
    return (
        f"| {r.target} | {r.users} | {fmt(r.rate, 0)} | {fmt(r.achieved_rate)} | {fmt(r.p50)} "
        f"| {fmt(r.p95)} | {fmt(r.p99)} | {fmt(r.max)} | {r.lost} | {r.duplicated} | {stored} "
        f"| {r.error_count} | {fmt(r.server_cpu_pct, 0)} | {fmt(r.db_cpu_pct, 0)} "
        f"| {fmt(r.server_rss_mb, 0)} | {fmt(r.client_cpu_pct, 0)} | {fmt(r.ping_p99)} |"
    )


def ratio(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b) or b <= 0:
        return math.nan
    return a / b


def final_line(
    chat: StepResult, py: StepResult | None, node: StepResult | None, lost: int, dup: int
) -> str:
    """The last line of every load run (ratios of chatapp's p50 to each relay's p50)."""
    a = ratio(chat.p50, py.p50) if py else math.nan
    b = ratio(chat.p50, node.p50) if node else math.nan
    return (
        f"delivery p50 {fmt(chat.p50)} ms p99 {fmt(chat.p99)} ms; "
        f"vs python-socketio relay ×{fmt(a)}; vs Node Socket.IO relay ×{fmt(b)}; "
        f"lost {lost} duplicated {dup}"
    )
