"""POST requests: an Open311 service request becomes a case through the same intake as the pages.

`prepare` checks everything that can be checked without writing — the service and the key's right to
it, the attribute answers, the texts, the reporter's name and phone, and the location: lat/long (WGS-84,
or GCJ-02/BD-09 with the `crs` extension), else address_string through the standard address base
(events.address_location: a confident match, or 待定位 at the centre of what the text made certain),
else one of our region codes (`region_code` extension) — inside the city and inside the key's zone.
`create` then calls events.intake.create_event (validation again, locate, deadline, routing data,
audit, rollup) as the key's viewer, in the caller's transaction.

Deferred keys (Open311 "batch"): `accept` stores the prepared request under a token in the same
checks' transaction and answers at once; `process_token` creates the case just after the answer (the
routes run it as a background task; `manage.py open311 process-pending` retries any left, e.g. after
a restart). The stored payload is cleared once the case exists.

Personal data (first/last name, phone) goes onto the case's reporter fields and nowhere else; an email
address is accepted for compatibility but not stored (the case has no field for it and the phone is
the contact the centre uses); device_id, account_id and media_url are kept on the 上报 log row only.
media_url is checked as text and never fetched.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from events.actions import default_title
from events.address_location import locate_address
from events.intake import IntakeError, check_coordinates, check_phone, create_event, default_locator, to_wgs84
from geo.crs import UnknownCRS, normalize_crs
from open311.keys import ClientKey
from open311.parse import Params
from open311.policy import Policy
from open311.services import BadAttribute, Service, allowed, check_attributes, get_services
from store.db import session_scope
from store.models import Open311Token, Region
from store.region_codes import ancestor_at, is_within, level_of, level_or_none
from store.scope import PermissionDenied

LEVELS = ("city", "district", "street", "community", "grid")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.I)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
_IDENT = re.compile(r"^[\w\-.:@]{1,100}$")


class Refused(Exception):
    """The request cannot be accepted. `status` 400 (bad input) or 403 (not allowed for this key)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Prepared:
    """A checked request, ready for create_event (JSON-safe, so a deferred one can wait in a token)."""

    service_code: str
    category: str
    subcategory: str
    title: str
    description: str
    lon: float            # WGS-84
    lat: float
    codes: dict
    pending: bool
    priority: str
    address: str | None
    reporter_name: str | None
    reporter_phone: str | None
    detail: dict
    account_id: str | None

    def notice(self, case_id: int | None = None) -> str:
        head = f"已受理，案件编号 {case_id}，等待指挥中心立案" if case_id else "已受理，稍后生成案件编号（请凭 token 查询）"
        return head + ("；地址未能匹配标准地址库，案件待人工定位" if self.pending else "")


def _service(params: Params, key: ClientKey) -> Service:
    code = params.get("service_code")
    if code is None:
        raise Refused(400, "缺少 service_code")
    service = get_services().get(code)
    if service is None:
        raise Refused(400, f"未知的 service_code「{code[:20]}」")
    if not allowed(list(key.categories or []), service):
        raise Refused(403, f"此 api_key 无权提交「{service.group}/{service.name}」类诉求")
    return service


def _texts(params: Params, policy: Policy) -> dict:
    description = params.get("description") or ""
    if len(description) > policy.max_description_chars:
        raise Refused(400, f"description 过长（最多 {policy.max_description_chars} 字）")
    media = params.get("media_url")
    if media is not None and (len(media) > policy.max_media_url_chars or not _URL.match(media)):
        raise Refused(400, f"media_url 应为 http(s) 网址，且不超过 {policy.max_media_url_chars} 个字符")
    email = params.get("email")
    if email is not None and (len(email) > 254 or not _EMAIL.match(email)):
        raise Refused(400, "email 格式不正确")
    for name in ("device_id", "account_id"):
        value = params.get(name)
        if value is not None and not _IDENT.match(value):
            raise Refused(400, f"{name} 只能包含字母、数字和 _ - . : @，且不超过 100 个字符")
    first, last = params.get("first_name") or "", params.get("last_name") or ""
    # Chinese names are family name first, without a space; Latin names keep the usual order.
    name = (last + first) if re.search(r"[\u4e00-\u9fff]", last + first) else " ".join(p for p in (first, last) if p)
    if len(name) > 50:
        raise Refused(400, "first_name 与 last_name 合计过长（最多 50 字）")
    try:
        phone = check_phone(params.get("phone"))
    except IntakeError as exc:
        raise Refused(400, str(exc)) from None
    address = params.get("address_string")
    if address is not None and len(address) > 200:
        raise Refused(400, "address_string 过长（最多 200 字）")
    return {"description": description, "media_url": media, "reporter_name": name or None, "reporter_phone": phone,
            "address": address, "device_id": params.get("device_id"), "account_id": params.get("account_id")}


def _region_centre(session: Session, code: str) -> tuple[float, float, dict]:
    row = session.execute(select(Region.centroid_lon, Region.centroid_lat).where(Region.code == code)).first()
    if row is None or row[0] is None:
        raise Refused(400, f"region_code {code} 不是本市的区划")
    codes = {lv: (ancestor_at(code, lv) if LEVELS.index(lv) <= LEVELS.index(level_of(code)) else None)
             for lv in LEVELS}
    return float(row[0]), float(row[1]), codes


