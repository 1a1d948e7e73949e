"""Import indicator values reported by statistics offices (外部统计) from CSV or Excel.

File: one row per value with the columns
    indicator_id (指标编号)  region_code (区划代码)  period (期间: YYYY-MM, or YYYY for yearly indicators)
    value (数值)             source (来源, optional)
CSV may be UTF-8 (with or without BOM) or GBK/GB18030, as Excel on a Chinese Windows saves it; .xlsx is
read with openpyxl.

All or nothing: every row is checked (unknown indicator or one that is not `external`, unknown region or
a level the indicator is not kept at, bad period format, duplicate keys within the file, non-numeric
values); if any row is bad nothing is written and every bad row is reported by its line number.
Upsert: a value for an (indicator, region, period) already in the store is replaced by the file's value
(statistics are revised; the latest report wins) and the import counts it as updated.
"""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from indicators.library import load_library
from store.db import session_scope
from store.models import ExternalValue, Region
from store.models.regions import LEVEL_NAMES_ZH

HEADERS = {
    "indicator_id": ("indicator_id", "indicator", "指标编号", "指标id", "指标代码"),
    "region_code": ("region_code", "region", "区划代码", "地区代码", "行政区划代码"),
    "period": ("period", "期间", "统计期", "时期", "统计期间"),
    "value": ("value", "数值", "值", "指标值"),
    "source": ("source", "来源", "数据来源"),
}
REQUIRED = ("indicator_id", "region_code", "period", "value")
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
YEAR_RE = re.compile(r"^\d{4}$")
ENCODINGS = ("utf-8-sig", "gb18030")


class ImportFailed(Exception):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("导入失败，未写入任何数据：\n" + "\n".join(errors))


@dataclass
class ImportReport:
    file: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    indicators: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"已导入 {self.file}：共 {self.rows} 行，新增 {self.inserted} 条，更新 {self.updated} 条"
                f"（指标：{'、'.join(self.indicators)}）")


# -- reading ---------------------------------------------------------------------------------------------

def _map_header(cells: list) -> tuple[dict[str, int], list[str]]:
    index: dict[str, int] = {}
    names = [str(c or "").strip().lower() for c in cells]
    for key, aliases in HEADERS.items():
        for i, name in enumerate(names):
            if name in aliases:
                index[key] = i
                break
    missing = [k for k in REQUIRED if k not in index]
    errors = []
    if missing:
        errors.append("表头缺少列：" + "、".join(f"{k}（{HEADERS[k][2]}）" for k in missing)
                      + f"；实际表头：{' | '.join(str(c) for c in cells)}")
    return index, errors


def _rows_csv(data: bytes) -> list[list]:
    for enc in ENCODINGS:
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportFailed(["文件编码无法识别：请保存为 UTF-8 或 GBK 编码的 CSV"])
    return list(csv.reader(io.StringIO(text)))


def _rows_xlsx(data: bytes) -> list[list]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook
        raise ImportFailed([f"无法读取 Excel 文件：{exc}"]) from None
    ws = wb.worksheets[0]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def read_rows(name: str, data: bytes) -> list[tuple[int, dict]]:
    """(line number, {column: raw cell}) for each non-empty data row; raises ImportFailed on bad layout."""
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows = _rows_xlsx(data)
    elif suffix in (".csv", ".txt"):
        rows = _rows_csv(data)
    else:
        raise ImportFailed([f"不支持的文件类型「{suffix or name}」：请使用 .csv 或 .xlsx"])
    if not rows:
        raise ImportFailed(["文件为空"])
    index, errors = _map_header(rows[0])
    if errors:
        raise ImportFailed(errors)
    out = []
    for line, cells in enumerate(rows[1:], start=2):
        if all(c is None or str(c).strip() == "" for c in cells):
            continue
        out.append((line, {k: (cells[i] if i < len(cells) else None) for k, i in index.items()}))
    return out


# -- checking ----------------------------------------------------------------------------------------------

def _text(v) -> str:  # noqa: ANN001
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _period(raw, grain: str) -> tuple[str | None, str | None]:  # noqa: ANN001
    if isinstance(raw, datetime):  # Excel turned "2026-10" into a date
        return (f"{raw:%Y-%m}", None) if grain == "month" else (None, f"期间应为年份 YYYY，实际为日期 {raw:%Y-%m-%d}")
    text = _text(raw)
    if grain == "month":
        m = MONTH_RE.match(text)
        if not m or not 1 <= int(m.group(2)) <= 12:
            return None, f"期间「{_text(raw)}」格式应为 YYYY-MM（如 2026-10）"
        return text, None
    if not YEAR_RE.match(text):
        return None, f"期间「{_text(raw)}」格式应为 YYYY（该指标按年统计）"
    return text, None


