"""The working-time calendar ([workday] in config.toml): weekdays, office hours minus lunch, minus
holidays, plus 调休 make-up workdays.

A sorted table of working intervals with cumulative working seconds, so one implementation serves a
single deadline (the workflow), a million (the demo generator, numpy) and "how many working hours is
this case overdue" (supervision's escalation rules): add = two binary searches. It lives with the
store's other calendar facts (store.period) because more than one domain counts working time.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

import settings


def _parse_hhmm(text: str) -> time:
    try:
        hh, mm = str(text).split(":")
        return time(int(hh), int(mm))
    except (ValueError, TypeError):
        raise ValueError(f"[workday] 时间格式应为 HH:MM，收到 {text!r}") from None


@dataclass(frozen=True)
class WorkdayConfig:
    start: time
    end: time
    lunch_start: time | None
    lunch_end: time | None
    holidays: frozenset[date]
    workdays: frozenset[date]
    tz: str = "Asia/Shanghai"

    @classmethod
    def from_settings(cls, cfg: dict | None = None) -> "WorkdayConfig":
        cfg = cfg or settings.get_settings()
        wd = cfg.get("workday", {})
        lunch_s, lunch_e = wd.get("lunch_start"), wd.get("lunch_end")
        out = cls(
            start=_parse_hhmm(wd.get("start", "08:30")), end=_parse_hhmm(wd.get("end", "17:30")),
            lunch_start=_parse_hhmm(lunch_s) if lunch_s else None,
            lunch_end=_parse_hhmm(lunch_e) if lunch_e else None,
            holidays=frozenset(date.fromisoformat(str(d)) for d in wd.get("holidays", [])),
            workdays=frozenset(date.fromisoformat(str(d)) for d in wd.get("workdays", [])),
            tz=cfg.get("app", {}).get("timezone", "Asia/Shanghai"),
        )
        if not out.start < out.end:
            raise ValueError("[workday] 上班时间必须早于下班时间")
        if out.lunch_start and not (out.start <= out.lunch_start < out.lunch_end <= out.end):
            raise ValueError("[workday] 午休时间必须在上班时间之内")
        return out

    def is_workday(self, d: date) -> bool:
        if d in self.workdays:
            return True
        if d in self.holidays:
            return False
        return d.weekday() < 5

    def day_spans(self) -> list[tuple[time, time]]:
        if self.lunch_start and self.lunch_end:
            return [(self.start, self.lunch_start), (self.lunch_end, self.end)]
        return [(self.start, self.end)]


class WorkCalendar:
    """Working intervals as epoch seconds, grown on demand. Not thread-safe to grow, so every growth
    builds new arrays and swaps them in one assignment (readers see either the old or the new table)."""

    def __init__(self, config: WorkdayConfig):
        self.config = config
        self._tz = ZoneInfo(config.tz)
        self._first: date | None = None
        self._last: date | None = None
        self._tables = (np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))  # starts, ends, cum_start, cum_end

    # -- table ---------------------------------------------------------------------------------------
    def _build(self, first: date, last: date) -> None:
        starts, ends = [], []
        d = first
        while d <= last:
            if self.config.is_workday(d):
                for a, b in self.config.day_spans():
                    starts.append(datetime.combine(d, a, self._tz).timestamp())
                    ends.append(datetime.combine(d, b, self._tz).timestamp())
            d += timedelta(days=1)
        s = np.asarray(starts, dtype=float)
        e = np.asarray(ends, dtype=float)
        lengths = e - s
        cum_end = np.cumsum(lengths)
        cum_start = cum_end - lengths
        self._tables = (s, e, cum_start, cum_end)  # swapped in one assignment, before the range says so
        self._first, self._last = first, last

    def _cover(self, t_min: float, t_max: float) -> None:
        """Make sure the table spans [t_min, t_max] with margin (a year on each side, then doubling)."""
        lo = datetime.fromtimestamp(t_min, self._tz).date() - timedelta(days=7)
        hi = datetime.fromtimestamp(t_max, self._tz).date() + timedelta(days=7)
        if self._first is not None and self._first <= lo and self._last >= hi:
            return
        first = min(lo, self._first or lo).replace(month=1, day=1)
        last = max(hi, self._last or hi).replace(month=12, day=31)
        self._build(first, last)

    # -- arithmetic (arrays of epoch seconds) ---------------------------------------------------------
    @staticmethod
    def _cum(t: np.ndarray, tables: tuple) -> np.ndarray:
        s, e, cs, _ = tables
        i = np.searchsorted(s, t, side="right") - 1
        inside = np.clip(t - s[np.maximum(i, 0)], 0.0, (e - s)[np.maximum(i, 0)])
        return np.where(i < 0, 0.0, cs[np.maximum(i, 0)] + inside)

    def add_seconds_array(self, starts: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        """Epoch seconds `starts` plus `seconds` of working time → epoch seconds (vectorised).
        A start outside working time counts from the next working moment; a zero amount returns the
        start unchanged; a deadline that lands exactly on a closing time stays on that closing time."""
        starts = np.asarray(starts, dtype=float)
        seconds = np.broadcast_to(np.asarray(seconds, dtype=float), starts.shape)
        if starts.size == 0:
            return starts.copy()
        if np.any(seconds < 0):
            raise ValueError("时限不能为负数")
        # Enough table for the longest limit: at most ~3 working hours per calendar day on average,
        # even across the longest holiday runs.
        self._cover(float(starts.min()), float(starts.max()) + float(seconds.max()) * 8 + 40 * 86400)
        tables = self._tables  # one snapshot: another thread may swap in a larger table meanwhile
        s, _, cs, ce = tables
        target = self._cum(starts, tables) + seconds
        j = np.searchsorted(ce, target, side="left")
        j = np.minimum(j, len(ce) - 1)
        out = s[j] + (target - cs[j])
        return np.where(seconds == 0, starts, out)

    def working_seconds_between_array(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        if a.size == 0:
            return a.copy()
        self._cover(float(min(a.min(), b.min())), float(max(a.max(), b.max())))
        tables = self._tables
        return self._cum(b, tables) - self._cum(a, tables)

    # -- scalar wrappers ------------------------------------------------------------------------------
    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        _aware(start)
        out = self.add_seconds_array(np.array([start.timestamp()]), np.array([hours * 3600.0]))[0]
        return datetime.fromtimestamp(round(float(out), 6), timezone.utc)

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        _aware(a), _aware(b)
        return float(self.working_seconds_between_array(np.array([a.timestamp()]), np.array([b.timestamp()]))[0]) / 3600

    def is_working_time(self, t: datetime) -> bool:
        _aware(t)
        self._cover(t.timestamp(), t.timestamp())
        s, e, _, _ = self._tables
        i = bisect_right(s.tolist(), t.timestamp()) - 1
        return i >= 0 and t.timestamp() < e[i]


def _aware(t: datetime) -> None:
    if t.tzinfo is None:
        raise ValueError("时间必须带时区（naive datetime）")


@lru_cache(maxsize=8)
def _calendar_for(config: WorkdayConfig) -> WorkCalendar:
    return WorkCalendar(config)


def get_calendar() -> WorkCalendar:
    """The calendar for the current settings (cached per [workday] content)."""
    return _calendar_for(WorkdayConfig.from_settings())
