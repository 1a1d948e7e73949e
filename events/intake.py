"""Creating a case: from a grid officer's form, a hotline/patrol import, a sensor alert.

`create_event` validates everything first (classification, coordinates and their system, location
inside the city — and inside the officer's own zone for a grid officer —, reporter data, photos), then
writes the case, its first log row (上报), the audit row and the rollup, all in the caller's session.
Every case, whatever its channel, is checked for 重复上报 here (events.duplicates): the open cases of the
same 小类 nearby are kept on it as suspects until an operator links it to one or confirms it as new.
"""
from __future__ import annotations

import math
import re
import unicodedata
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth import audit
from auth.roles import can
from events import deadlines, duplicates, photos as photo_store, rollup, status_cohort
from events.catalog import UnknownCategory, get_catalog
from events.limits import too_long
from events.workflow import REPORT_ACTION
from geo.crs import UnknownCRS, to_wgs84 as convert
from geo.locate import get_locator
from store import outbox
from store.models import Event, EventTransition
from store.region_codes import is_within
from store.scope import PermissionDenied, Viewer

SOURCES = ("网格员", "12345", "巡查", "视频", "传感器")
# Sources only the system itself files under (not offered to imports or API keys): tasks handed down by
# the upper platform (exchange.tasks), which keep the upper task id as the case's source_id.
SYSTEM_SOURCES = ("上级交办",)
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
    if s not in SOURCES and s not in SYSTEM_SOURCES:
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
    try:
        return convert(lon, lat, crs)
    except UnknownCRS as exc:
        raise IntakeError(str(exc)) from None


def default_locator(session: Session):  # noqa: ANN201
    return get_locator(session.get_bind())


_TEXT_LABELS = {"title": "标题", "description": "描述", "reporter_name": "反映人姓名", "address": "地址",
                "source_id": "来源编号"}


def _refuse_control_characters(**fields: object) -> None:
    """NUL and other control characters are refused (PostgreSQL cannot store NUL in text, and
    SQLite would keep it and show garbage): the same answer on both backends, before any write.
    Only the description may span lines (tab, CR and LF)."""
    for key, value in fields.items():
        if value is None:
            continue
        allowed = "\t\r\n" if key == "description" else ""
        if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in str(value)):
            raise IntakeError(f"{_TEXT_LABELS[key]}含有不可见的控制字符（如 NUL），请删除后重试")


