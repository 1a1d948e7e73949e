"""Stage time limits (config.toml [sla.*]) and the deadlines they give.

Ordinary cases count working hours (weekdays, office hours minus lunch, minus holidays, plus 调休
make-up workdays: the calendar of store.worktime); urgent cases count calendar hours (DOMAIN.md §3).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import settings
# The calendar itself is shared with supervision (escalation counts overdue working hours); events
# callers keep reading it from here.
from store.worktime import WorkCalendar, WorkdayConfig, get_calendar  # noqa: F401

STAGES = ("register", "dispatch", "handle", "verify")
STAGE_NAMES = {"register": "立案", "dispatch": "派遣", "handle": "处置", "verify": "核查结案"}
PRIORITIES = ("urgent", "normal")
PRIORITY_NAMES = {"urgent": "紧急", "normal": "一般"}


# -- SLA table -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limit:
    hours: float
    calendar: bool  # True: calendar hours (urgent); False: working hours

    @property
    def label(self) -> str:
        return f"{self.hours:g} 小时" if self.calendar else f"{self.hours:g} 个工作小时"


def stage_limit(category: str, subcategory: str | None, priority: str, stage: str,
                cfg: dict | None = None) -> Limit:
    """The limit for one stage: [sla."大类/小类"] over [sla."大类"] over [sla.default]."""
    if stage not in STAGES:
        raise ValueError(f"未知的环节 {stage!r}")
    if priority not in PRIORITIES:
        raise ValueError(f"紧急程度应为 紧急 或 一般，收到 {priority!r}")
    sla = (cfg or settings.get_settings()).get("sla", {})
    for key in (f"{category}/{subcategory}" if subcategory else None, category, "default"):
        if key and stage in sla.get(key, {}):
            entry = sla[key][stage]
            if priority not in entry:
                continue
            hours = float(entry[priority])
            if hours <= 0:
                raise ValueError(f"[sla.{key}] {stage}.{priority} 必须为正数")
            return Limit(hours, calendar=(priority == "urgent"))
    raise ValueError(f"config.toml 缺少 [sla.default] 中 {stage}.{priority} 的时限")


def add_limit(start: datetime, limit: Limit, calendar: WorkCalendar | None = None) -> datetime:
    if limit.calendar:
        return start + timedelta(hours=limit.hours)
    return (calendar or get_calendar()).add_working_hours(start, limit.hours)


def warning_fraction(cfg: dict | None = None) -> float:
    fraction = float((cfg or settings.get_settings()).get("sla_warning", {}).get("fraction", 0.8))
    if not 0 < fraction < 1:
        raise ValueError("[sla_warning].fraction 必须在 0 与 1 之间")
    return fraction


@dataclass(frozen=True)
class StageDeadline:
    deadline: datetime
    warn_at: datetime
    limit: Limit


def stage_deadline(start: datetime, category: str, subcategory: str | None, priority: str, stage: str,
                   *, extra_hours: float = 0.0) -> StageDeadline:
    """Deadline of `stage` started at `start`, and when it turns "about to be overdue"."""
    limit = stage_limit(category, subcategory, priority, stage)
    limit = Limit(limit.hours + extra_hours, limit.calendar)
    frac = warning_fraction()
    return StageDeadline(add_limit(start, limit), add_limit(start, Limit(limit.hours * frac, limit.calendar)), limit)


def extend(deadline: datetime, hours: float, priority: str) -> datetime:
    """Move a deadline by an approved extension, in the case's own kind of hours."""
    return add_limit(deadline, Limit(hours, calendar=(priority == "urgent")))


def deadline_state(now: datetime, warn_at: datetime | None, deadline: datetime | None) -> str | None:
    """'overdue' / 'warning' / 'ok', or None when the stage has no deadline (closed, 挂账...)."""
    if deadline is None:
        return None
    if now > deadline:
        return "overdue"
    if warn_at is not None and now >= warn_at:
        return "warning"
    return "ok"


DEADLINE_STATE_NAMES = {"overdue": "已超期", "warning": "即将超期", "ok": "正常", None: "—"}


def remaining_text(now: datetime, deadline: datetime | None) -> str:
    """Calendar time left (or overdue by), for display: "剩 3小时20分" / "超期 1天2小时"."""
    if deadline is None:
        return "—"
    delta = deadline - now
    late = delta.total_seconds() < 0
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rem = divmod(minutes, 1440)
    hours, mins = divmod(rem, 60)
    if days:
        text = f"{days}天{hours}小时"
    elif hours:
        text = f"{hours}小时{mins}分"
    else:
        text = f"{mins}分"
    return f"超期 {text}" if late else f"剩 {text}"
