"""Which tables an indicator may read, and how each one is placed in the region hierarchy.

Three ways a table carries its region:
- "columns": the fact row has city_code … grid_code (store.models.RegionKeyed), so a level is one
  indexed column. Tables without them reach them through a parent row (`via`), e.g. a dispatch through
  its incident.
- "region_code": the row belongs to exactly one region (imported statistics, area-level air figures);
  a level is available only where such rows are kept (`levels`).
- "hierarchy": the regions table itself; a row's ancestor at a level is the prefix of its code.

Tables not listed here (users, audit log, raw readings, quarantine …) are not indicator sources: raw
readings are too big to scan per view and personal or security tables must never feed a dashboard.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Date, DateTime, String, Table, bindparam, func, literal
from sqlalchemy.sql.elements import ColumnElement

from events.workflow import OPEN_STATUSES, STATUS_NAMES
import store.models  # noqa: F401 - registers every table on Base.metadata
from store.models import Base
from store import region_codes
from store.models.regions import LEVELS


@dataclass(frozen=True)
class Via:
    """The parent table that carries the region columns, and the join key."""

    table: str
    local_column: str
    parent_column: str


@dataclass(frozen=True)
class SourceSpec:
    table: str
    label: str  # Chinese name for error messages and the catalogue
    keying: str  # columns / region_code / hierarchy
    levels: tuple[str, ...] = LEVELS
    via: Via | None = None


SOURCES: dict[str, SourceSpec] = {s.table: s for s in (
    SourceSpec("events", "事件（案件）表", "columns"),
    SourceSpec("event_daily_rollup", "事件日汇总表", "columns"),
    # Their rows carry the city and district codes: a province is a prefix of city_code (its cities together).
    SourceSpec("event_district_daily", "事件区县日汇总表", "columns", levels=("province", "city", "district")),
    SourceSpec("event_department_daily", "事件部门日汇总表", "columns", levels=("province", "city", "district")),
    SourceSpec("event_grid_monthly", "事件网格月汇总表", "columns"),
    SourceSpec("event_grid_month_totals", "事件网格月合计表", "columns"),
    SourceSpec("event_transitions", "案件流转记录表", "columns", via=Via("events", "event_id", "id")),
    SourceSpec("sensors", "监测设备表", "columns"),
    SourceSpec("sensor_hourly", "监测小时汇总表", "columns"),
    SourceSpec("sensor_daily", "监测站点日评价表", "columns"),
    SourceSpec("sensor_latest", "监测最新值表", "columns", via=Via("sensors", "sensor_id", "id")),
    SourceSpec("sensor_area_daily", "区域空气质量日评价表", "region_code", levels=("city", "district")),
    SourceSpec("alerts", "监测预警表", "columns"),
    SourceSpec("resources", "应急资源表", "columns"),
    SourceSpec("inventory", "应急物资库存表", "columns", via=Via("resources", "resource_id", "id")),
    SourceSpec("incidents", "突发事件表", "columns"),
    SourceSpec("dispatches", "应急调派表", "columns", via=Via("incidents", "incident_id", "id")),
    SourceSpec("regions", "行政区划表", "hierarchy"),
    SourceSpec("external_values", "外部统计数据表", "region_code"),
    # 上报及时率: each outbox record's delivery to a destination (exchange/), placed by its record's region.
    SourceSpec("outbox_deliveries", "数据交换投递表", "columns", via=Via("outbox", "record_id", "id")),
)}

EXTERNAL_TABLE = "external_values"

# Coarser copies of a source that hold the same rows summed to fewer levels or longer times, in order of
# preference. The SQL builder reads a coarse one whenever everything a query needs exists there (levels,
# zone, columns, and for a monthly copy periods of whole months): the same figure from far fewer rows.
COARSER: dict[str, tuple[str, ...]] = {
    "event_daily_rollup": ("event_district_daily", "event_grid_month_totals", "event_grid_monthly"),
    # The per-case measures' own table (indicators.case_rollup): its district copy serves any days, its
    # totals (no category or source) whole months of every grid.
    "event_grid_monthly": ("event_district_daily", "event_grid_month_totals"),
}
# The copy of a source that carries the department (what a figure per department reads; the grid rollup
# has no department key). Sources with a department column of their own (events) need none.
BY_DEPARTMENT: dict[str, str] = {"event_daily_rollup": "event_department_daily",
                                 "event_grid_monthly": "event_department_daily"}
# The time column of the event rollups: a day, or the first day of a month (a monthly copy holds whole
# months only, so it serves a period only when the period is made of whole months).
TIME_COLUMNS: dict[str, str] = {"event_daily_rollup": "day", "event_district_daily": "day",
                                "event_department_daily": "day", "event_grid_monthly": "month",
                                "event_grid_month_totals": "month"}
MONTHLY: frozenset[str] = frozenset({"event_grid_monthly", "event_grid_month_totals"})
# Columns a copy holds differently from its source (the monthly copy keys "" where the grid rollup has
# NULL): a measure that reads them is not moved to that copy.
_REGIONS_RECODED = frozenset({"district_code", "street_code", "community_code", "grid_code"})
RECODED: dict[str, frozenset[str]] = {"event_grid_monthly": _REGIONS_RECODED,
                                      "event_grid_month_totals": _REGIONS_RECODED}


def closed_domain(source: str, column_name: str) -> frozenset[str] | None:
    """Every value a column can hold, where the application fixes the set (a workflow's states).
    The engine then compiles "not in X" as "in (domain − X)": same rows, and an index can serve it."""
    if (source, column_name) == ("events", "status"):
        return frozenset(STATUS_NAMES)
    return None


def rare_values(source: str, column_name: str) -> frozenset[str]:
    """Values few rows hold, whatever the data's age: cases still open, against years of closed ones."""
    if (source, column_name) == ("events", "status"):
        return frozenset(OPEN_STATUSES)
    return frozenset()


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def known_table(name: str) -> bool:
    return name in Base.metadata.tables


def parent_table(spec: SourceSpec) -> Table | None:
    return table(spec.via.table) if spec.via else None


def resolve_column(spec: SourceSpec, name: str):  # noqa: ANN201 - a Column or None
    """The column `name` of the source, or `parent.column` of its region parent."""
    if "." in name:
        tname, cname = name.split(".", 1)
        if tname == spec.table:
            return table(spec.table).c.get(cname)
        if spec.via and tname == spec.via.table:
            return table(spec.via.table).c.get(cname)
        return None
    return table(spec.table).c.get(name)


def is_time_column(column) -> bool:  # noqa: ANN001
    return isinstance(column.type, (Date, DateTime)) or isinstance(getattr(column.type, "impl", None), DateTime)


def is_date_column(column) -> bool:  # noqa: ANN001
    return isinstance(column.type, Date) and not isinstance(column.type, DateTime)


def has_region_columns(t: Table) -> bool:
    return all(f"{lvl}_code" in t.c for lvl in LEVELS)


def region_table(spec: SourceSpec) -> Table:
    """The table whose region columns locate a row of `spec` (itself or its parent)."""
    return parent_table(spec) if spec.via else table(spec.table)


def groupable_levels(spec: SourceSpec) -> tuple[str, ...]:
    """Levels this source can be grouped at, checked against the actual schema."""
    if spec.keying == "columns":
        t = region_table(spec)
        return tuple(lvl for lvl in spec.levels if f"{lvl}_code" in t.c)
    return spec.levels


# -- SQL: where a row sits in the hierarchy ------------------------------------------------------------

def level_expr(spec: SourceSpec, level: str) -> ColumnElement:
    """SQL expression: the code at `level` of the region a row belongs to."""
    if spec.keying == "columns":
        return region_table(spec).c[f"{level}_code"]
    t = table(spec.table)
    if spec.keying == "region_code":
        return t.c.region_code
    return region_codes.sql_ancestor(t.c, level)


# -- region conditions with named parameters -------------------------------------------------------------
# The SQL builder compiles a statement once per shape and runs it again for another region with new
# values (indicators.engine): every region-dependent value goes in as a named parameter — `name` for the
# code, `name_prefix` for its subtree prefix (store.region_codes.subtree_prefix) — whose values
# `region_params` gives for any code. The conditions are those of store.region_codes.

def region_params(name: str, code: str) -> dict[str, str]:
    return {name: code, f"{name}_prefix": region_codes.subtree_prefix(code)}


def _code(name: str, code: str):  # noqa: ANN202
    return bindparam(name, code, type_=String())


def _prefix(name: str, code: str):  # noqa: ANN202
    return bindparam(f"{name}_prefix", region_codes.subtree_prefix(code), type_=String())


def inside_columns(cols, code: str, name: str) -> ColumnElement:  # noqa: ANN001
    """region_codes.inside with named parameters: one indexed column equal to the code, or for a
    province the prefix of city_code."""
    column = getattr(cols, region_codes.keyed_column_name(code))
    if region_codes.level_of(code) == "province":
        return column.startswith(_prefix(name, code))
    return column == _code(name, code)


def code_inside_bound(column, code: str, name: str) -> ColumnElement:  # noqa: ANN001
    """region_codes.code_inside with a named parameter (region codes are digits: nothing to escape)."""
    return column.startswith(_prefix(name, code))


def regions_inside_bound(regions, code: str, name: str) -> ColumnElement:  # noqa: ANN001
    """region_codes.regions_inside with named parameters."""
    if region_codes.level_of(code) == "city":
        return regions.city_code == _code(name, code)
    return regions.code.startswith(_prefix(name, code))


def in_scope(spec: SourceSpec, code: str, name: str = "scope") -> ColumnElement:
    """SQL condition: the row lies inside region `code` (for region_code tables: is exactly it)."""
    if spec.keying == "columns":
        return inside_columns(region_table(spec).c, code, name)
    t = table(spec.table)
    if spec.keying == "region_code":
        return t.c.region_code == _code(name, code)
    return regions_inside_bound(t.c, code, name)


def in_zone(spec: SourceSpec, zone_code: str, name: str = "zone") -> ColumnElement:
    """SQL condition: the row lies inside the viewer's zone (defence in depth: the scope is checked
    against the zone before any query; this keeps a wrong scope from ever reading outside it)."""
    if spec.keying == "columns":
        return inside_columns(region_table(spec).c, zone_code, name)
    t = table(spec.table)
    if spec.keying == "region_code":
        return code_inside_bound(t.c.region_code, zone_code, name)
    return regions_inside_bound(t.c, zone_code, name)


def in_area(spec: SourceSpec, code: str, indexed: bool = True, name: str = "area") -> ColumnElement:
    """SQL condition used to tell "no data at all for this period" from a real zero: the row lies in
    city `code`, or in any city of province `code`. `indexed=False` wraps the column so the planner
    keeps off the city index (every row of a one-city store matches it)."""
    t = region_table(spec) if spec.keying == "columns" else table(spec.table)
    if "city_code" not in t.c:
        return literal(True)
    column = t.c.city_code if indexed else func.coalesce(t.c.city_code, "")
    if region_codes.level_of(code) == "province":
        return code_inside_bound(column, code, name)
    return column == _code(name, code)


def department_column(spec: SourceSpec):  # noqa: ANN201
    """The department column that restricts department staff, or None when the source has none."""
    for t in (table(spec.table), parent_table(spec)):
        if t is not None and "department_code" in t.c:
            return t.c.department_code
    return None


def from_clause(spec: SourceSpec):  # noqa: ANN201
    t = table(spec.table)
    if spec.via:
        p = parent_table(spec)
        return t.join(p, t.c[spec.via.local_column] == p.c[spec.via.parent_column])
    return t
