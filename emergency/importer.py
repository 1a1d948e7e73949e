"""Import emergency resources and warehouse inventories from CSV/Excel: validated, all-or-nothing.

Every row is checked first; if any is bad, `TabularError` lists each bad row by line and reason
(Chinese) and nothing is written. Otherwise new rows are inserted and existing ids updated (master
data only — status, version and the incident link of a unit out on a task are left alone), with one
audit row, in the caller's transaction. Coordinates may be WGS-84, GCJ-02 or BD-09 (`crs`), and are
stored as WGS-84 with their region codes from `geo.locate`.

Reading, cell types and the error report are shared with the other importers (`tabular`); this
module holds the column contracts and the emergency rules.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
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
from store.models import InventoryItem, Resource, utcnow
from store.scope import PermissionDenied, Viewer
from tabular import BadValue, CellError, Choice, Column, Contract, Float, Int, TabularError, Text, read_table, stages

IMPORT_STATUSES = Choice({"available": "available", "待命": "available", "out_of_service": "out_of_service",
                          "停用": "out_of_service"}, "“待命”或“停用”（导入时）")
RESOURCES = Contract("资源导入", (
    Column("id", "编号", Text(max_length=40), required=True, aliases=("资源编号",)),
    Column("kind", "类型", Text(), required=True, aliases=("资源类型",)),
    Column("name", "名称", Text(max_length=100), required=True, aliases=("资源名称",)),
    Column("lon", "经度", Float(-180, 180), required=True),
    Column("lat", "纬度", Float(-90, 90), required=True),
    Column("headcount", "人数", Int(minimum=0), aliases=("人员数",)),
    Column("capacity", "容量", Int(minimum=1), aliases=("容纳人数",)),
    Column("occupancy", "当前安置人数", Int(minimum=0), aliases=("当前安置", "安置人数")),
    Column("area_m2", "面积", Float(), aliases=("面积(m2)", "面积（平方米）")),
    Column("equipment", "装备"),
    Column("address", "地址", Text(max_length=200)),
    Column("contact", "联系人", Text(max_length=50)),
    Column("phone", "电话", aliases=("联系电话",)),
    Column("status", "状态", IMPORT_STATUSES),
))
INVENTORY = Contract("库存导入", (
    Column("resource_id", "仓库编号", Text(max_length=40), required=True, aliases=("储备库编号",)),
    Column("item", "物资", Text(max_length=40), required=True, aliases=("物资名称",)),
    Column("unit", "单位", Text(max_length=10)),
    Column("quantity", "数量", Int(minimum=0), required=True, aliases=("库存", "库存数量")),
))
_COUNT = Int(minimum=1)
_PHONE = re.compile(r"^[0-9+\-() ]{5,20}$")
_EQUIP_SPLIT = re.compile(r"[;；、,，]")
_EQUIP_PAIR = re.compile(r"^\s*(.+?)\s*(?:[:：×xX*]\s*(\S+))?\s*$")


@dataclass(frozen=True)
class ImportSummary:
    inserted: int
    updated: int
    rows: int = 0
    file: str = ""  # how the file was read, e.g. "CSV，编码 GBK"

    def describe(self) -> str:
        return f"新增 {self.inserted} 条，更新 {self.updated} 条"


def _check_actor(actor: Viewer | str) -> None:
    if isinstance(actor, Viewer) and not can(actor.role, "import_resources"):
        raise PermissionDenied("无权导入数据")


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
        try:
            out[name] = out.get(name, 0) + _COUNT.parse(count)
        except BadValue:
            return None, f"装备“{part}”的数量应为正整数"
    return out or None, None


def import_resources(session: Session, src, *, crs: str = "wgs84", actor: Viewer | str = "manage.py",  # noqa: ANN001
                     locator=None, name: str | None = None, check_only: bool = False,  # noqa: ANN001
                     progress: Callable[[int, int], None] | None = None) -> ImportSummary:
    """`src` is a path, bytes or an upload (`name` names bytes). `check_only`: every check, the counts
    an import would have, nothing written. `progress(done, total)` follows the reading, the rows
    checked, then (importing) steps once when written."""
    _check_actor(actor)
    try:
        crs = normalize_crs(crs)
    except UnknownCRS as exc:
        raise TabularError([CellError(0, str(exc))], RESOURCES.what) from None
    reading, checking, writing = stages(progress, 1, 1, 0 if check_only else 1)
    table = read_table(src, RESOURCES, name=name, progress=reading)
    label = RESOURCES.label
    kinds = catalog.resource_kinds()
    m2_per_person = catalog.shelter_m2_per_person()
    existing = {r.id: r for r in session.execute(
        select(Resource.id, Resource.kind, Resource.status).where(Resource.id.in_([r.get("id") for r in table.rows])))}
    with_stock = set(session.scalars(select(InventoryItem.resource_id).distinct()))

    errors: list[CellError] = []
    parsed: list[tuple[int, dict]] = []
    seen: dict[str, int] = {}
    lons, lats = [], []
    for done, row in enumerate(table.rows, start=1):
        line, v = row.line, row.values
        if checking is not None:
            checking(done, len(table.rows))

        def bad(message: str, column: str | None = None, line: int = line) -> None:
            errors.append(CellError(line, message, label(column) if column else None))

        rid, kind = v["id"], v["kind"]
        if rid in seen:
            bad(f"编号 {rid} 与第 {seen[rid]} 行重复", "id")
        elif rid:
            seen[rid] = line
        if kind and kind not in kinds:
            bad(f"未知的资源类型“{kind}”，可选：{'、'.join(kinds)}", "kind")
        capacity, occupancy, area = v["capacity"], v["occupancy"], v["area_m2"]
        if area is not None and area <= 0:
            bad(f"应为正数，收到 {area:g}", "area_m2")
            area = None
        if kind == catalog.SHELTER and capacity is None and "capacity" not in row.bad:
            if area:
                capacity = int(area // m2_per_person)
            else:
                bad("应急避难场所须填写容量（人）或面积（平方米）")
        if capacity is not None and occupancy is not None and occupancy > capacity:
            bad(f"当前安置人数 {occupancy} 超过容量 {capacity}")
        equipment, equip_error = parse_equipment(v["equipment"] or "")
        if equip_error:
            bad(equip_error, "equipment")
        phone = v["phone"]
        if phone and not _PHONE.match(phone):
            bad(f"格式不正确：“{phone}”", "phone")
        status = v["status"] or ("available" if "status" not in row.bad else None)
        old = existing.get(rid)
        if old is not None:
            if status == "out_of_service" and old.status not in ("available", "out_of_service"):
                bad(f"{rid} 正在执行任务（{catalog.status_label(old.status)}），不能导入为停用")
            if old.kind == catalog.WAREHOUSE and kind != catalog.WAREHOUSE and rid in with_stock:
                bad(f"{rid} 是有库存的物资储备库，不能改为其他类型")
        lons.append(math.nan if v["lon"] is None or v["lat"] is None else v["lon"])
        lats.append(math.nan if v["lon"] is None or v["lat"] is None else v["lat"])
        parsed.append((line, {
            "id": rid, "kind": kind, "name": v["name"], "headcount": v["headcount"], "capacity": capacity,
            "occupancy": occupancy, "area_m2": area, "equipment": equipment, "address": v["address"],
            "contact": v["contact"], "phone": phone, "status": status,
        }))
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
            errors.append(CellError(line, f"坐标（{lons[i]}, {lats[i]}）不在本市范围内"
                                          + ("" if crs == "wgs84" else f"（按 {crs} 换算后）")))
    table.raise_if_any(errors)

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
    if check_only:
        return ImportSummary(len(new_rows), len(upd_rows), len(parsed), table.describe())
    with session.begin_nested():  # all rows or none, even if the caller catches an error
        if new_rows:
            session.execute(insert(Resource), new_rows)
        for rec in upd_rows:
            session.execute(update(Resource).where(Resource.id == rec["id"])
                            .values(**{k: v for k, v in rec.items() if k != "id"}, version=Resource.version + 1)
                            .execution_options(synchronize_session=False))
    audit.record(session, actor, "emergency_import", object_type="resources", object_id=Path(table.name).name,
                 detail={"inserted": len(new_rows), "updated": len(upd_rows), "crs": crs})
    if writing is not None:
        writing(1, 1)
    return ImportSummary(len(new_rows), len(upd_rows), len(parsed), table.describe())


def import_inventory(session: Session, src, *, actor: Viewer | str = "manage.py",  # noqa: ANN001
                     name: str | None = None, check_only: bool = False,
                     progress: Callable[[int, int], None] | None = None) -> ImportSummary:
    """Set warehouse stock levels: one row per (warehouse, item) with unit and quantity on hand.
    `check_only` and `progress` as for import_resources."""
    _check_actor(actor)
    reading, checking, writing = stages(progress, 1, 1, 0 if check_only else 1)
    table = read_table(src, INVENTORY, name=name, progress=reading)
    label = INVENTORY.label
    ids = {r.get("resource_id") for r in table.rows} - {None}
    warehouses = {r.id: r for r in session.execute(select(Resource.id, Resource.kind).where(Resource.id.in_(ids)))}
    current = {(r.resource_id, r.item): r for r in session.execute(
        select(InventoryItem.id, InventoryItem.resource_id, InventoryItem.item, InventoryItem.unit,
               InventoryItem.reserved).where(InventoryItem.resource_id.in_(ids)))}
    errors: list[CellError] = []
    seen: dict[tuple[str, str], int] = {}
    records = []
    for done, row in enumerate(table.rows, start=1):
        if checking is not None:
            checking(done, len(table.rows))
        line, v = row.line, row.values
        rid, item, quantity = v["resource_id"], v["item"], v["quantity"]
        wh = warehouses.get(rid)
        if rid and wh is None:
            errors.append(CellError(line, f"“{rid}”不存在，请先导入资源", label("resource_id")))
        elif wh is not None and wh.kind != catalog.WAREHOUSE:
            errors.append(CellError(line, f"{rid} 是{wh.kind}，不是物资储备库", label("resource_id")))
        unit = v["unit"] or catalog.ITEM_UNITS.get(item or "", "")
        if not unit and "unit" not in row.bad:
            errors.append(CellError(line, "不能为空（常用物资可不填）", label("unit")))
        key = (rid, item)
        if key in seen:
            errors.append(CellError(line, f"{rid} 的“{item}”与第 {seen[key]} 行重复"))
        elif rid and item:
            seen[key] = line
        old = current.get(key)
        if old is not None and quantity is not None and quantity < old.reserved:
            errors.append(CellError(line, f"{rid} 的“{item}”已有 {old.reserved}{old.unit} 被调派预留，数量不能少于此数",
                                    label("quantity")))
        if old is not None and unit and unit != old.unit:
            errors.append(CellError(line, f"{rid} 的“{item}”单位应为“{old.unit}”，收到“{unit}”", label("unit")))
        records.append({"resource_id": rid, "item": item, "unit": unit, "quantity": quantity, "old": old})
    table.raise_if_any(errors)
    new = [{k: r[k] for k in ("resource_id", "item", "unit", "quantity")} | {"reserved": 0}
           for r in records if r["old"] is None]
    updated = [r for r in records if r["old"] is not None]
    if check_only:
        return ImportSummary(len(new), len(updated), len(records), table.describe())
    with session.begin_nested():  # all rows or none, even if the caller catches an error
        if new:
            session.execute(insert(InventoryItem), new)
        for r in updated:
            # Guarded against a dispatch that reserved more since the check above.
            ok = session.execute(update(InventoryItem).where(InventoryItem.id == r["old"].id,
                                                              InventoryItem.reserved <= r["quantity"])
                                 .values(quantity=r["quantity"]).execution_options(synchronize_session=False)).rowcount
            if ok != 1:
                raise TabularError([CellError(0, f"{r['resource_id']} 的“{r['item']}”刚被调派预留，请重试")],
                                   INVENTORY.what)
    audit.record(session, actor, "emergency_import", object_type="inventory", object_id=Path(table.name).name,
                 detail={"inserted": len(new), "updated": len(updated)})
    if writing is not None:
        writing(1, 1)
    return ImportSummary(len(new), len(updated), len(records), table.describe())
