"""What needs attention now in a scope — open incidents, open alerts, overdue cases — and the wall's
ticker of the newest events and alerts. Built on the domains' scoped reads; this module only merges
and words them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency import queries as emergency_queries
from events import queries as event_queries
from sensors import queries as sensor_queries
from store.models import Event
from store.period import local_tz
from store.scope import Viewer, apply_scope, in_region


@dataclass(frozen=True)
class Item:
    kind: str        # 突发事件 / 预警 / 超期案件 / 新事件
    text: str
    at: datetime | None
    page: str        # page file that handles it
    params: dict     # query parameters that open the object on that page


def _fmt(t: datetime) -> str:
    return t.astimezone(local_tz()).strftime("%m-%d %H:%M")


def open_incidents(session: Session, viewer: Viewer, code: str, limit: int) -> list[Item]:
    frame = emergency_queries.incidents(session, viewer, code, limit=limit)
    return [Item("突发事件", f"{r.level}级 {r.type}：{r.title}（{_fmt(r.opened_at)}）", r.opened_at,
                 "pages/emergency_command.py", {"incident": str(r.id)}) for r in frame.itertuples()]


def open_alerts(session: Session, viewer: Viewer, code: str, limit: int) -> list[Item]:
    frame = sensor_queries.open_alerts(session, viewer, code, limit=limit)
    return [Item("预警", f"【{r.severity}】{r.sensor} · {r.rule}（{_fmt(r.opened_at)}）", r.opened_at,
                 "pages/environment.py", {}) for r in frame.itertuples()]


def overdue_cases(session: Session, viewer: Viewer, code: str, now: datetime, limit: int) -> list[Item]:
    rows = event_queries.overdue_list(session, viewer, code, limit=limit, now=now)
    return [Item("超期案件", f"#{r['id']} {r['title']}（{r['status_name']}，{r['remaining']}）", None,
                 "pages/dispatch.py", {"case": str(r["id"])}) for r in rows]


def urgent_items(session: Session, viewer: Viewer, code: str, now: datetime, limit: int = 8) -> list[Item]:
    """Incidents first, then alerts, then overdue cases: the order a duty officer works them."""
    return (open_incidents(session, viewer, code, limit) + open_alerts(session, viewer, code, limit)
            + overdue_cases(session, viewer, code, now, limit))


def ticker(session: Session, viewer: Viewer, code: str, limit: int = 12) -> list[Item]:
    """Newest reported events and opened alerts, newest first."""
    stmt = (apply_scope(select(Event.id, Event.title, Event.source, Event.reported_at), Event, viewer)
            .where(in_region(Event, code)).order_by(Event.reported_at.desc()).limit(limit))
    items = [Item("新事件", f"[{r.source}] {r.title}", r.reported_at, "pages/dispatch.py", {"case": str(r.id)})
             for r in session.execute(stmt)]
    items += open_alerts(session, viewer, code, limit)
    return sorted(items, key=lambda i: i.at, reverse=True)[:limit]