def create_event(session: Session, *, source: str, category: str, subcategory: str, title: str,
                 description: str = "", lon: float, lat: float, crs: str = "wgs84", priority: str = "normal",
                 reporter_name: str | None = None, reporter_phone: str | None = None,
                 reporter_id_no: str | None = None, source_id: str | None = None,
                 reported_at: datetime | None = None, actor: Viewer | None = None, locator=None,  # noqa: ANN001
                 photos=None, address: str | None = None, codes: dict | None = None,  # noqa: ANN001
                 now: datetime | None = None, client: str | None = None, audit_action: str | None = "event_report",
                 location_pending: bool = False, detail: dict | None = None,
                 client_token: str | None = None) -> Event:
    """Create one case in the caller's transaction and return it (flushed, with its id).

    `actor` None means a system channel (import, sensor); a Viewer must hold report_event, and a grid
    officer may only report inside their own zone. `codes` (already located region codes) lets bulk
    importers skip locating again. `location_pending` marks a case whose address could not be placed
    (geo.geocode): lon/lat and `codes` are then the provisional centre of the region the text named,
    and the duty officer places it (events.placement). `detail` is kept on the 上报 log row (e.g. the
    geocoding result, an API client's media link). Raises IntakeError / UnknownCategory /
    PermissionDenied / photos.PhotoError with a Chinese message; nothing is written then.
    `client_token` is a form's one-time token (see case_for_token), stored unique on the case.
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
    description = str(description or "").strip()
    address = str(address).strip() if address not in (None, "") else None
    for field, value in (("title", title), ("description", description), ("address", address),
                         ("reporter_name", reporter_name), ("source_id", source_id)):
        problem = too_long(field, str(value).strip() if value is not None else None)
        if problem:
            raise IntakeError(problem)
    token = check_token(client_token)
    _refuse_control_characters(title=title, description=description, reporter_name=reporter_name,
                               address=address, source_id=source_id)
    name = str(reporter_name).strip() if reporter_name not in (None, "") else None
    phone = check_phone(reporter_phone)
    id_no = check_id_no(reporter_id_no)
    source_id = str(source_id).strip() if source_id not in (None, "") else None
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

    # A provisional location (待定位) says nothing about what is nearby: checked once it is placed.
    suspects = [] if location_pending else duplicates.find_candidates(
        session, category=item.category, subcategory=item.name, lon=wlon, lat=wlat, at=reported_at)
    dl = deadlines.stage_deadline(reported_at, item.category, item.name, priority, "register")
    event = Event(
        source=source, source_id=source_id, kind=item.kind, category=item.category, subcategory=item.name,
        priority=priority, title=title, description=description, address=(address or None), lon=wlon, lat=wlat,
        reporter_name=name, reporter_phone=phone, reporter_id_no=id_no, status="reported",
        reporter_user=actor.username if actor else None, reported_at=reported_at,
        stage_deadline=dl.deadline, stage_warn_at=dl.warn_at, rework_count=0, return_count=0, version=1,
        updated_at=now, location_pending=bool(location_pending), client_token=token,
        duplicate_suspects=[c.brief() for c in suspects] or None,
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
                                detail=_report_detail(crs, source_id, detail)))
    if audit_action:
        audit.record(session, actor or who, audit_action, object_type="event", object_id=event.id, client=client,
                     scope=codes.get("grid") or codes.get("city"),
                     detail={"source": source, "category": item.category, "subcategory": item.name})
    rollup.bump(session, event, reported_at, reported=1)
    status_cohort.add(session, event)
    session.flush()
    # The new case as an outbox record, in this transaction (the exchange worker sends it on).
    outbox.record_object(session, "case.report", event, actor=who, at=now)
    return event


def _report_detail(crs: str, source_id: str | None, extra: dict | None) -> dict | None:
    out = {"crs": crs, "source_id": source_id} if source_id or crs != "wgs84" else {}
    out.update(extra or {})
    return out or None


_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def check_token(token: str | None) -> str | None:
    """A form token as issued by the page (16–64 URL-safe characters), or None when there is none."""
    if token in (None, ""):
        return None
    if not _TOKEN.match(str(token)):
        raise IntakeError("表单标识无效，请刷新页面后重新上报")
    return str(token)


def case_for_token(session: Session, token: str | None, actor: Viewer | None) -> Event | None:
    """The case an earlier submit of the same form created (a double tap, a resent request), or None.
    A token is only ever the reporter's own: anyone else's is refused rather than revealing the case."""
    token = check_token(token)
    if token is None:
        return None
    event = session.execute(select(Event).where(Event.client_token == token)).scalar_one_or_none()
    if event is not None and event.reporter_user != (actor.username if actor else None):
        raise IntakeError("表单标识无效，请刷新页面后重新上报")
    return event


def report_problems(*, category: str | None, subcategory: str | None, lon: float | None, lat: float | None,
                    description: str | None, title: str | None = None, address: str | None = None,
                    reporter_name: str | None = None, reporter_phone: str | None = None) -> dict[str, str]:
    """What a grid officer's report lacks or gets wrong, one Chinese message per field (empty: nothing).

    Required: 大类 and 小类 (what it is), a location (a point picked on the map or typed coordinates — the
    address alone cannot place a case), and a 问题描述 (what is wrong there). The title may stay empty (it
    is then made from the 小类 and the address); the address, photos and reporter are optional. Every
    text field is held to events.limits."""
    out: dict[str, str] = {}
    if not str(category or "").strip():
        out["category"] = "请选择问题大类"
    if not str(subcategory or "").strip():
        out["subcategory"] = "请选择问题小类"
    elif "category" not in out:
        try:
            get_catalog().find(category, subcategory)
        except UnknownCategory as exc:
            out["subcategory"] = str(exc)
    if lon is None or lat is None:
        out["location"] = "请在「网格地图」上点选位置，或填写经度和纬度"
    else:
        try:
            check_coordinates(lon, lat)
        except IntakeError as exc:
            out["location"] = str(exc)
    if not str(description or "").strip():
        out["description"] = "请填写问题描述（现场看到了什么）"
    for field, value in (("title", title), ("description", description), ("address", address),
                         ("reporter_name", reporter_name)):
        problem = too_long(field, str(value).strip() if value else None)
        if problem:
            out[field] = problem
    if reporter_phone:
        try:
            check_phone(reporter_phone)
        except IntakeError as exc:
            out["reporter_phone"] = str(exc)
    return out


def photo_limit() -> int:
    return photo_store.max_photos()
