"""Reporting periods: a month, a year, a day or an explicit date range, in local (Asia/Shanghai) dates.

Text forms (used in URLs and imports): "2026-10" (month), "2026" (year), "2026-10-05" (day),
"2026-10-01..2026-10-31" (range, inclusive).
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import settings


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.get_settings()["app"]["timezone"])


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Period:
    start: date  # inclusive, local date
    end: date    # inclusive, local date
    grain: str   # "day" / "month" / "year" / "range"

    # -- parsing and text -------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> "Period":
        text = (text or "").strip()
        try:
            if re.fullmatch(r"\d{4}", text):
                y = int(text)
                return cls(date(y, 1, 1), date(y, 12, 31), "year")
            if re.fullmatch(r"\d{4}-\d{2}", text):
                y, m = map(int, text.split("-"))
                return cls.month(y, m)
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                d = date.fromisoformat(text)
                return cls(d, d, "day")
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}", text):
                a, b = (date.fromisoformat(x) for x in text.split(".."))
                if b < a:
                    raise ValueError
                return cls(a, b, "range")
        except ValueError:
            pass
        raise ValueError(f"无法识别的时间段 {text!r}：应为 2026-10、2026、2026-10-05 或 2026-10-01..2026-10-31")

    @classmethod
    def month(cls, year: int, month: int) -> "Period":
        return cls(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]), "month")

    @classmethod
    def current_month(cls, today: date | None = None) -> "Period":
        today = today or datetime.now(local_tz()).date()
        return cls.month(today.year, today.month)

    @property
    def key(self) -> str:
        if self.grain == "year":
            return f"{self.start.year}"
        if self.grain == "month":
            return f"{self.start:%Y-%m}"
        if self.grain == "day":
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def label(self) -> str:
        if self.grain == "year":
            return f"{self.start.year}年"
        if self.grain == "month":
            return f"{self.start.year}年{self.start.month}月"
        if self.grain == "day":
            return f"{self.start.year}年{self.start.month}月{self.start.day}日"
        return f"{self.start.isoformat()} 至 {self.end.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    # -- comparison periods -----------------------------------------------
    def previous(self) -> "Period":
        """环比: the period of the same kind immediately before."""
        if self.grain == "month":
            p = _add_months(self.start, -1)
            return Period.month(p.year, p.month)
        if self.grain == "year":
            return Period(date(self.start.year - 1, 1, 1), date(self.start.year - 1, 12, 31), "year")
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1), self.grain)

    def year_ago(self) -> "Period":
        """同比: the same period one year earlier."""
        if self.grain == "month":
            return Period.month(self.start.year - 1, self.start.month)
        return Period(_add_months(self.start, -12), _add_months(self.end, -12), self.grain)

    def clipped_to(self, today: date) -> "Period":
        """The part of the period up to `today` (month-to-date figures)."""
        return self if self.end <= today else Period(self.start, max(self.start, today), self.grain)

    # -- UTC bounds for queries -------------------------------------------
    def utc_bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC for timestamp columns."""
        tz = local_tz()
        a = datetime.combine(self.start, time(0), tzinfo=tz).astimezone(timezone.utc)
        b = datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=tz).astimezone(timezone.utc)
        return a, b

    def months(self) -> list[str]:
        """The YYYY-MM keys the period touches (for monthly external statistics)."""
        out, d = [], date(self.start.year, self.start.month, 1)
        while d <= self.end:
            out.append(f"{d:%Y-%m}")
            d = _add_months(d, 1)
        return out
