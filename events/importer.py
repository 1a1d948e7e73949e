"""Import hotline (12345) and patrol cases from CSV or Excel: all rows or none.

The file is read by `tabular` (encodings, Excel, line numbers, column types); this module holds the
column contract and the case rules. Every row is checked before anything is written; any problem
raises one `TabularError` listing every bad row by its line in the file and the reason, in Chinese.
Duplicate source ids are refused, both within the file and against cases already in the store.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

import settings
from auth import audit
from auth.roles import can
from events import intake
from events.address_location import AddressPlace, locate_address
from events.catalog import UnknownCategory, get_catalog
from events.limits import LIMITS
from geo.crs import UnknownCRS, normalize_crs, to_wgs84_array
from geo.geocode import get_index
from store.models import Event
from store.scope import PermissionDenied, Viewer
from tabular import CellError, Column, Contract, DateTime, Float, Row, TabularError, Text, read_table, stages

WHAT = "案件导入"


def contract(tz: ZoneInfo) -> Contract:
    """The columns of a case file; times without a zone are local (`tz`), as hotline systems export them."""
    return Contract(WHAT, (
        Column("source_id", "来源编号", Text(max_length=64), required=True,
               aliases=("工单编号", "工单号", "案件编号", "编号")),
        Column("reported_at", "上报时间", DateTime(tz), required=True, aliases=("受理时间", "来电时间", "发现时间")),
        Column("category", "大类", Text(), required=True, aliases=("问题大类",)),
        Column("subcategory", "小类", Text(), required=True, aliases=("问题小类",)),
        Column("title", "标题", Text(max_length=200)),
        Column("description", "问题描述", Text(max_length=LIMITS["description"]), aliases=("描述", "诉求内容")),
        Column("address", "地址", Text(max_length=200), aliases=("事发地址",)),
        # Without coordinates a row is placed by its address (events.address_location, geo.geocode).
        Column("lon", "经度", Float(), aliases=("lng", "longitude")),
        Column("lat", "纬度", Float(), aliases=("latitude",)),
        Column("priority", "紧急程度"),
        Column("reporter_name", "反映人", Text(max_length=50), aliases=("来电人", "上报人")),
        Column("reporter_phone", "联系电话", aliases=("来电号码",)),
        Column("reporter_id_no", "身份证号", aliases=("证件号码",)),
    ))


@dataclass
class ImportReport:
    source: str
    crs: str
    file: str = ""          # how the file was read, e.g. "CSV，编码 GBK"
    total: int = 0
    imported: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)
    geocoded: int = 0       # rows without coordinates placed by their address
    pending: int = 0        # rows without coordinates whose address did not match: 待定位
    # Rows the intake check found open cases of the same 小类 nearby for (events.duplicates): line, the
    # new case's id and the candidates. Imported as cases; an operator merges or confirms them.
    suspected: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        by_address = f"；其中 {self.geocoded} 件按地址定位" if self.geocoded else ""
        if self.pending:
            by_address += f"，{self.pending} 件地址未能匹配、标记为待定位（请在指挥调度中定位）"
        if self.suspected:
            by_address += (f"；{len(self.suspected)} 件疑似重复上报，未自动合并（请在指挥调度「疑似重复」中"
                           "逐件或批量合并，或确认为新案件）")
        return (f"{self.file}：共 {self.total} 行，已全部导入 {self.imported} 件"
                f"（来源 {self.source}，坐标系 {self.crs}）{by_address}")

    def suspected_lines(self) -> list[str]:
        """One line per suspected duplicate: file line, new case, the open cases it may repeat."""
        return [f"第 {s['line']} 行 → 案件 #{s['case_id']}：疑似与 " + "、".join(
                    f"#{c['id']}（相距 {c['distance_m']:.0f} 米，早 {c['age_hours']:.1f} 小时）"
                    for c in s["candidates"]) + " 重复" for s in self.suspected]


def _fail(message: str) -> TabularError:
    return TabularError([CellError(0, message)], WHAT)


@dataclass
class _Row:
    line: int
    values: dict
    lon: float = float("nan")
    lat: float = float("nan")
    codes: dict | None = None
    by_address: bool = False            # no coordinates: placed by its address
    place: AddressPlace | None = None


def _check_row(row: Row, now: datetime, errors: list[CellError], label: Callable[[str], str]) -> _Row:
    """The case rules for one row whose cells already have their types."""
    v = dict(row.values)
    out = _Row(row.line, v)

    def err(key: str, reason: str) -> None:
        errors.append(CellError(row.line, reason, label(key)))

    if v["reported_at"] is not None and v["reported_at"] > now + intake.FUTURE_TOLERANCE:
        err("reported_at", "晚于当前时间")
    if v["category"] and v["subcategory"]:
        try:
            item = get_catalog().find(v["category"], v["subcategory"])
            v["category"], v["subcategory"] = item.category, item.name
        except UnknownCategory as exc:
            err("subcategory", str(exc))
    if v["lon"] is not None and v["lat"] is not None:
        try:
            out.lon, out.lat = intake.check_coordinates(v["lon"], v["lat"])
        except intake.IntakeError as exc:
            err("lon", str(exc))
    elif (v["lon"] is None) != (v["lat"] is None):
        err("lon" if v["lon"] is None else "lat", "经度和纬度须同时填写")
    elif not {"lon", "lat"} & row.bad:
        if v["address"]:
            out.by_address = True
        else:
            err("lon", "缺少经纬度，也没有可供匹配的地址")
    for key, check in (("priority", intake.normalize_priority), ("reporter_phone", intake.check_phone),
                       ("reporter_id_no", intake.check_id_no)):
        if v[key] is not None:
            try:
                v[key] = check(v[key])
            except intake.IntakeError as exc:
                err(key, str(exc))
    title = v["title"] or ((v["subcategory"] or "") + (f"（{v['address']}）" if v["address"] else ""))
    v["title"] = title[:200]  # a made-up title may be cut; a given one was checked by the contract
    return out


# -- the import ------------------------------------------------------------------------------------------
def import_events(session: Session, src, source: str, crs: str = "wgs84", *,  # noqa: ANN001
                  actor: Viewer | None = None, locator=None, now: datetime | None = None,  # noqa: ANN001
                  client: str | None = None, name: str | None = None, check_only: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Check every row of `src` (path, bytes or uploaded file; `name` names bytes); when all are good,
    create every case in the caller's transaction. With any problem nothing is written and
    TabularError lists every bad row. `check_only`: every check, nothing written (`imported` stays 0).
    `progress(done, total)` follows the reading, the rows checked, then (importing) the cases created."""
    now = now or datetime.now(timezone.utc)
    if actor is not None and not can(actor.role, "import_cases"):
        raise PermissionDenied("您的角色无权导入案件")
    try:
        source = intake.normalize_source(source)
        crs = normalize_crs(crs)
    except (intake.IntakeError, UnknownCRS) as exc:
        raise _fail(str(exc)) from None
    reading, checking, writing = stages(progress, 1, 1, 0 if check_only else 1)
    table = read_table(src, contract(ZoneInfo(settings.get_settings()["app"]["timezone"])), name=name,
                       progress=reading)
    missing = [table.contract.label(k) for k in ("lon", "lat") if k not in table.columns]
    if missing and (len(missing) == 1 or "address" not in table.columns):
        raise TabularError([CellError(table.header_line, f"表头缺少必需的列：{'、'.join(missing)}"
                                                         "（没有经纬度的文件须有「地址」列，按标准地址库定位）")],
                           WHAT, table.describe())
    report = ImportReport(source=source, crs=crs, file=table.describe(), total=len(table.rows),
                          ignored_columns=table.ignored)
    errors: list[CellError] = []
    label = table.contract.label
    checked = []
    for done, row in enumerate(table.rows, start=1):
        checked.append(_check_row(row, now, errors, label))
        if checking is not None:
            checking(done, len(table.rows))

    # Duplicates within the file: every repeat is an error naming the first line.
    first_line: dict[str, int] = {}
    for r in checked:
        sid = r.values["source_id"]
        if not sid:
            continue
        if sid in first_line:
            errors.append(CellError(r.line, f"来源编号「{sid}」与第 {first_line[sid]} 行重复", label("source_id")))
        else:
            first_line[sid] = r.line

    # Duplicates against the store.
    ids = list(first_line)
    existing: set[str] = set()
    for i in range(0, len(ids), 500):
        existing |= set(session.execute(select(Event.source_id).where(
            Event.source == source, Event.source_id.in_(ids[i:i + 500]))).scalars())
    for r in checked:
        if r.values["source_id"] in existing:
            errors.append(CellError(r.line, f"来源编号「{r.values['source_id']}」已导入过（来源 {source}）",
                                    label("source_id")))

    # Locate the rows with good coordinates, in one vectorised call.
    located = [r for r in checked if math.isfinite(r.lon) and math.isfinite(r.lat)]
    if located:
        lons, lats = to_wgs84_array(np.array([r.lon for r in located]), np.array([r.lat for r in located]), crs)
        locator = locator or intake.default_locator(session)
        columns = locator.locate_columns(lons, lats)
        for k, r in enumerate(located):
            codes = {lv: columns[lv][k] for lv in columns}
            if not codes.get("city"):
                errors.append(CellError(r.line, f"坐标（{r.lon}, {r.lat}，{crs}）不在本市范围内", label("lon")))
            else:
                r.codes = codes
    # Rows with an address and no coordinates: the standard address base, or 待定位 (never dropped).
    by_address = [r for r in checked if r.by_address]
    if by_address:
        index = get_index(session)
        city = settings.get_settings()["city"]["code"]
        for r in by_address:
            r.place = locate_address(session, r.values["address"], city, index=index)
            if r.place is None:
                errors.append(CellError(r.line, "地址无法定位：本市尚未导入区划边界", label("address")))
            else:
                r.lon, r.lat, r.codes = r.place.lon, r.place.lat, r.place.codes
                report.geocoded += not r.place.pending
                report.pending += r.place.pending
    table.raise_if_any(errors)
    if check_only:
        return report

    for done, r in enumerate(checked, start=1):
        v = r.values
        event = intake.create_event(
            session, source=source, category=v["category"], subcategory=v["subcategory"], title=v["title"],
            description=v.get("description") or "", lon=r.lon, lat=r.lat, crs="wgs84" if r.place else crs,
            priority=v.get("priority") or "normal", reporter_name=v.get("reporter_name"),
            reporter_phone=v.get("reporter_phone"), reporter_id_no=v.get("reporter_id_no"),
            source_id=v["source_id"], reported_at=v["reported_at"], actor=None, codes=r.codes,
            address=v.get("address"), now=now, audit_action=None,
            location_pending=bool(r.place and r.place.pending), detail=r.place.detail() if r.place else None,
        )
        report.event_ids.append(event.id)
        if event.duplicate_suspects:
            report.suspected.append({"line": r.line, "case_id": event.id, "candidates": event.duplicate_suspects})
        if writing is not None:
            writing(done, len(checked))
    report.imported = len(report.event_ids)
    audit.record(session, actor or "manage.py", "event_import", object_type="event", client=client,
                 detail={"source": source, "crs": crs, "rows": report.total, "imported": report.imported,
                         "file": table.name, "geocoded": report.geocoded, "pending": report.pending,
                         "suspected_duplicates": len(report.suspected),
                         "first_id": report.event_ids[0] if report.event_ids else None,
                         "last_id": report.event_ids[-1] if report.event_ids else None})
    return report
