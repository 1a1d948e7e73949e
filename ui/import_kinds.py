"""The kinds of file the 数据导入 screen takes — who may import each, its options, where its data shows —
and one run of a kind (a check or an import) through its domain's engine-taking function, with the
outcome in one shape for the screen and every run audited.

No Streamlit here: pages/data_import.py draws, this module runs. The rules (what a good row is, what
an import writes, the capability re-check) stay in the domains; this only calls them and turns their
reports and `TabularError` into `Outcome`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

import settings
from auth import actions as auth_actions
from auth.roles import can
from auth.uploads import sanitize_filename
from emergency import actions as emergency_actions
from emergency.importer import INVENTORY, RESOURCES
from events import actions as event_actions
from events.importer import contract as case_contract
from geo import actions as geo_actions
from geo.crs import LABELS as CRS_LABELS
from indicators import external_import
from sensors import actions as sensor_actions
from sensors.readings_import import contract as readings_contract
from sensors.registry import SENSORS
from store.region_codes import LEVEL_NAMES_ZH, LEVELS
from store.scope import PermissionDenied, Viewer
from tabular import Contract, Limits, TabularError
from tabular.limits import mib

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Problem:
    """One bad row (or feature, or the file as a whole), as the check report lists it."""

    where: str     # "第 12 行", "第 3 个要素", "文件"
    column: str    # the column's label, "" when the problem is the row's or the file's
    message: str


@dataclass
class Outcome:
    """A check or an import of one file. A check's inserted/updated say what an import would do."""

    ok: bool
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    read_as: str = ""   # which reading of the file the lines refer to, e.g. "CSV，编码 GBK"
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def audit_detail(self) -> dict:
        return {"rows": self.rows, "inserted": self.inserted, "updated": self.updated, "read_as": self.read_as,
                "problems": len(self.problems)}


@dataclass(frozen=True)
class Option:
    key: str
    label: str
    choices: tuple[tuple[str, str], ...]  # (value, label shown)


# (engine, viewer, file bytes, file name, options, check_only, progress, client) → Outcome
Runner = Callable[..., Outcome]


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    capability: str
    suffixes: tuple[str, ...]      # what the file picker offers
    unit: str                      # what one data row is: "行" or "个要素"
    hint: str                      # the expected content, in words
    shows_at: tuple[str, str]      # (page script, its title): where the imported data shows
    run: Runner
    options: tuple[Option, ...] = ()


# -- turning domain reports into an Outcome -----------------------------------------------------------------

def _from_tabular(exc: TabularError) -> Outcome:
    return Outcome(False, read_as=exc.source, problems=[
        Problem(f"第 {e.line} 行" if e.line else "文件", e.column or "", e.message) for e in exc.errors])


def _crs_note(crs: str) -> str:
    return "坐标为 WGS-84" if crs == "wgs84" else f"坐标已由 {CRS_LABELS.get(crs, crs)} 转换为 WGS-84"


def _boundaries(engine: Engine, viewer: Viewer, data: bytes, name: str, opts: dict, check_only: bool,
                progress: Progress | None, client: str | None) -> Outcome:
    report = geo_actions.import_boundary_file(engine, data, opts["crs"] or None, name=name,
                                              encoding=opts.get("encoding") or None, layer=opts.get("layer") or None,
                                              check_only=check_only, progress=progress)
    encoding = (report.encoding or "utf-8").upper()
    levels = [f"{LEVEL_NAMES_ZH[lv]}：新增 {report.created[lv]}，更新 {report.updated[lv]}"
              for lv in LEVELS if report.created[lv] or report.updated[lv]]
    # Repairs and overlap/gap findings do not stop an import, but the operator must see each one
    # before committing (issue 20: "geometry repair with a report, not refusal").
    findings = [*report.repair_lines(), *report.warning_lines()]
    return Outcome(report.ok, rows=report.features, inserted=sum(report.created.values()),
                   updated=sum(report.updated.values()), read_as=f"{report.format or '边界文件'}，编码 {encoding}",
                   problems=[Problem(f"第 {e.index} 个要素" if e.index else "文件", "", e.message)
                             for e in report.errors],
                   notes=[*levels, report.crs_text(), *findings] if report.ok and report.crs else [*levels, *findings])


def _cases(engine: Engine, viewer: Viewer, data: bytes, name: str, opts: dict, check_only: bool,
           progress: Progress | None, client: str | None) -> Outcome:
    report = event_actions.import_cases(engine, viewer, data, name=name, source=opts["source"], crs=opts["crs"],
                                        check_only=check_only, progress=progress, client=client)
    notes = [f"来源：{report.source}", _crs_note(report.crs)]
    if report.geocoded:
        notes.append(f"按地址定位 {report.geocoded} 件")
    if report.pending:
        notes.append(f"地址未能匹配 {report.pending} 件：标记为待定位，请在指挥调度中定位")
    if report.suspected:
        notes.append(f"疑似重复上报 {len(report.suspected)} 件：未自动合并，请在指挥调度「疑似重复」中处理")
    if report.ignored_columns:
        notes.append("未使用的列：" + "、".join(report.ignored_columns))
    return Outcome(True, rows=report.total, inserted=report.total if check_only else report.imported,
                   read_as=report.file, notes=notes)


