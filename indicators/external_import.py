"""Import indicator values reported by statistics offices (外部统计) from CSV or Excel.

File: one row per value with the columns
    indicator_id (指标编号)  region_code (区划代码)  period (期间: YYYY-MM, or YYYY for yearly indicators)
    value (数值)             source (来源, optional)
read by `tabular` (CSV in UTF-8, GBK or GB18030, or .xlsx).

All or nothing: every row is checked (unknown indicator or one that is not `external`, unknown region or
a level the indicator is not kept at, bad period format, duplicate keys within the file, non-numeric
values); if any row is bad nothing is written and every bad row is reported by its line number.
Upsert: a value for an (indicator, region, period) already in the store is replaced by the file's value
(statistics are revised; the latest report wins) and the import counts it as updated.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from auth import audit
from auth.roles import can
from indicators.library import load_library
from store.db import session_scope
from store.models import ExternalValue, Region
from store.models.regions import LEVEL_NAMES_ZH
from store.scope import PermissionDenied, Viewer
from tabular import CellError, Column, Contract, Float, Row, Text, read_table, stages

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
YEAR_RE = re.compile(r"^\d{4}$")


class PeriodCell(Text):
    """Text, except that a date (Excel turns "2026-10" into 2026-10-01) is read as its month."""

    def parse(self, cell: Any) -> str:
        return f"{cell:%Y-%m}" if isinstance(cell, datetime) else super().parse(cell)


CONTRACT = Contract("统计数据导入", (
    Column("indicator_id", "指标编号", Text(max_length=60), required=True, aliases=("indicator", "指标id", "指标代码")),
    Column("region_code", "区划代码", Text(max_length=15), required=True, aliases=("region", "地区代码", "行政区划代码")),
    Column("period", "期间", PeriodCell(), required=True, aliases=("统计期", "时期", "统计期间")),
    Column("value", "数值", Float(thousands=True), required=True, aliases=("值", "指标值")),
    Column("source", "来源", Text(max_length=100), aliases=("数据来源",)),
))


@dataclass
class ImportReport:
    file: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    indicators: list[str] = field(default_factory=list)
    read_as: str = ""  # e.g. "CSV，GBK 编码"

    def summary(self) -> str:
        return (f"已导入 {self.file}（{self.read_as}）：共 {self.rows} 行，新增 {self.inserted} 条，"
                f"更新 {self.updated} 条（指标：{'、'.join(self.indicators)}）")


# -- checking ----------------------------------------------------------------------------------------------

def _period(text: str, grain: str) -> str | None:
    """The error message for a period that does not fit the indicator's grain, or None."""
    if grain == "month":
        m = MONTH_RE.match(text)
        return None if m and 1 <= int(m.group(2)) <= 12 else f"期间「{text}」格式应为 YYYY-MM（如 2026-10）"
    return None if YEAR_RE.match(text) else f"期间「{text}」格式应为 YYYY（该指标按年统计）"


Progress = Callable[[int, int], None]


def check_rows(session: Session, rows: list[Row], default_source: str | None = None,
               progress: Progress | None = None) -> tuple[list[dict], list[CellError]]:
    """Records for the rows whose cells all fit, and an error for every indicator, region, period or
    duplicate problem. `progress(done, total)` follows the rows."""
    lib = load_library()
    codes = {r.code: r for r in session.execute(select(Region.code, Region.level, Region.city_code)).all()}
    errors: list[CellError] = []
    records: list[dict] = []
    seen: dict[tuple, int] = {}
    for done, row in enumerate(rows, start=1):
        if progress is not None:
            progress(done, len(rows))
        before = len(errors)

        def bad(column: str, message: str, line: int = row.line) -> None:
            errors.append(CellError(line, message, CONTRACT.label(column)))

        ind_id, code, period = row.get("indicator_id"), row.get("region_code"), row.get("period")
        ind = lib.get(ind_id) if ind_id else None
        if ind_id and ind is None:
            bad("indicator_id", f"指标「{ind_id}」不在指标库中")
        elif ind is not None and ind.formula.kind != "external":
            bad("indicator_id", f"指标「{ind_id}」（{ind.name}）由系统计算，不是外部统计指标，不能导入")
        region = codes.get(code) if code else None
        if code and region is None:
            bad("region_code", f"区划代码「{code}」不存在")
        elif region is not None and ind is not None and ind.formula.kind == "external" \
                and region.level not in ind.levels:
            bad("region_code", f"指标「{ind_id}」不在{LEVEL_NAMES_ZH.get(region.level, region.level)}级统计"
                               f"（适用：{'、'.join(LEVEL_NAMES_ZH[x] for x in ind.levels)}）")
        if period and (problem := _period(period, ind.grain if ind is not None else "month")):
            bad("period", problem)
        if not row.ok or len(errors) > before:
            continue
        key = (ind_id, code, period)
        if key in seen:
            errors.append(CellError(row.line, f"与第 {seen[key]} 行重复（同一指标、区划、期间）"))
            continue
        seen[key] = row.line
        records.append({"indicator_id": ind_id, "region_code": code, "city_code": region.city_code,
                        "period": period, "value": row.get("value"),
                        "source": row.get("source") or default_source or None})
    return records, errors


