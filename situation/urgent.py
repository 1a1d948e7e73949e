"""What needs attention now in a scope — open incidents, open alerts, overdue cases — and the wall's
ticker of the newest events and alerts. Built on the domains' scoped reads; this module only merges
and words them."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from emergency.views import EmergencyViews
from events.deadlines import deadline_state
from events.statuses import OPEN_STATUSES, STATUS_NAMES
from events.views import EventViews
from sensors.views import SensorViews
from store.period import local_tz
from store.scope import Viewer
from supervision.views import SupervisionViews


@dataclass(frozen=True)
class Item:
    kind: str        # 突发事件 / 预警 / 超期案件 / 新事件 / 已超期 / a case state's name
    text: str
    at: datetime | None
    page: str        # page file that handles it
    params: dict     # query parameters that open the object on that page
    tone: str = ""   # CSS class of the kind on the wall's ticker (new, open, overdue, done, alert)
    now: datetime | None = None  # when the item was read (for `when`)

    @property
    def when(self) -> str:
        """Its time as the ticker shows it: HH:MM today, MM-DD HH:MM before."""
        if self.at is None:
            return ""
        local = self.at.astimezone(local_tz())
        today = (self.now or datetime.now(timezone.utc)).astimezone(local_tz()).date()
        return f"{local:%H:%M}" if local.date() == today else f"{local:%m-%d %H:%M}"


def _fmt(t: datetime) -> str:
    return t.astimezone(local_tz()).strftime("%m-%d %H:%M")


def open_incidents(session: Session, viewer: Viewer, code: str, limit: int) -> list[Item]:
    frame = EmergencyViews(session, viewer).incidents(code, limit=limit)
    return [Item("突发事件", f"{r.level}级 {r.type}：{r.title}（{_fmt(r.opened_at)}）", r.opened_at,
                 "pages/emergency_command.py", {"incident": str(r.id)}) for r in frame.itertuples()]


def open_alerts(session: Session, viewer: Viewer, code: str, limit: int) -> list[Item]:
    frame = SensorViews(session, viewer).open_alerts(code, limit=limit)
    return [Item("预警", f"【{r.severity}】{r.sensor} · {r.rule}（{_fmt(r.opened_at)}）", r.opened_at,
                 "pages/environment.py", {}) for r in frame.itertuples()]


def overdue_cases(session: Session, viewer: Viewer, code: str, now: datetime, limit: int) -> list[Item]:
    rows = EventViews(session, viewer).overdue_list(code, limit=limit, now=now)
    return [Item("超期案件", f"#{r['id']} {r['title']}（{r['status_name']}，{r['remaining']}）", None,
                 "pages/dispatch.py", {"case": str(r["id"])}) for r in rows]


def escalated_cases(session: Session, viewer: Viewer, code: str, now: datetime, limit: int) -> list[Item]:
    """Overdue cases the rules raised to this scope's level (supervision.escalation)."""
    rows = SupervisionViews(session, viewer).escalated_cases(code, now=now, limit=limit)
    return [Item("超期升级", f"#{r['id']} {r['title']}（升级至{r['escalation_name']}，时限 {r['deadline']}）", None,
                 "pages/dispatch.py", {"case": str(r["id"])}) for r in rows]


def hotspots(session: Session, viewer: Viewer, code: str, limit: int) -> list[Item]:
    """The latest 研判 run's hotspots and surges, with the cases behind each on the 督办研判 page."""
    rows = SupervisionViews(session, viewer).hotspots(code, limit=limit)
    return [Item("研判", f"{r['region_name']} · {r['topic']}：本周 {r['observed']} 件，基线每周 {r['expected']:.1f} 件"
                       f"（{r['kind_name']}）", None, "pages/supervision_desk.py", {"hotspot": str(r["id"])})
            for r in rows]


def urgent_items(session: Session, viewer: Viewer, code: str, now: datetime, limit: int = 8) -> list[Item]:
    """Incidents first, then alerts, then cases escalated to this level, the day's hotspots, then overdue
    cases: the order a duty officer works them."""
    return (open_incidents(session, viewer, code, limit) + open_alerts(session, viewer, code, limit)
            + escalated_cases(session, viewer, code, now, limit) + hotspots(session, viewer, code, limit)
            + overdue_cases(session, viewer, code, now, limit))


# A reported case is 新事件 on the wall's ticker this long; after that it shows where it stands.
NEW_FOR = timedelta(minutes=30)


def case_state_word(status: str, reported_at: datetime, stage_warn_at: datetime | None,
                    stage_deadline: datetime | None, now: datetime) -> tuple[str, str]:
    """(word, tone) of a case on the ticker: 已超期 past its stage deadline, 新事件 while younger than
    NEW_FOR, else its state's name (待立案, 处置中 …; 已结案 …). The tone is the CSS class: overdue, new,
    open or done."""
    if status not in OPEN_STATUSES:
        return STATUS_NAMES.get(status, status), "done"
    if deadline_state(now, stage_warn_at, stage_deadline) == "overdue":
        return "已超期", "overdue"
    if now - reported_at < NEW_FOR:
        return "新事件", "new"
    return STATUS_NAMES.get(status, status), "open"


def ticker(session: Session, viewer: Viewer, code: str, limit: int = 12, now: datetime | None = None) -> list[Item]:
    """Newest reported events and opened alerts, newest first, each labelled by its age and state."""
    now = now or datetime.now(timezone.utc)
    items = []
    for r in EventViews(session, viewer).newest(code, limit=limit):
        word, tone = case_state_word(r["status"], r["reported_at"], r["stage_warn_at"], r["stage_deadline"], now)
        items.append(Item(word, f"[{r['source']}] {r['title']}", r["reported_at"], "pages/dispatch.py",
                          {"case": str(r["id"])}, tone=tone, now=now))
    items += [replace(i, tone="alert", now=now) for i in open_alerts(session, viewer, code, limit)]
    return sorted(items, key=lambda i: i.at, reverse=True)[:limit]