def _statistics(engine: Engine, viewer: Viewer, data: bytes, name: str, opts: dict, check_only: bool,
                progress: Progress | None, client: str | None) -> Outcome:
    report = external_import.import_file(engine, data, name=name, actor=viewer, check_only=check_only,
                                         progress=progress)
    return Outcome(True, rows=report.rows, inserted=report.inserted, updated=report.updated, read_as=report.read_as,
                   notes=["指标：" + "、".join(report.indicators)] if report.indicators else [])


def _sensors(engine: Engine, viewer: Viewer, data: bytes, name: str, opts: dict, check_only: bool,
             progress: Progress | None, client: str | None) -> Outcome:
    res = sensor_actions.import_sensor_file(engine, viewer, data, name=name, crs=opts["crs"], check_only=check_only,
                                            progress=progress)
    return Outcome(True, rows=res.rows, inserted=res.created, updated=res.updated, read_as=res.file,
                   notes=[_crs_note(res.crs)])


def _readings(engine: Engine, viewer: Viewer, data: bytes, name: str, opts: dict, check_only: bool,
              progress: Progress | None, client: str | None) -> Outcome:
    out = sensor_actions.import_reading_file(engine, viewer, data, name=name, assume_tz=opts.get("assume_tz") or None,
                                             check_only=check_only, progress=progress)
    res = out.imported
    layout = "长表（每行一个读数）" if res.layout == "long" else "宽表（每行一个时刻的多项读数）"
    if check_only:
        notes = [f"{layout}，有效读数 {res.readings} 条", "已入库的相同读数（同一传感器、时间、指标）导入时跳过，不重复写入"]
        return Outcome(True, rows=res.rows, inserted=res.readings, read_as=res.file, notes=notes)
    notes = [layout, f"已存在而跳过的读数 {res.result.duplicates} 条",
             f"告警评估：新开 {out.alerts_opened} 条，解除 {out.alerts_closed} 条"]
    return Outcome(True, rows=res.rows, inserted=res.result.stored, read_as=res.file, notes=notes)


def _resources(engine: Engine, viewer: Viewer, data: bytes, name: str, opts: dict, check_only: bool,
               progress: Progress | None, client: str | None) -> Outcome:
    res = emergency_actions.import_resources(engine, viewer, data, name=name, crs=opts["crs"], check_only=check_only,
                                             progress=progress)
    return Outcome(True, rows=res.rows, inserted=res.inserted, updated=res.updated, read_as=res.file,
                   notes=[_crs_note(opts["crs"])])


def _inventory(engine: Engine, viewer: Viewer, data: bytes, name: str, opts: dict, check_only: bool,
               progress: Progress | None, client: str | None) -> Outcome:
    res = emergency_actions.import_inventory(engine, viewer, data, name=name, check_only=check_only,
                                             progress=progress)
    return Outcome(True, rows=res.rows, inserted=res.inserted, updated=res.updated, read_as=res.file)


# -- the kinds ------------------------------------------------------------------------------------------------

def _columns(contract: Contract) -> str:
    required = "、".join(c.label for c in contract.columns if c.required)
    optional = "、".join(c.label for c in contract.columns if not c.required)
    return f"必填列：{required}" + (f"；可选列：{optional}" if optional else "") + "（表头也可用英文名）"


_CRS = Option("crs", "文件坐标系", (("wgs84", "WGS-84（GPS、天地图、CGCS2000）"), ("gcj02", "GCJ-02（高德、腾讯）"),
                               ("bd09", "BD-09（百度）")))
_TABLE_SUFFIXES = ("csv", "xlsx", "xlsm", "txt", "tsv")


