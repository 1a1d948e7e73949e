"""Creating a case: from a grid officer's form, a hotline/patrol import, a sensor alert.

`create_event` validates everything first (classification, coordinates and their system, location
inside the city — and inside the officer's own zone for a grid officer —, reporter data, photos), then
writes the case, its first log row (上报), the audit row and the rollup, all in the caller's session.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth import audit
from auth.roles import can
from events import deadlines, photos as photo_store, rollup
from events.catalog import UnknownCategory, get_catalog
from events.workflow import REPORT_ACTION
from store.models import Event, EventTransition
from store.scope import PermissionDenied, Viewer, is_within

SOURCES = ("网格员", "12345", "巡查", "视频", "传感器")
PRIORITY_ALIASES = {"urgent": "urgent", "紧急": "urgent", "加急": "urgent", "特急": "urgent",
                    "normal": "normal", "一般": "normal", "普通": "normal", "": "normal"}
_PHONE = re.compile(r"^\+?[0-9][0-9\- ]{5,18}[0-9]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
FUTURE_TOLERANCE = timedelta(minutes=10)


class IntakeError(ValueError):
    """A report was refused; the message says which field and why (Chinese)."""


def normalize_source(source: str) -> str:
    s = str(source or "").strip()
    if s not in SOURCES:
        raise IntakeError(f"未知的案件来源「{s}」，可选：{'、'.join(SOURCES)}")
    return s


def normalize_priority(priority: str | None) -> str:
    p = str(priority or "").strip().lower()
    if p not in PRIORITY_ALIASES:
        raise IntakeError(f"紧急程度应为「紧急」或「一般」，收到「{priority}」")
    return PRIORITY_ALIASES[p]


def check_phone(phone: str | None) -> str | None:
    if phone is None or str(phone).strip() == "":
        return None
    p = re.sub(r"\s+", "", str(phone).strip())
    if p.endswith(".0") and p[:-2].isdigit():  # Excel turned the number into a float
        p = p[:-2]
    if not _PHONE.match(p):
        raise IntakeError(f"联系电话「{phone}」格式不正确")
    return p


def check_id_no(id_no: str | None) -> str | None:
    """Resident ID (GB 11643): 18 characters with a valid check digit, or the old 15-digit form."""
    if id_no is None or str(id_no).strip() == "":
        return None
    s = str(id_no).strip().upper()
    if len(s) == 15 and s.isdigit():
        return s
    if len(s) == 18 and s[:17].isdigit() and (s[17].isdigit() or s[17] == "X"):
        if _ID_CHECK[sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS)) % 11] == s[17]:
            return s
        raise IntakeError("身份证号校验位不正确")
    raise IntakeError("身份证号应为 18 位（或旧版 15 位）")


def check_coordinates(lon, lat) -> tuple[float, float]:  # noqa: ANN001
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise IntakeError(f"坐标「{lon}, {lat}」不是数字") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise IntakeError(f"坐标「{lon}, {lat}」不是有效数字")
    # China is at lon 73–135, lat 3–54: a "latitude" over 90 with a small "longitude" means swapped columns.
    if abs(y) > 90 and abs(x) <= 90 and abs(y) <= 180:
        raise IntakeError(f"坐标「{lon}, {lat}」疑似经纬度颠倒（经度应在前）")
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise IntakeError(f"坐标「{lon}, {lat}」超出经纬度范围")
    return x, y


def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    from geo.crs import UnknownCRS, to_wgs84 as convert

    try:
        return convert(lon, lat, crs)
    except UnknownCRS as exc:
        raise IntakeError(str(exc)) from None


def default_locator(session: Session):  # noqa: ANN201
    from geo.locate import get_locator

    return get_locator(session.get_bind())


def create_event(session: Session, *, source: str, category: str, subcategory: str, title: str,
                 description: str = "", lon: float, lat: float, crs: str = "wgs84", priority: str = "normal",
                 reporter_name: str | None = None, reporter_phone: str | None = None,
                 reporter_id_no: str | None = None, source_id: str | None = None,
                 reported_at: datetime | None = None, actor: Viewer | None = None, locator=None,  # noqa: ANN001
                 photos=None, address: str | None = None, codes: dict | None = None,  # noqa: ANN001
                 now: datetime | None = None, client: str | None = None, audit_action: str | None = "event_report",
                 ) -> Event:
    """Create one case in the caller's transaction and return it (flushed, with its id).

    `actor` None means a system channel (import, sensor); a Viewer must hold report_event, and a grid
    officer may only report inside their own zone. `codes` (already located region codes) lets bulk
    importers skip locating again. Raises IntakeError / UnknownCategory / PermissionDenied /
    photos.PhotoError with a Chinese message; nothing is written then.
    """
    now = now or datetime.now(timezone.utc)
    if actor is not None and not can(actor.role, "report_event"):
        raise PermissionDenied("您的角色无权上报案件")
    source = normalize_source(source)
    try:
        item = get_catalog().find(category, subcategory)
    except UnknownCategory as exc:
        raise IntakeError(str(exc)) from None
    priority = normalize_priority(priority)
    title = str(title or "").strip()
    if not title:
        raise IntakeError("标题不能为空")
    if len(title) > 200:
        raise IntakeError("标题不能超过 200 字")
    description = str(description or "").strip()
    name = str(reporter_name).strip() if reporter_name not in (None, "") else None
    if name and len(name) > 50:
        raise IntakeError("反映人姓名过长")
    phone = check_phone(reporter_phone)
    id_no = check_id_no(reporter_id_no)
    source_id = str(source_id).strip() if source_id not in (None, "") else None
    if source_id and len(source_id) > 64:
        raise IntakeError("来源编号不能超过 64 个字符")
    if reported_at is None:
        reported_at = now
    if reported_at.tzinfo is None:
        raise IntakeError("上报时间缺少时区")
    if reported_at > now + FUTURE_TOLERANCE:
        raise IntakeError("上报时间晚于当前时间")

    x, y = check_coordinates(lon, lat)
    wlon, wlat = to_wgs84(x, y, crs)
    if codes is None:
        codes = (locator or default_locator(session)).locate(wlon, wlat)
    if not codes or not codes.get("city"):
        raise IntakeError(f"位置（{x:.6f}, {y:.6f}，{crs}）不在本市范围内")
    if actor is not None:
        deepest = codes.get("grid") or codes.get("community") or codes.get("street") or codes.get("district") \
            or codes["city"]
        if not is_within(deepest, actor.zone_code):
            raise PermissionDenied("该位置不在您的管辖网格内，不能在此上报")
    if source_id and session.execute(
        select(Event.id).where(Event.source == source, Event.source_id == source_id)
    ).scalar_one_or_none() is not None:
        raise IntakeError(f"来源编号「{source_id}」已存在（来源 {source}），不能重复导入")

    dl = deadlines.stage_deadline(reported_at, item.category, item.name, priority, "register")
    event = Event(
        source=source, source_id=source_id, kind=item.kind, category=item.category, subcategory=item.name,
        priority=priority, title=title, description=description, address=(address or None), lon=wlon, lat=wlat,
        reporter_name=name, reporter_phone=phone, reporter_id_no=id_no, status="reported",
        reporter_user=actor.username if actor else None, reported_at=reported_at,
        stage_deadline=dl.deadline, stage_warn_at=dl.warn_at, rework_count=0, return_count=0, version=1,
        updated_at=now,
    )
    event.set_region(codes)
    session.add(event)
    session.flush()
    if photos:
        event.photos = photo_store.store_photos(session, photos, event_id=event.id)
    who = actor.username if actor else f"system:{source}"
    session.add(EventTransition(event_id=event.id, action=REPORT_ACTION.id, from_status=None, to_status="reported",
                                actor=who, actor_role=actor.role if actor else "system", at=reported_at,
                                comment=description[:500], attachments=event.photos or None,
                                detail={"crs": crs, "source_id": source_id} if source_id or crs != "wgs84" else None))
    if audit_action:
        audit.record(session, actor or who, audit_action, object_type="event", object_id=event.id, client=client,
                     scope=codes.get("grid") or codes.get("city"),
                     detail={"source": source, "category": item.category, "subcategory": item.name})
    rollup.bump(session, event, reported_at, reported=1)
    session.flush()
    return event


def photo_limit() -> int:
    return photo_store.max_photos()
