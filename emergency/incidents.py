"""Incidents: open (from a map point, a sensor alert's proposal or an escalated grid event), log notes,
change level, close. Every write checks the `emergency_command` capability, is located once at write
time, and writes an incident-log row and an audit row in the caller's transaction.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auth import audit
from emergency import catalog
from emergency.resources import require_command
from geo.crs import to_wgs84
from geo.locate import get_locator
from store import outbox
from store.models import Alert, Dispatch, Event, Incident, IncidentLog, Sensor, utcnow
from store.scope import Viewer, ensure_visible
from store.region_codes import is_within


class AlreadyOpened(Exception):
    """The alert or event already has an incident (message in Chinese, with its id)."""

    def __init__(self, message: str, incident_id: int | None):
        self.incident_id = incident_id
        super().__init__(message)


# The longest text each incident field takes (characters), stated on the forms as their max_chars.
TEXT_LIMITS = {"title": 100, "note": 1000, "reason": 500, "summary": 1000}
_TEXT_LABELS = {"title": "事件名称", "note": "记录内容", "reason": "调整理由", "summary": "处置小结"}


def check_text(field: str, value: str | None) -> str:
    """`value` stripped, or ValueError (Chinese) when it is longer than the field's limit."""
    text = (value or "").strip()
    if len(text) > TEXT_LIMITS[field]:
        raise ValueError(f"{_TEXT_LABELS[field]}不能超过 {TEXT_LIMITS[field]} 字（现有 {len(text)} 字）")
    return text


def _check(incident_type: str, level: str) -> None:
    problems = []
    if incident_type not in catalog.INCIDENT_TYPES:
        problems.append(f"未知的事件类型“{incident_type}”，可选：{'、'.join(catalog.INCIDENT_TYPES)}")
    if level not in catalog.LEVELS:
        problems.append(f"响应级别应为 I、II、III、IV 之一，收到“{level}”")
    if problems:
        raise ValueError("；".join(problems))


def _log(session: Session, incident_id: int, actor: Viewer, kind: str, message: str, at: datetime | None = None) -> None:
    session.add(IncidentLog(incident_id=incident_id, actor=actor.username, kind=kind, message=message,
                            at=at or utcnow()))


def open_incident(session: Session, *, incident_type: str, level: str, lon: float, lat: float, actor: Viewer,
                  title: str | None = None, crs: str = "wgs84", commander: str | None = None, notes: str = "",
                  source_alert_id: int | None = None, source_event_id: int | None = None,
                  opened_at: datetime | None = None, locator=None) -> Incident:  # noqa: ANN001
    """Open an incident at a point (e.g. a map click). The point must lie in the city and in the
    actor's zone."""
    require_command(actor)
    _check(incident_type, level)
    title = check_text("title", title)
    lon, lat = to_wgs84(float(lon), float(lat), crs)
    locator = locator or get_locator(session)
    codes = locator.locate(lon, lat)
    if codes is None:
        raise ValueError(f"位置（{lon:.5f}, {lat:.5f}）不在本市范围内")
    deepest = codes.get("grid") or codes.get("community") or codes.get("street") or codes.get("district") or codes["city"]
    if not is_within(deepest, actor.zone_code):
        raise ValueError("该位置不在您的管辖范围内")
    now = opened_at or utcnow()
    inc = Incident(type=incident_type, level=level, lon=lon, lat=lat, status="open", opened_at=now,
                   title=(title or "").strip() or f"{incident_type}事件",
                   commander=commander or actor.display_name or actor.username, notes=notes or "",
                   source_alert_id=source_alert_id, source_event_id=source_event_id)
    inc.set_region(codes)
    session.add(inc)
    try:
        session.flush()
    except IntegrityError:
        # Last line of defence (callers lock the source row first): the UNIQUE source columns.
        raise AlreadyOpened(f"该{'预警' if source_alert_id else '网格事件'}已开设应急事件", None) from None
    origin = ("预警 #%d" % source_alert_id) if source_alert_id else ("网格事件 #%d" % source_event_id) if source_event_id else "地图选点"
    _log(session, inc.id, actor, "open", f"开设{incident_type}{catalog.LEVEL_NAMES[level]}事件（来源：{origin}）", now)
    audit.record(session, actor, "emergency_open", object_type="incident", object_id=inc.id,
                 detail={"type": incident_type, "level": level, "lon": lon, "lat": lat,
                         "alert_id": source_alert_id, "event_id": source_event_id})
    outbox.record_object(session, "incident.open", inc, actor=actor.username, at=now)  # same transaction
    return inc


