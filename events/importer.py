"""Import hotline (12345) and patrol cases from CSV or Excel: all rows or none.

Every row is checked before anything is written; the report lists every bad row by its line number
in the file and the reason, in Chinese. CSV may be UTF-8 (with or without BOM) or GBK/GB18030 — the
two encodings Chinese office software writes. Duplicate source ids are refused, both within the file
and against cases already in the store.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

import settings
from auth import audit
from auth.roles import can
from events import intake
from events.catalog import UnknownCategory, get_catalog
from store.models import Event
from store.scope import PermissionDenied, Viewer

# Canonical field → accepted column headers (compared without spaces, case-insensitive).
HEADERS: dict[str, tuple[str, ...]] = {
    "source_id": ("来源编号", "工单编号", "工单号", "案件编号", "编号", "source_id"),
    "reported_at": ("上报时间", "受理时间", "来电时间", "发现时间", "reported_at"),
    "category": ("大类", "问题大类", "category"),
    "subcategory": ("小类", "问题小类", "subcategory"),
    "title": ("标题", "title"),
    "description": ("问题描述", "描述", "诉求内容", "description"),
    "address": ("地址", "事发地址", "address"),
    "lon": ("经度", "lon", "lng", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "priority": ("紧急程度", "priority"),
    "reporter_name": ("反映人", "来电人", "上报人", "reporter_name"),
    "reporter_phone": ("联系电话", "来电号码", "reporter_phone"),
    "reporter_id_no": ("身份证号", "证件号码", "reporter_id_no"),
}
REQUIRED = ("source_id", "reported_at", "category", "subcategory", "lon", "lat")
FIELD_NAMES = {k: v[0] for k, v in HEADERS.items()}
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y%m%d%H%M%S", "%Y-%m-%d", "%Y/%m/%d")
MAX_ROWS = 200_000


@dataclass
class RowError:
    line: int
    reason: str
    field: str | None = None

    def __str__(self) -> str:
        where = f"第 {self.line} 行" if self.line else "文件"
        col = f"「{FIELD_NAMES.get(self.field, self.field)}」" if self.field else ""
        return f"{where}{col}：{self.reason}"


@dataclass
class ImportReport:
    source: str
    crs: str
    file_format: str = ""
    encoding: str | None = None
    total: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        head = f"{self.file_format or '文件'}"
        if self.encoding:
            head += f"（{self.encoding}）"
        if self.ok:
            return f"{head}：共 {self.total} 行，已全部导入 {self.imported} 件（来源 {self.source}，坐标系 {self.crs}）"
        bad = len({e.line for e in self.errors})
        return f"{head}：共 {self.total} 行，{bad} 行有错误，共 {len(self.errors)} 处；未导入任何数据"


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, format, missing columns)."""


# -- reading -------------------------------------------------------------------------------------------
def _read_bytes(src) -> tuple[bytes, str]:  # noqa: ANN001
    if isinstance(src, (bytes, bytearray)):
        return bytes(src), ""
    if isinstance(src, (str, Path)):
        p = Path(src)
        if not p.is_file():
            raise ImportFileError(f"找不到文件 {p}")
        return p.read_bytes(), p.name
    if hasattr(src, "getvalue"):
        return bytes(src.getvalue()), str(getattr(src, "name", ""))
    if hasattr(src, "read"):
        return bytes(src.read()), str(getattr(src, "name", ""))
    raise ImportFileError("无法读取导入文件")


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding name) — UTF-8 first (strict), then GB18030, the superset of GBK."""
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GBK"
    except UnicodeDecodeError:
        raise ImportFileError("文件编码无法识别：请保存为 UTF-8 或 GBK 编码的 CSV") from None


def _rows_csv(data: bytes) -> tuple[list[tuple[int, list]], str]:
    text, encoding = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows: list[tuple[int, list]] = []
    start = 1
    try:
        for record in reader:
            rows.append((start, record))
            start = reader.line_num + 1  # a quoted field may span lines: report where the record starts
    except csv.Error as exc:
        raise ImportFileError(f"CSV 第 {reader.line_num} 行格式错误：{exc}") from None
    return rows, encoding


def _rows_xlsx(data: bytes) -> list[tuple[int, list]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise ImportFileError(f"Excel 文件无法打开：{exc}") from None
    try:
        ws = wb.worksheets[0]
        return [(i, list(r)) for i, r in enumerate(ws.iter_rows(values_only=True), start=1)]
    finally:
        wb.close()


def read_table(src) -> tuple[list[tuple[int, list]], str, str | None, str]:  # noqa: ANN001
    """(rows as (line, cells), format label, encoding, file name)."""
    data, name = _read_bytes(src)
    if not data:
        raise ImportFileError("文件为空")
    if data[:4] == b"PK\x03\x04":
        return _rows_xlsx(data), "Excel", None, name
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportFileError("不支持旧版 .xls 文件：请另存为 .xlsx 或 CSV")
    rows, encoding = _rows_csv(data)
    return rows, "CSV", encoding, name


def _blank(v) -> bool:  # noqa: ANN001
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def map_headers(cells: list) -> tuple[dict[str, int], list[str]]:
    """Canonical field → column index; also the headers we do not use."""
    lookup = {alias.replace(" ", "").lower(): key for key, aliases in HEADERS.items() for alias in aliases}
    found: dict[str, int] = {}
    ignored: list[str] = []
    for i, cell in enumerate(cells):
        h = "" if cell is None else str(cell).strip().replace(" ", "").lower()
        key = lookup.get(h)
        if key and key not in found:
            found[key] = i
        elif h:
            ignored.append(str(cell).strip())
    return found, ignored


# -- cell parsing ---------------------------------------------------------------------------------------
def parse_time(value, tz: ZoneInfo) -> datetime:  # noqa: ANN001
    """Excel datetimes and the usual text forms; naive times are local (Asia/Shanghai)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    text = str(value).strip()
    try:
        t = datetime.fromisoformat(text)
        return t if t.tzinfo else t.replace(tzinfo=tz)
    except ValueError:
        pass
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    raise ValueError(f"无法识别的时间「{text}」（应如 2026-11-20 09:30）")