def _kinds() -> tuple[Kind, ...]:
    tz = ZoneInfo(settings.get_settings()["app"]["timezone"])
    return (
        Kind("boundaries", "行政区划边界", "import_boundaries", ("geojson", "json", "zip", "gpkg", "kml", "kmz"), "个要素",
             "GeoJSON（DataV GeoAtlas 或本系统导出格式）、Shapefile 压缩包（.zip，含 .shp/.dbf/.prj）、GeoPackage、"
             "KML/KMZ；每个要素有区划代码、名称和面边界。无效边界自动修复并逐条列出；已有的区划代码更新边界，新的代码新增",
             ("pages/overview.py", "态势总览"), _boundaries,
             (Option("crs", "文件坐标系", (("gcj02", "GCJ-02（高德、DataV、腾讯）"),
                                        ("", "按文件自带（Shapefile 的 .prj、GeoPackage、KML）"),
                                        ("wgs84", "WGS-84（GPS、天地图、CGCS2000）"), ("bd09", "BD-09（百度）"),
                                        ("EPSG:4546", "CGCS2000 3 度带 111°E（EPSG:4546）"),
                                        ("EPSG:4547", "CGCS2000 3 度带 114°E（EPSG:4547）"))),
              Option("encoding", "文件编码", (("", "自动（.cpg，UTF-8，GBK/GB18030）"), ("gbk", "GBK"),
                                           ("gb18030", "GB18030"))))),
        Kind("cases", "案件（12345 / 巡查）", "import_cases", _TABLE_SUFFIXES, "行",
             _columns(case_contract(tz)) + "。来源编号不能与已导入的重复", ("pages/dispatch.py", "指挥调度"), _cases,
             (Option("source", "案件来源", (("12345", "12345 热线"), ("巡查", "巡查"))), _CRS)),
        Kind("statistics", "统计数据", "import_statistics", _TABLE_SUFFIXES, "行",
             _columns(external_import.CONTRACT) + "。同一指标、区划、期间已有的数值被替换",
             ("pages/indicator_catalog.py", "指标库"), _statistics),
        Kind("sensors", "传感器登记", "import_sensors", _TABLE_SUFFIXES, "行",
             _columns(SENSORS) + "。已有编号的传感器更新", ("pages/environment.py", "生态环境"), _sensors, (_CRS,)),
        Kind("readings", "监测读数", "import_readings", _TABLE_SUFFIXES, "行",
             _columns(readings_contract(None)) + "。长表每行一个读数（指标、数值），宽表每个指标一列",
             ("pages/environment.py", "生态环境"), _readings,
             (Option("assume_tz", "不带时区的时间", ((str(tz), f"按本地时间（{tz}）"), ("", "视为错误"))),)),
        Kind("resources", "应急资源", "import_resources", _TABLE_SUFFIXES, "行",
             _columns(RESOURCES) + "。已有编号的资源更新", ("pages/emergency_command.py", "应急指挥"), _resources, (_CRS,)),
        Kind("inventory", "物资库存", "import_resources", _TABLE_SUFFIXES, "行",
             _columns(INVENTORY) + "。同一储备库、物资的数量被替换", ("pages/emergency_command.py", "应急指挥"), _inventory),
    )


def kinds_for(role: str) -> list[Kind]:
    """The kinds this role may import, in menu order."""
    return [k for k in _kinds() if can(role, k.capability)]


def max_bytes() -> int:
    """The largest file an import reads ([import] max_bytes)."""
    return Limits.from_settings().max_bytes


def run(kind: Kind, engine: Engine, viewer: Viewer, data: bytes, file_name: str, options: dict, *,
        check_only: bool, progress: Progress | None = None, client: str | None = None) -> Outcome:
    """Check (`check_only`) or import one file. Bad files come back as an Outcome listing every problem
    (nothing written); a role without the kind's capability gets PermissionDenied. Every run is audited:
    kind, file, check or import, outcome and counts."""
    # The name is shown and audited, never used as a path. The content is judged by the domain's reader
    # (tabular sniffs CSV / Excel by content, UTF-16 included; geo parses the GeoJSON), not here.
    name = sanitize_filename(file_name, fallback="上传的文件")
    if not can(viewer.role, kind.capability):
        auth_actions.record_import(engine, viewer, kind.key, name, check_only=check_only, outcome="refused",
                                   client=client)
        raise PermissionDenied(f"您的角色无权导入{kind.label}")
    try:
        if len(data) > max_bytes():
            outcome = Outcome(False, problems=[Problem("文件", "", f"文件有 {mib(len(data))}，超过单次导入上限 "
                                                                   f"{mib(max_bytes())}：请拆分后分批导入")])
        else:
            outcome = kind.run(engine, viewer, data, name, options, check_only, progress, client)
    except TabularError as exc:
        outcome = _from_tabular(exc)
    except PermissionDenied:
        auth_actions.record_import(engine, viewer, kind.key, name, check_only=check_only, outcome="refused",
                                   client=client)
        raise
    except Exception:
        auth_actions.record_import(engine, viewer, kind.key, name, check_only=check_only, outcome="error",
                                   client=client)
        raise
    result = ("passed" if check_only else "imported") if outcome.ok else "failed"
    auth_actions.record_import(engine, viewer, kind.key, name, check_only=check_only, outcome=result,
                               detail=outcome.audit_detail(), client=client)
    return outcome