def open_from_alert(session: Session, alert_id: int, actor: Viewer, *, incident_type: str | None = None,
                    level: str | None = None, title: str | None = None, locator=None) -> Incident:  # noqa: ANN001
    """Open the incident a sensor alert proposes (`Alert.proposal`, written by sensors/). The commander
    may override type and level. Marks the proposal accepted and links the alert to the incident."""
    require_command(actor)
    # Lock the alert row (PostgreSQL; SQLite writers are serialised already), so that of two commanders
    # opening the same alert at once the second waits and then sees the first one's incident.
    alert = session.scalars(select(Alert).where(Alert.id == alert_id).with_for_update()
                            .execution_options(populate_existing=True)).one_or_none()
    if alert is None:
        raise ValueError(f"预警 #{alert_id} 不存在")
    ensure_visible(actor, alert)
    if alert.incident_id is not None:
        raise AlreadyOpened(f"该预警已开设应急事件 #{alert.incident_id}", alert.incident_id)
    proposal = alert.proposal or {}
    if incident_type is None and proposal.get("incident_type"):
        incident_type = catalog.canonical_type(proposal["incident_type"])
        if incident_type is None:
            raise ValueError(f"预警建议的事件类型“{proposal['incident_type']}”不在应急事件类型中，请选择事件类型")
    level = level or proposal.get("level")
    if not incident_type or not level:
        raise ValueError("该预警没有建议的事件类型和级别，请选择后再开设")
    lon, lat = proposal.get("lon"), proposal.get("lat")
    if lon is None or lat is None:
        sensor = session.get(Sensor, alert.sensor_id)
        lon, lat = sensor.lon, sensor.lat
    inc = open_incident(session, incident_type=incident_type, level=level, lon=lon, lat=lat, actor=actor,
                        title=title or (proposal.get("title") or alert.message)[:TEXT_LIMITS["title"]],
                        source_alert_id=alert.id,
                        notes=proposal.get("reason") or alert.message, locator=locator)
    linked = session.execute(update(Alert).where(Alert.id == alert.id, Alert.incident_id.is_(None))
                             .values(incident_id=inc.id, proposal_status="accepted")
                             .execution_options(synchronize_session=False)).rowcount
    if linked != 1:
        raise AlreadyOpened("该预警刚被他人开设为应急事件", None)
    session.expire(alert)
    return inc


def open_from_event(session: Session, event_id: int, actor: Viewer, *, incident_type: str, level: str,
                    title: str | None = None, locator=None) -> Incident:  # noqa: ANN001
    """Escalate a grid event (网格事件) into an emergency incident at the event's location."""
    require_command(actor)
    event = session.scalars(select(Event).where(Event.id == event_id).with_for_update()
                            .execution_options(populate_existing=True)).one_or_none()
    if event is None:
        raise ValueError(f"网格事件 #{event_id} 不存在")
    ensure_visible(actor, event)
    if session.scalar(select(exists().where(Incident.source_event_id == event_id))):
        existing = session.scalar(select(Incident.id).where(Incident.source_event_id == event_id))
        raise AlreadyOpened(f"该网格事件已升级为应急事件 #{existing}", existing)
    return open_incident(session, incident_type=incident_type, level=level, lon=event.lon, lat=event.lat,
                         actor=actor, title=title or event.title[:TEXT_LIMITS["title"]], source_event_id=event.id,
                         notes=f"由网格事件 #{event.id}（{event.category}/{event.subcategory}）升级：{event.description}",
                         locator=locator)


def _get(session: Session, incident_id: int, actor: Viewer) -> Incident:
    inc = session.get(Incident, incident_id)
    if inc is None:
        raise ValueError(f"事件 #{incident_id} 不存在")
    ensure_visible(actor, inc)
    return inc


def add_note(session: Session, incident_id: int, actor: Viewer, message: str) -> None:
    require_command(actor)
    message = check_text("note", message)
    if not message:
        raise ValueError("记录内容不能为空")
    _get(session, incident_id, actor)
    _log(session, incident_id, actor, "note", message)
    audit.record(session, actor, "emergency_note", object_type="incident", object_id=incident_id)


def change_level(session: Session, incident_id: int, level: str, actor: Viewer, reason: str = "") -> None:
    """升级/降级 the response level (guarded by the version the row had when read)."""
    require_command(actor)
    reason = check_text("reason", reason)
    inc = _get(session, incident_id, actor)
    _check(inc.type, level)
    old, version = inc.level, inc.version
    if old == level:
        return
    moved = session.execute(update(Incident).where(Incident.id == incident_id, Incident.version == version,
                                                   Incident.status != "closed")
                            .values(level=level, version=Incident.version + 1)
                            .execution_options(synchronize_session=False)).rowcount
    session.expire(inc)
    if moved != 1:
        raise ValueError("事件已关闭或刚被他人修改，请刷新后重试")
    word = "升级" if catalog.LEVELS.index(level) < catalog.LEVELS.index(old) else "降级"
    _log(session, incident_id, actor, "level", f"响应级别{word}：{old} → {level}" + (f"。{reason}" if reason else ""))
    audit.record(session, actor, "emergency_level", object_type="incident", object_id=incident_id,
                 detail={"from": old, "to": level, "reason": reason or None})
    outbox.record_object(session, "incident.level", inc, actor=actor.username,  # same transaction
                         extra={"from": old, "to": level, "reason": reason or None})


def close_incident(session: Session, incident_id: int, actor: Viewer, summary: str = "") -> None:
    """Close once every dispatch is released (units may still be on their way back)."""
    require_command(actor)
    summary = check_text("summary", summary)
    _get(session, incident_id, actor)
    active = session.scalar(select(exists().where(Dispatch.incident_id == incident_id, Dispatch.status == "active")))
    if active:
        raise ValueError("仍有未释放的调派，请先释放资源再关闭事件")
    now = utcnow()
    moved = session.execute(update(Incident).where(Incident.id == incident_id, Incident.status != "closed")
                            .values(status="closed", closed_at=now, version=Incident.version + 1)
                            .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise ValueError("事件已关闭")
    _log(session, incident_id, actor, "close", "关闭事件" + (f"：{summary}" if summary else ""), now)
    audit.record(session, actor, "emergency_close", object_type="incident", object_id=incident_id,
                 detail={"summary": summary or None})
    inc = session.get(Incident, incident_id)
    session.refresh(inc)  # the conditional UPDATE above bypassed the identity map
    outbox.record_object(session, "incident.close", inc, actor=actor.username, at=now,  # same transaction
                         extra={"summary": summary or None})