def _upsert(session: Session):  # noqa: ANN202
    name = session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(ExternalValue)


def _keys(records: list[dict]) -> list[tuple[str, str, str]]:
    return [(r["indicator_id"], r["region_code"], r["period"]) for r in records]


def _existing(session: Session, keys: list[tuple[str, str, str]]) -> set[tuple]:
    """The (indicator, region, period) keys of `keys` already in the store."""
    existing = set()
    for chunk in range(0, len(keys), 500):
        part = keys[chunk:chunk + 500]
        existing |= set(session.execute(select(ExternalValue.indicator_id, ExternalValue.region_code,
                                               ExternalValue.period)
                                        .where(tuple_(ExternalValue.indicator_id, ExternalValue.region_code,
                                                      ExternalValue.period).in_(part))).all())
    return existing


def write(session: Session, records: list[dict], now: datetime | None = None,
          progress: Progress | None = None) -> tuple[int, int]:
    """Upsert the records; returns (inserted, updated). `progress(done, total)` follows the rows written."""
    if not records:
        return 0, 0
    now = now or datetime.now(timezone.utc)
    keys = _keys(records)
    existing = _existing(session, keys)
    stmt = _upsert(session)
    stmt = stmt.on_conflict_do_update(
        index_elements=["indicator_id", "region_code", "period"],
        set_={"value": stmt.excluded.value, "source": stmt.excluded.source, "city_code": stmt.excluded.city_code,
              "imported_at": stmt.excluded.imported_at})
    rows = [{**r, "imported_at": now} for r in records]
    for chunk in range(0, len(rows), 500):
        session.execute(stmt, rows[chunk:chunk + 500])
        if progress is not None:
            progress(min(chunk + 500, len(rows)), len(rows))
    updated = sum(1 for k in keys if k in existing)
    return len(keys) - updated, updated


def import_file(engine: Engine, src, *, name: str | None = None, actor: Viewer | str = "manage.py",  # noqa: ANN001
                source: str | None = None, check_only: bool = False,
                progress: Progress | None = None) -> ImportReport:
    """Read `src` (a path, bytes or an upload; `name` names bytes), validate, and write in one
    transaction; raises TabularError (nothing written) listing every bad row. `check_only`: every
    check and the counts an import would have, in a read-only transaction. `progress(done, total)`
    follows the reading, the rows checked, then (importing) written."""
    if isinstance(actor, Viewer) and not can(actor.role, "import_statistics"):
        raise PermissionDenied("您的角色无权导入统计数据")
    reading, checking, writing = stages(progress, 1, 1, 0 if check_only else 1)
    table = read_table(src, CONTRACT, name=name, progress=reading)
    # Checked in a read-only transaction: the write lock (SQLite has one writer) is taken only to write.
    with session_scope(engine, readonly=True) as session:
        records, errors = check_rows(session, table.rows, source, progress=checking)
        table.raise_if_any(errors)
        indicators = sorted({r["indicator_id"] for r in records})
        if check_only:
            updated = len(_existing(session, _keys(records)))
            return ImportReport(Path(table.name).name, len(records), len(records) - updated, updated, indicators,
                                table.describe())
    with session_scope(engine) as session:
        # The regions the rows name, read again under the lock: a boundary re-import may have dropped
        # one since the check (the indicator library is read from files, not from the store).
        codes = sorted({r["region_code"] for r in records})
        found = set()
        for chunk in range(0, len(codes), 500):
            found |= set(session.scalars(select(Region.code).where(Region.code.in_(codes[chunk:chunk + 500]))))
        if len(found) < len(codes):
            gone = set(codes) - found
            table.raise_if_any([CellError(0, f"区划代码「{code}」在检查之后已不存在，整个文件未导入",
                                          CONTRACT.label("region_code")) for code in sorted(gone)[:20]])
        inserted, updated = write(session, records, progress=writing)
        audit.record(session, actor, "import_stats", object_type="external_values",
                     object_id=Path(table.name).name,
                     detail={"rows": len(records), "inserted": inserted, "updated": updated,
                             "indicators": indicators, "file": table.describe()})
    return ImportReport(Path(table.name).name, len(records), inserted, updated, indicators, table.describe())


def import_bytes(engine: Engine, name: str, data: bytes, **kw) -> ImportReport:
    return import_file(engine, data, name=name, **kw)
