"""Import emergency resources and warehouse inventories from CSV/Excel: validated, all-or-nothing.

Every row is checked first; if any is bad, `ImportFailed` lists each bad row by line and reason
(Chinese) and nothing is written. Otherwise new rows are inserted and existing ids updated (master
data only — status, version and the incident link of a unit out on a task are left alone), with one
audit row, in the caller's transaction. Coordinates may be WGS-84, GCJ-02 or BD-09 (`crs`), and are
stored as WGS-84 with their region codes from `geo.locate`.

Reading and the error report are shared with the other importers (sensors.tabular).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from auth import audit
from auth.roles import can
from emergency import catalog
from geo.crs import UnknownCRS, normalize_crs, to_wgs84_array
from geo.locate import get_locator
from sensors.tabular import ImportFailed, RowError, parse_float, read_rows
from store.models import InventoryItem, Resource, utcnow
from store.scope import PermissionDenied, Viewer

RESOURCE_ALIASES = {
    "编号": "id", "资源编号": "id", "类型": "kind", "资源类型": "kind", "名称": "name", "资源名称": "name",
    "经度": "lon", "纬度": "lat", "人数": "headcount", "人员数": "headcount", "容量": "capacity",
    "容纳人数": "capacity", "当前安置": "occupancy", "安置人数": "occupancy", "面积": "area_m2",
    "面积(m2)": "area_m2", "面积（平方米）": "area_m2", "装备": "equipment", "地址": "address", "联系人": "contact",
    "电话": "phone", "联系电话": "phone", "状态": "status",
}
INVENTORY_ALIASES = {
    "仓库编号": "resource_id", "储备库编号": "resource_id", "物资": "item", "物资名称": "item", "单位": "unit",
    "数量": "quantity", "库存": "quantity", "库存数量": "quantity",
}
IMPORT_STATUSES = {"": "available", "available": "available", "待命": "available",
                   "out_of_service": "out_of_service", "停用": "out_of_service"}
_PHONE = re.compile(r"^[0-9+\-() ]{5,20}$")
_EQUIP_SPLIT = re.compile(r"[;；、,，]")
_EQUIP_PAIR = re.compile(r"^\s*(.+?)\s*(?:[:：×xX*]\s*(\S+))?\s*$")


@dataclass(frozen=True)
class ImportSummary:
    inserted: int
    updated: int

    def describe(self) -> str:
        return f"新增 {self.inserted} 条，更新 {self.updated} 条"


def _check_actor(actor: Viewer | str) -> None:
    if isinstance(actor, Viewer) and not can(actor.role, "import_data"):
        raise PermissionDenied("无权导入数据")


def _int(text: str, what: str, errors: list[str], *, minimum: int = 0) -> int | None:
    if text == "":
        return None
    value = parse_float(text)
    if value is None or not float(value).is_integer() or value < minimum:
        errors.append(f"{what}应为不小于 {minimum} 的整数，收到“{text}”")
        return None
    return int(value)


def parse_equipment(text: str) -> tuple[dict[str, int] | None, str | None]:
    """"冲锋舟:2;排涝泵×4、救生圈" → {"冲锋舟": 2, "排涝泵": 4, "救生圈": 1}, or an error message."""
    if not text:
        return None, None
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in _EQUIP_SPLIT.split(text))):
        m = _EQUIP_PAIR.match(part)
        name, count = m.group(1), m.group(2)
        if count is None:
            out[name] = out.get(name, 0) + 1
            continue
        value = parse_float(count)
        if value is None or not value.is_integer() or value <= 0:
            return None, f"装备“{part}”的数量应为正整数"
        out[name] = out.get(name, 0) + int(value)
    return out or None, None


def _missing_columns(header: list[str], required: tuple[str, ...], aliases: dict[str, str]) -> list[RowError]:
    names = {v: k for k, v in aliases.items()}
    return [RowError(1, f"缺少列“{names.get(c, c)}”（{c}）") for c in required if c not in header]


def import_resources(session: Session, path: str | Path, *, crs: str = "wgs84", actor: Viewer | str = "manage.py",
                     locator=None) -> ImportSummary:  # noqa: ANN001
    _check_actor(actor)
    try:
        crs = normalize_crs(crs)
    except UnknownCRS as exc:
        raise ImportFailed([RowError(0, str(exc))], "资源导入") from None
    header, rows = read_rows(path, RESOURCE_ALIASES)
    missing = _missing_columns(header, ("id", "kind", "name", "lon", "lat"), RESOURCE_ALIASES)
    if missing:
        raise ImportFailed(missing, "资源导入")
    kinds = catalog.resource_kinds()
    m2_per_person = catalog.shelter_m2_per_person()
    existing = {r.id: r for r in session.execute(
        select(Resource.id, Resource.kind, Resource.status).where(Resource.id.in_([r.get("id", "") for _, r in rows])))}
    with_stock = set(session.scalars(select(InventoryItem.resource_id).distinct()))

    errors: list[RowError] = []
    parsed: list[tuple[int, dict]] = []
    seen: dict[str, int] = {}
    lons, lats = [], []
    for line, raw in rows:
        bad: list[str] = []
        rid = raw.get("id", "")
        if not rid:
            bad.append("编号不能为空")
        elif len(rid) > 40:
            bad.append("编号不能超过 40 个字符")
        elif rid in seen:
            bad.append(f"编号 {rid} 与第 {seen[rid]} 行重复")
        else:
            seen[rid] = line
        kind = raw.get("kind", "")
        if kind not in kinds:
            bad.append(f"未知的资源类型“{kind}”，可选：{'、'.join(kinds)}")
        name = raw.get("name", "")
        if not name or len(name) > 100:
            bad.append("名称不能为空且不超过 100 个字符")
        lon, lat = parse_float(raw.get("lon", "")), parse_float(raw.get("lat", ""))
        if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            bad.append(f"经纬度无效（经度“{raw.get('lon', '')}”，纬度“{raw.get('lat', '')}”）")
            lon = lat = math.nan
        headcount = _int(raw.get("headcount", ""), "人数", bad)
        capacity = _int(raw.get("capacity", ""), "容量", bad, minimum=1)
        occupancy = _int(raw.get("occupancy", ""), "当前安置人数", bad)
        area = parse_float(raw.get("area_m2", "")) if raw.get("area_m2") else None
        if raw.get("area_m2") and (area is None or area <= 0):
            bad.append(f"面积应为正数，收到“{raw.get('area_m2')}”")
        if kind == catalog.SHELTER and capacity is None:
            if area and area > 0:
                capacity = int(area // m2_per_person)
            else:
                bad.append("应急避难场所须填写容量（人）或面积（平方米）")
        if capacity is not None and occupancy is not None and occupancy > capacity:
            bad.append(f"当前安置人数 {occupancy} 超过容量 {capacity}")
        equipment, equip_error = parse_equipment(raw.get("equipment", ""))
        if equip_error:
            bad.append(equip_error)
        phone = raw.get("phone", "")
        if phone and not _PHONE.match(phone):
            bad.append(f"电话格式不正确：“{phone}”")
        status = IMPORT_STATUSES.get(raw.get("status", ""))
        if status is None:
            bad.append(f"导入时状态只能为“待命”或“停用”，收到“{raw.get('status')}”")
        old = existing.get(rid)
        if old is not None:
            if status == "out_of_service" and old.status not in ("available", "out_of_service"):
                bad.append(f"{rid} 正在执行任务（{catalog.status_label(old.status)}），不能导入为停用")
            if old.kind == catalog.WAREHOUSE and kind != catalog.WAREHOUSE and rid in with_stock:
                bad.append(f"{rid} 是有库存的物资储备库，不能改为其他类型")
        if bad:
            errors += [RowError(line, b) for b in bad]
        lons.append(lon)
        lats.append(lat)
        parsed.append((line, {
            "id": rid, "kind": kind, "name": name, "headcount": headcount, "capacity": capacity,
            "occupancy": occupancy, "area_m2": area, "equipment": equipment, "address": raw.get("address") or None,
            "contact": raw.get("contact") or None, "phone": phone or None, "status": status,
        }))
    if not rows:
        errors.append(RowError(2, "文件没有数据行"))
    # Locate every row with a valid position in one call (coordinates converted to WGS-84 first).
    lon_w, lat_w = to_wgs84_array(np.array(lons, dtype=float), np.array(lats, dtype=float), crs)
    locator = locator or get_locator(session)
    valid = np.isfinite(lon_w) & np.isfinite(lat_w)
    codes = [None] * len(parsed)
    if valid.any():
        found = locator.locate_many(lon_w[valid], lat_w[valid])
        for i, c in zip(np.flatnonzero(valid), found):
            codes[i] = c
    for i, (line, rec) in enumerate(parsed):
        if valid[i] and codes[i] is None:
            errors.append(RowError(line, f"坐标（{lons[i]}, {lats[i]}）不在本市范围内"
                                         + ("" if crs == "wgs84" else f"（按 {crs} 换算后）")))
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: e.line), "资源导入")

    now = utcnow()
    new_rows, upd_rows = [], []
    for i, (_line, rec) in enumerate(parsed):
        rec = dict(rec, lon=round(float(lon_w[i]), 7), lat=round(float(lat_w[i]), 7), updated_at=now,
                   **{f"{lv}_code": codes[i].get(lv) for lv in ("city", "district", "street", "community", "grid")})
        if rec["id"] in existing:
            if existing[rec["id"]].status not in ("available", "out_of_service"):
                rec.pop("status")  # a unit out on a task keeps its live status
            upd_rows.append(rec)
        else:
            new_rows.append(dict(rec, version=1))
    with session.begin_nested():  # all rows or none, even if the caller catches an error
        if new_rows:
            session.execute(insert(Resource), new_rows)
        for rec in upd_rows:
            session.execute(update(Resource).where(Resource.id == rec["id"])
                            .values(**{k: v for k, v in rec.items() if k != "id"}, version=Resource.version + 1)
                            .execution_options(synchronize_session=False))
    audit.record(session, actor, "emergency_import", object_type="resources", object_id=Path(path).name,
                 detail={"inserted": len(new_rows), "updated": len(upd_rows), "crs": crs})
    return ImportSummary(len(new_rows), len(upd_rows))


def import_inventory(session: Session, path: str | Path, *, actor: Viewer | str = "manage.py") -> ImportSummary:
    """Set warehouse stock levels: one row per (warehouse, item) with unit and quantity on hand."""
    _check_actor(actor)
    header, rows = read_rows(path, INVENTORY_ALIASES)
    missing = _missing_columns(header, ("resource_id", "item", "quantity"), INVENTORY_ALIASES)
    if missing:
        raise ImportFailed(missing, "库存导入")
    ids = {r.get("resource_id", "") for _, r in rows}
    warehouses = {r.id: r for r in session.execute(select(Resource.id, Resource.kind).where(Resource.id.in_(ids)))}
    current = {(r.resource_id, r.item): r for r in session.execute(
        select(InventoryItem.id, InventoryItem.resource_id, InventoryItem.item, InventoryItem.unit,
               InventoryItem.reserved).where(InventoryItem.resource_id.in_(ids)))}
    errors: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    records = []
    for line, raw in rows:
        bad: list[str] = []
        rid, item = raw.get("resource_id", ""), raw.get("item", "")
        wh = warehouses.get(rid)
        if wh is None:
            bad.append(f"仓库编号“{rid}”不存在，请先导入资源")
        elif wh.kind != catalog.WAREHOUSE:
            bad.append(f"{rid} 是{wh.kind}，不是物资储备库")
        if not item or len(item) > 40:
            bad.append("物资名称不能为空且不超过 40 个字符")
        unit = raw.get("unit", "") or catalog.ITEM_UNITS.get(item, "")
        if not unit or len(unit) > 10:
            bad.append("单位不能为空且不超过 10 个字符")
        quantity = _int(raw.get("quantity", ""), "数量", bad)
        if raw.get("quantity", "") == "":
            bad.append("数量不能为空")
        key = (rid, item)
        if key in seen:
            bad.append(f"{rid} 的“{item}”与第 {seen[key]} 行重复")
        else:
            seen[key] = line
        old = current.get(key)
        if old is not None and quantity is not None and quantity < old.reserved:
            bad.append(f"{rid} 的“{item}”已有 {old.reserved}{old.unit} 被调派预留，数量不能少于此数")
        if old is not None and unit and unit != old.unit:
            bad.append(f"{rid} 的“{item}”单位应为“{old.unit}”，收到“{unit}”")
        errors += [RowError(line, b) for b in bad]
        records.append({"resource_id": rid, "item": item, "unit": unit, "quantity": quantity, "old": old})
    if not rows:
        errors.append(RowError(2, "文件没有数据行"))
    if errors:
        raise ImportFailed(errors, "库存导入")
    new = [{k: r[k] for k in ("resource_id", "item", "unit", "quantity")} | {"reserved": 0}
           for r in records if r["old"] is None]
    updated = [r for r in records if r["old"] is not None]
    with session.begin_nested():  # all rows or none, even if the caller catches an error
        if new:
            session.execute(insert(InventoryItem), new)
        for r in updated:
            # Guarded against a dispatch that reserved more since the check above.
            ok = session.execute(update(InventoryItem).where(InventoryItem.id == r["old"].id,
                                                              InventoryItem.reserved <= r["quantity"])
                                 .values(quantity=r["quantity"]).execution_options(synchronize_session=False)).rowcount
            if ok != 1:
                raise ImportFailed([RowError(0, f"{r['resource_id']} 的“{r['item']}”刚被调派预留，请重试")], "库存导入")
    audit.record(session, actor, "emergency_import", object_type="inventory", object_id=Path(path).name,
                 detail={"inserted": len(new), "updated": len(updated)})
    return ImportSummary(len(new), len(updated))