def _text(value) -> str:  # noqa: ANN001
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores ids and phone numbers as numbers
    return str(value).strip()


@dataclass
class _Row:
    line: int
    values: dict
    lon: float = float("nan")
    lat: float = float("nan")
    reported_at: datetime | None = None
    codes: dict | None = None


def _check_row(line: int, cells: list, cols: dict[str, int], tz: ZoneInfo, now: datetime,
               errors: list[RowError]) -> _Row:
    raw = {k: (cells[i] if i < len(cells) else None) for k, i in cols.items()}
    row = _Row(line, {})
    before = len(errors)

    def err(fieldname: str | None, reason: str) -> None:
        errors.append(RowError(line, reason, fieldname))

    for key in REQUIRED:
        if _blank(raw.get(key)):
            err(key, "不能为空")
    v = {k: (None if _blank(x) else _text(x) if not isinstance(x, (datetime, date)) else x) for k, x in raw.items()}
    if v.get("source_id") and len(v["source_id"]) > 64:
        err("source_id", "不能超过 64 个字符")
    if v.get("reported_at") is not None:
        try:
            row.reported_at = parse_time(v["reported_at"], tz)
            if row.reported_at > now + intake.FUTURE_TOLERANCE:
                err("reported_at", "晚于当前时间")
        except ValueError as exc:
            err("reported_at", str(exc))
    if v.get("category") and v.get("subcategory"):
        try:
            item = get_catalog().find(v["category"], v["subcategory"])
            v["category"], v["subcategory"] = item.category, item.name
        except UnknownCategory as exc:
            err("subcategory", str(exc))
    if v.get("lon") is not None and v.get("lat") is not None:
        try:
            row.lon, row.lat = intake.check_coordinates(v["lon"], v["lat"])
        except intake.IntakeError as exc:
            err("lon", str(exc))
    for key, check in (("priority", intake.normalize_priority), ("reporter_phone", intake.check_phone),
                       ("reporter_id_no", intake.check_id_no)):
        if v.get(key) is not None:
            try:
                v[key] = check(v[key])
            except intake.IntakeError as exc:
                err(key, str(exc))
    if v.get("reporter_name") and len(v["reporter_name"]) > 50:
        err("reporter_name", "过长")
    title = v.get("title") or (f"{v.get('subcategory') or ''}" + (f"（{v['address']}）" if v.get("address") else ""))
    if len(title) > 200:
        err("title", "不能超过 200 字")
    v["title"] = title[:200]
    row.values = v
    row.values["_ok"] = len(errors) == before
    return row