def _value(raw) -> tuple[float | None, str | None]:  # noqa: ANN001
    if isinstance(raw, bool):
        return None, f"数值「{raw}」不是数字"
    if isinstance(raw, (int, float)):
        v = float(raw)
    else:
        text = _text(raw).replace(",", "").replace("，", "")
        if not text:
            return None, "数值为空"
        try:
            v = float(text)
        except ValueError:
            return None, f"数值「{_text(raw)}」不是数字"
    if math.isnan(v) or math.isinf(v):
        return None, f"数值「{_text(raw)}」不是有限数字"
    return v, None


def check_rows(session: Session, rows: list[tuple[int, dict]], default_source: str | None = None) -> tuple[list[dict], list[str]]:
    lib = load_library()
    codes = {r.code: r for r in session.execute(select(Region.code, Region.level, Region.city_code)).all()}
    errors: list[str] = []
    records: list[dict] = []
    seen: dict[tuple, int] = {}
    for line, raw in rows:
        problems = []
        ind_id = _text(raw.get("indicator_id"))
        ind = lib.get(ind_id)
        if not ind_id:
            problems.append("指标编号为空")
        elif ind is None:
            problems.append(f"指标「{ind_id}」不在指标库中")
        elif ind.formula.kind != "external":
            problems.append(f"指标「{ind_id}」（{ind.name}）由系统计算，不是外部统计指标，不能导入")
        code = _text(raw.get("region_code"))
        region = codes.get(code)
        if not code:
            problems.append("区划代码为空")
        elif region is None:
            problems.append(f"区划代码「{code}」不存在")
        elif ind is not None and ind.formula.kind == "external" and region.level not in ind.levels:
            problems.append(f"指标「{ind_id}」不在{LEVEL_NAMES_ZH.get(region.level, region.level)}级统计"
                            f"（适用：{'、'.join(LEVEL_NAMES_ZH[x] for x in ind.levels)}）")
        period, err = _period(raw.get("period"), ind.grain if ind is not None else "month")
        if err:
            problems.append(err)
        value, err = _value(raw.get("value"))
        if err:
            problems.append(err)
        key = (ind_id, code, period)
        if not problems:
            if key in seen:
                problems.append(f"与第 {seen[key]} 行重复（同一指标、区划、期间）")
            else:
                seen[key] = line
        if problems:
            errors.append(f"第 {line} 行：" + "；".join(problems))
            continue
        records.append({"indicator_id": ind_id, "region_code": code, "city_code": region.city_code,
                        "period": period, "value": value,
                        "source": (_text(raw.get("source")) or default_source or None)})
    return records, errors


def _upsert(session: Session):  # noqa: ANN202
    name = session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(ExternalValue)


def write(session: Session, records: list[dict], now: datetime | None = None) -> tuple[int, int]:
    """Upsert the records; returns (inserted, updated)."""
    if not records:
        return 0, 0
    now = now or datetime.now(timezone.utc)
    keys = [(r["indicator_id"], r["region_code"], r["period"]) for r in records]
    existing = set()
    for chunk in range(0, len(keys), 500):
        part = keys[chunk:chunk + 500]
        existing |= set(session.execute(select(ExternalValue.indicator_id, ExternalValue.region_code,
                                               ExternalValue.period)
                                        .where(tuple_(ExternalValue.indicator_id, ExternalValue.region_code,
                                                      ExternalValue.period).in_(part))).all())
    stmt = _upsert(session)
    stmt = stmt.on_conflict_do_update(
        index_elements=["indicator_id", "region_code", "period"],
        set_={"value": stmt.excluded.value, "source": stmt.excluded.source, "city_code": stmt.excluded.city_code,
              "imported_at": stmt.excluded.imported_at})
    rows = [{**r, "imported_at": now} for r in records]
    for chunk in range(0, len(rows), 500):
        session.execute(stmt, rows[chunk:chunk + 500])
    updated = sum(1 for k in keys if k in existing)
    return len(keys) - updated, updated


def import_bytes(engine: Engine, name: str, data: bytes, *, actor: str = "manage.py",
                 source: str | None = None) -> ImportReport:
    """Validate and write in one transaction; raises ImportFailed (nothing written) on any bad row."""
    rows = read_rows(name, data)
    if not rows:
        raise ImportFailed(["文件没有数据行"])
    with session_scope(engine) as session:
        records, errors = check_rows(session, rows, source)
        if errors:
            raise ImportFailed(errors)
        inserted, updated = write(session, records)
        indicators = sorted({r["indicator_id"] for r in records})
        from auth import audit

        audit.record(session, actor, "import_stats", object_type="external_values", object_id=Path(name).name,
                     detail={"rows": len(records), "inserted": inserted, "updated": updated,
                             "indicators": indicators})
    return ImportReport(Path(name).name, len(records), inserted, updated, indicators)


def import_file(engine: Engine, path: str | Path, **kw) -> ImportReport:
    path = Path(path)
    if not path.exists():
        raise ImportFailed([f"文件不存在：{path}"])
    return import_bytes(engine, path.name, path.read_bytes(), **kw)
