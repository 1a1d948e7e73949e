"""What needs attention now in a scope: overdue cases, open alerts, open incidents, and the ticker of
the newest events and alerts for the wall."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from events.workflow import OPEN_STATUSES, STATUS_NAMES
from store.models import Alert, Event, Incident, Sensor
from store.period import local_tz
from store.scope import Viewer, apply_scope, in_region


@dataclass(frozen=True)
class Item:
    kind: str        # 超期案件 / 预警 / 突发事件 / 新事件
    text: str
    at: datetime
    page: str        # page file that handles it
    ref: str         # object id


def _fmt(t: datetime) -> str:
    return t.astimezone(local_tz()).strftime("%m-%d %H:%M")


def overdue_events(session: Session, viewer: Viewer, code: str, now: datetime, limit: int = 10) -> list[Item]:
    stmt = (apply_scope(select(Event.id, Event.title, Event.status, Event.stage_deadline), Event, viewer)
            .where(in_region(Event, code), Event.status.in_(OPEN_STATUSES), Event.stage_deadline < now)
            .order_by(Event.stage_deadline).limit(limit))
    return [Item("超期案件", f"#{r.id} {r.title}（{STATUS_NAMES.get(r.status, r.status)}，"
                 f"超期 {_hours(now - r.stage_deadline)}）", r.stage_deadline, "pages/dispatch.py", str(r.id))
            for r in session.execute(stmt)]


def _hours(delta: timedelta) -> str:
    h = delta.total_seconds() / 3600
    return f"{h:.0f} 小时" if h < 48 else f"{h / 24:.0f} 天"


def open_alerts(session: Session, viewer: Viewer, code: str, limit: int = 10) -> list[Item]:
    stmt = (apply_scope(select(Alert.id, Alert.message, Alert.severity, Alert.opened_at, Sensor.name)
                        .join(Sensor, Sensor.id == Alert.sensor_id), Alert, viewer)
            .where(in_region(Alert, code), Alert.status == "open")
            .order_by(Alert.opened_at.desc()).limit(limit))
    return [Item("预警", f"【{r.severity}】{r.name}：{r.message}（{_fmt(r.opened_at)}）", r.opened_at,
                 "pages/environment.py", str(r.id)) for r in session.execute(stmt)]


def open_incidents(session: Session, viewer: Viewer, code: str, limit: int = 10) -> list[Item]:
    stmt = (apply_scope(select(Incident.id, Incident.title, Incident.level, Incident.type, Incident.opened_at),
                        Incident, viewer)
            .where(in_region(Incident, code), Incident.status != "closed")
            .order_by(Incident.opened_at.desc()).limit(limit))
    return [Item("突发事件", f"{r.level}级 {r.type}：{r.title}（{_fmt(r.opened_at)}）", r.opened_at,
                 "pages/emergency.py", str(r.id)) for r in session.execute(stmt)]


def urgent_items(session: Session, viewer: Viewer, code: str, now: datetime, limit: int = 8) -> list[Item]:
    """Incidents first, then alerts, then overdue cases: the order a duty officer works them."""
    return (open_incidents(session, viewer, code, limit) + open_alerts(session, viewer, code, limit)
            + overdue_events(session, viewer, code, now, limit))


def ticker(session: Session, viewer: Viewer, code: str, limit: int = 12) -> list[Item]:
    """Newest reported events and opened alerts, newest first."""
    ev = (apply_scope(select(Event.id, Event.title, Event.source, Event.reported_at), Event, viewer)
          .where(in_region(Event, code)).order_by(Event.reported_at.desc()).limit(limit))
    items = [Item("新事件", f"[{r.source}] {r.title}", r.reported_at, "pages/dispatch.py", str(r.id))
             for r in session.execute(ev)]
    items += open_alerts(session, viewer, code, limit)
    return sorted(items, key=lambda i: i.at, reverse=True)[:limit]