# -- the import ------------------------------------------------------------------------------------------
def import_events(session: Session, src, source: str, crs: str = "wgs84", *,  # noqa: ANN001
                  actor: Viewer | None = None, locator=None, now: datetime | None = None,  # noqa: ANN001
                  client: str | None = None) -> ImportReport:
    """Check every row of `src` (path, bytes or uploaded file); when all are good, create every case in
    the caller's transaction. With any bad row nothing is written and the report lists them all."""
    now = now or datetime.now(timezone.utc)
    if actor is not None and not can(actor.role, "import_data"):
        raise PermissionDenied("您的角色无权导入案件")
    from geo.crs import UnknownCRS, normalize_crs

    try:
        source = intake.normalize_source(source)
        crs = normalize_crs(crs)
    except (intake.IntakeError, UnknownCRS) as exc:
        raise ImportFileError(str(exc)) from None
    report = ImportReport(source=source, crs=crs)
    rows, report.file_format, report.encoding, _name = read_table(src)
    rows = [(line, cells) for line, cells in rows if any(not _blank(c) for c in cells)]
    if not rows:
        raise ImportFileError("文件没有内容")
    header_line, header = rows[0]
    cols, report.ignored_columns = map_headers(header)
    missing = [FIELD_NAMES[k] for k in REQUIRED if k not in cols]
    if missing:
        raise ImportFileError(f"第 {header_line} 行（表头）缺少必需的列：{'、'.join(missing)}")
    data_rows = rows[1:]
    if len(data_rows) > MAX_ROWS:
        raise ImportFileError(f"单次最多导入 {MAX_ROWS} 行，文件有 {len(data_rows)} 行：请拆分后导入")
    report.total = len(data_rows)
    tz = ZoneInfo(settings.get_settings()["app"]["timezone"])
    checked = [_check_row(line, cells, cols, tz, now, report.errors) for line, cells in data_rows]

    # Duplicates within the file: every repeat is an error naming the first line.
    first_line: dict[str, int] = {}
    for r in checked:
        sid = r.values.get("source_id")
        if not sid:
            continue
        if sid in first_line:
            report.errors.append(RowError(r.line, f"来源编号「{sid}」与第 {first_line[sid]} 行重复", "source_id"))
            r.values["_ok"] = False
        else:
            first_line[sid] = r.line

    # Duplicates against the store.
    ids = list(first_line)
    existing: set[str] = set()
    for i in range(0, len(ids), 500):
        existing |= set(session.execute(select(Event.source_id).where(
            Event.source == source, Event.source_id.in_(ids[i:i + 500]))).scalars())
    for r in checked:
        if r.values.get("source_id") in existing:
            report.errors.append(RowError(r.line, f"来源编号「{r.values['source_id']}」已导入过（来源 {source}）",
                                          "source_id"))
            r.values["_ok"] = False

    # Locate the rows with good coordinates, in one vectorised call.
    located = [r for r in checked if math.isfinite(r.lon) and math.isfinite(r.lat)]
    if located:
        from geo.crs import to_wgs84_array

        lons, lats = to_wgs84_array(np.array([r.lon for r in located]), np.array([r.lat for r in located]), crs)
        locator = locator or intake.default_locator(session)
        columns = locator.locate_columns(lons, lats)
        for k, r in enumerate(located):
            codes = {lv: columns[lv][k] for lv in columns}
            if not codes.get("city"):
                report.errors.append(RowError(r.line, f"坐标（{r.lon}, {r.lat}，{crs}）不在本市范围内", "lon"))
            else:
                r.codes = codes
    report.errors.sort(key=lambda e: (e.line, list(HEADERS).index(e.field) if e.field in HEADERS else 99))
    if report.errors:
        return report

    for r in checked:
        v = r.values
        event = intake.create_event(
            session, source=source, category=v["category"], subcategory=v["subcategory"], title=v["title"],
            description=v.get("description") or "", lon=r.lon, lat=r.lat, crs=crs,
            priority=v.get("priority") or "normal", reporter_name=v.get("reporter_name"),
            reporter_phone=v.get("reporter_phone"), reporter_id_no=v.get("reporter_id_no"),
            source_id=v["source_id"], reported_at=r.reported_at, actor=None, codes=r.codes,
            address=v.get("address"), now=now, audit_action=None,
        )
        report.event_ids.append(event.id)
    report.imported = len(report.event_ids)
    audit.record(session, actor or "manage.py", "event_import", object_type="event", client=client,
                 detail={"source": source, "crs": crs, "rows": report.total, "imported": report.imported,
                         "file": _name, "first_id": report.event_ids[0] if report.event_ids else None,
                         "last_id": report.event_ids[-1] if report.event_ids else None})
    return report
