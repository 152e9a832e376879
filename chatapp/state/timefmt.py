"""Times and day labels in the viewer's time zone, computed on the server.

The browser tells its IANA zone and hour cycle once (one ``Intl`` read, see ChatState); the server
formats every bubble's time and day separator, so the client needs no date code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, slots=True)
class Clock:
    zone: ZoneInfo
    h12: bool = False

    @staticmethod
    @lru_cache(maxsize=256)
    def parse(spec: str) -> Clock:
        """``"Europe/Berlin|h23"`` as the browser reports it; anything unknown is UTC, 24 h."""
        name, _, cycle = (spec or "").partition("|")
        try:
            zone = ZoneInfo(name[:64]) if name else ZoneInfo("UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        return Clock(zone, cycle in ("h11", "h12"))

    def local(self, at_ms: int) -> datetime:
        return datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(self.zone)

    def today(self) -> date:
        return datetime.now(self.zone).date()

    def time(self, at_ms: int) -> str:
        d = self.local(at_ms)
        if self.h12:
            hour = d.hour % 12 or 12
            return f"{hour}:{d.minute:02d} {'AM' if d.hour < 12 else 'PM'}"
        return f"{d.hour:02d}:{d.minute:02d}"

    def day_key(self, at_ms: int) -> date:
        return self.local(at_ms).date()

    def day_label(self, at_ms: int) -> str:
        d = self.day_key(at_ms)
        today = self.today()
        if d == today:
            return "Today"
        if d == today - timedelta(days=1):
            return "Yesterday"
        return f"{DAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}"

    def short_when(self, at_ms: int) -> str:
        """Sidebar: the time for today, the date before."""
        if not at_ms:
            return ""
        d = self.day_key(at_ms)
        if d == self.today():
            return self.time(at_ms)
        return f"{d.day} {MONTHS[d.month - 1]}"