def _location(session: Session, params: Params, key: ClientKey, address: str | None) -> tuple:
    """(lon, lat, codes, pending, detail) in WGS-84, inside the city; Refused otherwise."""
    lat, lon = params.get("lat"), params.get("long")
    if (lat is None) != (lon is None):
        raise Refused(400, "lat 与 long 须同时提供")
    if lat is not None:
        try:
            crs = normalize_crs(params.get("crs") or "wgs84")
            x, y = check_coordinates(lon, lat)
            wlon, wlat = to_wgs84(x, y, crs)
        except (UnknownCRS, IntakeError) as exc:
            raise Refused(400, str(exc)) from None
        codes = default_locator(session).locate(wlon, wlat)
        if not codes or not codes.get("city"):
            raise Refused(400, f"位置（{x:.6f}, {y:.6f}，{crs}）不在本市范围内")
        return wlon, wlat, codes, False, ({"crs": crs} if crs != "wgs84" else {})
    if address is not None:
        place = locate_address(session, address, key.zone_code)
        if place is None:
            raise Refused(400, "本市尚未导入区划，无法按地址定位")
        return place.lon, place.lat, place.codes, place.pending, place.detail()
    region = params.get("region_code")
    if region is not None:
        if level_or_none(region) is None:
            raise Refused(400, f"region_code「{region[:20]}」格式不正确")
        lon_, lat_, codes = _region_centre(session, region)
        return lon_, lat_, codes, codes.get("grid") is None, {"region_code": region}
    raise Refused(400, "缺少位置：请提供 lat/long、address_string 或 region_code 之一")


def prepare(session: Session, key: ClientKey, params: Params, policy: Policy | None = None) -> Prepared:
    """Every check of a request, nothing written. Refused(400 / 403) with a Chinese message."""
    policy = policy or Policy.from_settings()
    service = _service(params, key)
    try:
        answers = check_attributes(service, params.attributes)
    except BadAttribute as exc:
        raise Refused(400, str(exc)) from None
    texts = _texts(params, policy)
    lon, lat, codes, pending, located = _location(session, params, key, texts["address"])
    deepest = next(codes[lv] for lv in reversed(LEVELS) if codes.get(lv))
    if not is_within(deepest, key.zone_code):
        raise Refused(403, "位置不在此 api_key 的受理范围内")
    description = texts["description"]
    if answers:
        description = (description + "\n" if description else "") + "\n".join(f"【附加信息】{k}：{v}" for k, v in answers)
    where = texts["address"] or ("待定位" if pending else "")
    detail = {"open311": {k: v for k, v in (("key", key.name), ("service_code", service.code),
                                            ("account_id", texts["account_id"]), ("device_id", texts["device_id"]),
                                            ("media_url", texts["media_url"])) if v}, **located}
    return Prepared(service.code, service.group, service.name, default_title(service.name, where)[:200], description,
                    float(lon), float(lat), {lv: codes.get(lv) for lv in LEVELS}, bool(pending),
                    "urgent" if service.item.urgent else "normal", texts["address"], texts["reporter_name"],
                    texts["reporter_phone"], detail, texts["account_id"])


def create(session: Session, key: ClientKey, prepared: Prepared, *, client: str | None = None,
           now: datetime | None = None) -> int:
    """The case for a prepared request, in the caller's transaction; returns its id."""
    try:
        event = create_event(
            session, source=key.source, category=prepared.category, subcategory=prepared.subcategory,
            title=prepared.title, description=prepared.description, lon=prepared.lon, lat=prepared.lat,
            priority=prepared.priority, reporter_name=prepared.reporter_name,
            reporter_phone=prepared.reporter_phone, actor=key.viewer(), address=prepared.address,
            codes=prepared.codes, now=now, client=client, location_pending=prepared.pending, detail=prepared.detail)
    except IntakeError as exc:
        raise Refused(400, str(exc)) from None
    except PermissionDenied as exc:
        raise Refused(403, str(exc)) from None
    return event.id


# -- deferred creation ----------------------------------------------------------------------------------
def accept(session: Session, key: ClientKey, prepared: Prepared, now: datetime | None = None) -> tuple[str, int]:
    """Store a prepared request under a new token (caller's transaction); returns the token and its row id."""
    token = secrets.token_urlsafe(24)
    row = Open311Token(token=token, key_id=key.id, status="pending", payload=asdict(prepared),
                       created_at=now or datetime.now(timezone.utc))
    session.add(row)
    session.flush()
    return token, row.id


def process_token(engine: Engine, token_id: int, key: ClientKey, *, client: str | None = None) -> str:
    """Create the case of one pending token in its own transaction; 'created' or 'failed' (the reason
    is kept on the token). A token another process already took is left alone ('skipped')."""
    with session_scope(engine) as session:
        row = session.get(Open311Token, token_id, with_for_update=True)
        if row is None or row.status != "pending" or not row.payload:
            return "skipped"
        prepared = Prepared(**row.payload)
    now = datetime.now(timezone.utc)
    try:
        with session_scope(engine) as session:
            took = session.execute(update(Open311Token).where(Open311Token.id == token_id,
                                                              Open311Token.status == "pending")
                                   .values(status="created", processed_at=now)).rowcount
            if took != 1:
                return "skipped"
            case_id = create(session, key, prepared, client=client, now=now)
            session.execute(update(Open311Token).where(Open311Token.id == token_id)
                            .values(event_id=case_id, payload=None))
    except Refused as exc:
        return fail_token(engine, token_id, str(exc))
    return "created"


def fail_token(engine: Engine, token_id: int, message: str) -> str:
    """Give up on a pending token, keeping why (its payload, with any personal data, goes)."""
    with session_scope(engine) as session:
        session.execute(update(Open311Token).where(Open311Token.id == token_id, Open311Token.status == "pending")
                        .values(status="failed", message=message[:300], payload=None,
                                processed_at=datetime.now(timezone.utc)))
    return "failed"


def token_state(session: Session, key: ClientKey, token: str) -> Open311Token | None:
    """The key's own token (another key's token is as unknown as a made-up one)."""
    return session.scalars(select(Open311Token).where(Open311Token.token == token,
                                                      Open311Token.key_id == key.id)).first()
