"""Import hotline (12345) and patrol cases from CSV or Excel: all rows or none.

The file is read by `tabular` (encodings, Excel, line numbers, column types); this module holds the
column contract and the case rules. Every row is checked before anything is written; any problem
raises one `TabularError` listing every bad row by its line in the file and the reason, in Chinese.
Duplicate source ids are refused, both within the file and against cases already in the store.

Two phases, so that an import never holds the write lock (SQLite has one writer) while it works:
1. `prepare`, in a read-only transaction: read, check every row, locate, 重复上报 suspects
   (events.import_suspects), deadlines, the rows as they will be stored and the rollup deltas;
2. events.import_stage: stage those rows in temporary tables (still no write lock), then one short
   write that re-checks what may have changed meanwhile and applies everything set-based.
`import_file` runs the phases on an engine (the import screen, manage.py import-events, the benchmark);
`import_events` runs them inside a transaction the caller already holds.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import settings
from auth import audit
from auth.roles import can
from events import deadlines, import_stage, import_suspects, intake
from events.address_location import AddressPlace, locate_address
from events.catalog import UnknownCategory, get_catalog
from events.limits import LIMITS
from geo.crs import UnknownCRS, normalize_crs, to_wgs84_array
from geo.geocode import get_index
from store.data_version import VersionedSession
from store.db import is_sqlite, session_scope
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
    # Seconds per phase: prepare (read and check, no write lock), stage (temporary tables, no write
    # lock), lock_wait (until the write lock was granted), apply (the write lock held).
    timings: dict[str, float] = field(default_factory=dict)

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
    kind: str = "事件"


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
            v["category"], v["subcategory"], out.kind = item.category, item.name, item.kind
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
    for key in ("title", "description", "address", "reporter_name", "source_id"):
        # Control characters: refused as a case's intake refuses them (PostgreSQL cannot keep NUL).
        try:
            intake._refuse_control_characters(**{key: v[key]})  # noqa: SLF001 - the one rule, shared
        except intake.IntakeError as exc:
            err(key, str(exc))
    return out


# -- phase 1: read and check, no write transaction ------------------------------------------------------
@dataclass
class Prepared:
    """A checked file: its report so far and, unless only checked, its rows as they will be stored."""
    report: ImportReport
    name: str
    rows: import_stage.Rows | None = None


def prepare(session: Session, src, source: str, crs: str = "wgs84", *, actor: Viewer | None = None,  # noqa: ANN001
            locator=None, now: datetime | None = None, name: str | None = None,  # noqa: ANN001
            check_only: bool = False, progress: Callable[[int, int], None] | None = None) -> Prepared:
    """Check every row of `src` (path, bytes or uploaded file; `name` names bytes) reading the store
    through `session` (a read-only transaction is enough: nothing is written). With any problem
    TabularError lists every bad row. Unless `check_only`, also computes everything the write needs:
    the cases' columns, deadlines, 重复上报 suspects (against the store and the rows before), log details."""
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    if actor is not None and not can(actor.role, "import_cases"):
        raise PermissionDenied("您的角色无权导入案件")
    try:
        source = intake.normalize_source(source)
        crs = normalize_crs(crs)
    except (intake.IntakeError, UnknownCRS) as exc:
        raise _fail(str(exc)) from None
    reading, checking = stages(progress, 1, 1)
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
        if checking is not None and (done % 1000 == 0 or done == len(table.rows)):
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

    # The largest case id now: cases after it were reported after this check (events.import_stage).
    seen_max_id = session.execute(select(func.coalesce(func.max(Event.id), 0))).scalar_one()
    # Duplicates against the store (checked again by the write's unique key).
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
    wgs84: dict[int, tuple[float, float]] = {}
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
                wgs84[r.line] = (float(lons[k]), float(lats[k]))
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
                wgs84[r.line] = (r.lon, r.lat)
                report.geocoded += not r.place.pending
                report.pending += r.place.pending
    table.raise_if_any(errors)
    prepared = Prepared(report, table.name)
    if not check_only:
        prepared.rows = _rows(session, checked, wgs84, source, crs, now, seen_max_id)
    report.timings["prepare"] = round(time.perf_counter() - started, 3)
    return prepared


def _rows(session: Session, checked: list[_Row], wgs84: dict, source: str, crs: str, now: datetime,  # noqa: PLR0913
          seen_max_id: int) -> import_stage.Rows:
    """The checked rows as the columns of the cases to store, with what the write needs besides."""
    columns: dict[str, list] = {k: [] for k in (
        "source", "source_id", "kind", "category", "subcategory", "priority", "title", "description", "address",
        "lon", "lat", "location_pending", "reporter_name", "reporter_phone", "reporter_id_no", "reported_at",
        "stage_deadline", "stage_warn_at", "city_code", "district_code", "street_code", "community_code",
        "grid_code")}
    details, points, pending = [], [], []
    for j, r in enumerate(checked):
        v = r.values
        lon, lat = wgs84[r.line]
        priority = v.get("priority") or "normal"
        dl = deadlines.stage_deadline(v["reported_at"], v["category"], v["subcategory"], priority, "register")
        is_pending = bool(r.place and r.place.pending)
        for key, value in (("source", source), ("source_id", v["source_id"]), ("kind", r.kind),
                           ("category", v["category"]), ("subcategory", v["subcategory"]), ("priority", priority),
                           ("title", v["title"]), ("description", v.get("description") or ""),
                           ("address", v.get("address") or None), ("lon", lon), ("lat", lat),
                           ("location_pending", is_pending), ("reporter_name", v.get("reporter_name")),
                           ("reporter_phone", v.get("reporter_phone")), ("reporter_id_no", v.get("reporter_id_no")),
                           ("reported_at", v["reported_at"]), ("stage_deadline", dl.deadline),
                           ("stage_warn_at", dl.warn_at)):
            columns[key].append(value)
        for level in ("city", "district", "street", "community", "grid"):
            columns[f"{level}_code"].append(r.codes.get(level))
        details.append(intake._report_detail("wgs84" if r.place else crs, v["source_id"],  # noqa: SLF001
                                             r.place.detail() if r.place else None))
        # A provisional id above every stored case: "newest" orders the file's rows as the write will.
        points.append(import_suspects.Point(seen_max_id + 1 + j, v["category"], v["subcategory"], lon, lat,
                                            v["reported_at"], row=j))
        pending.append(is_pending)
    checked_flags = [not p for p in pending]
    stored = import_suspects.existing_candidates(session, points, before_id=seen_max_id + 1)
    matches = import_suspects.match_rows(points, checked_flags, stored)
    return import_stage.Rows(source=source, now=now, actor=f"system:{source}", columns=columns, points=points,
                             checked=checked_flags, matches=matches, details=details,
                             lines=[r.line for r in checked], seen_max_id=seen_max_id)


# -- phase 2: stage and apply -------------------------------------------------------------------------------
def _refused_since(prepared: Prepared, taken: dict[str, int]) -> TabularError:
    source = prepared.report.source
    return TabularError([CellError(line, f"来源编号「{sid}」在检查之后已由其他导入写入（来源 {source}），"
                                         "整个文件未导入，请去掉该行后重新导入", "来源编号")
                         for sid, line in sorted(taken.items(), key=lambda kv: kv[1])],
                        WHAT, prepared.report.file)


def _finish(session: Session, prepared: Prepared, staged: import_stage.Staged, actor: Viewer | None,
            client: str | None) -> ImportReport:
    """The write proper (in the caller's write transaction): apply the staged rows, fill in the report,
    the audit row."""
    report, rows = prepared.report, prepared.rows
    ids, suspects = import_stage.apply(session, rows, staged)
    report.event_ids = ids
    report.imported = len(ids)
    report.suspected = [{"line": line, "case_id": i, "candidates": s}
                        for line, i, s in zip(rows.lines, ids, suspects) if s]
    audit.record(session, actor or "manage.py", "event_import", object_type="event", client=client,
                 detail={"source": report.source, "crs": report.crs, "rows": report.total, "imported": report.imported,
                         "file": prepared.name, "geocoded": report.geocoded, "pending": report.pending,
                         "suspected_duplicates": len(report.suspected),
                         "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None})
    session.flush()
    return report


def import_events(session: Session, src, source: str, crs: str = "wgs84", *,  # noqa: ANN001
                  actor: Viewer | None = None, locator=None, now: datetime | None = None,  # noqa: ANN001
                  client: str | None = None, name: str | None = None, check_only: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Check every row of `src`; when all are good, create every case in the caller's transaction (for
    callers that already hold one; screens and commands use `import_file`, which holds the write lock
    only for the write itself). With any problem nothing is written and TabularError lists every bad
    row. `check_only`: every check, nothing written (`imported` stays 0). A source id that a concurrent
    transaction commits after the check (PostgreSQL; SQLite's caller holds the write lock throughout)
    surfaces as IntegrityError, the caller's transaction then being lost anyway."""
    checking, writing = stages(progress, 2, 0 if check_only else 1)
    prepared = prepare(session, src, source, crs, actor=actor, locator=locator, now=now, name=name,
                       check_only=check_only, progress=checking)
    if check_only:
        return prepared.report
    staged = import_stage.stage(session, prepared.rows, progress=writing)
    report = _finish(session, prepared, staged, actor, client)
    import_stage.drop(session, staged)
    return report


def import_file(engine: Engine, src, source: str, crs: str = "wgs84", *,  # noqa: ANN001
                actor: Viewer | None = None, locator=None, now: datetime | None = None,  # noqa: ANN001
                client: str | None = None, name: str | None = None, check_only: bool = False,
                progress: Callable[[int, int], None] | None = None,
                hook: Callable[[str], None] | None = None) -> ImportReport:
    """Check, and unless `check_only` import, a file of cases: every row or none.

    The rows are read, checked and prepared in a read-only transaction, staged in temporary tables of
    the importing connection (no write lock either), then written in one short write transaction
    (events.import_stage) — so a dispatcher's 立案 waits at most for that write, not for the import.
    `hook(phase)` is called between the phases ("prepared", "staged", "applied"): tests hold the
    import there to prove what is (not) locked. With any problem TabularError lists every bad row and
    nothing is written, also when a source id was imported by someone else between check and write."""
    hook = hook or (lambda phase: None)
    checking, writing = stages(progress, 2, 0 if check_only else 1)
    with session_scope(engine, readonly=True) as session:
        prepared = prepare(session, src, source, crs, actor=actor, locator=locator, now=now, name=name,
                           check_only=check_only, progress=checking)
    hook("prepared")
    if check_only:
        return prepared.report
    report = prepared.report
    with engine.connect() as conn, _sqlite_tuning(conn, prepared.rows.n) as tuning:
        staged = None
        try:
            started = time.perf_counter()
            # A reader's transaction: it writes only temporary tables. VersionedSession, like session_scope:
            # the data versions of what the write changes move in the write's own commit.
            with VersionedSession(bind=conn) as session:
                staged = import_stage.stage(session, prepared.rows, progress=writing)
                session.commit()
            report.timings["stage"] = round(time.perf_counter() - started, 3)
            hook("staged")
            writer = conn.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(engine) else conn
            try:
                with VersionedSession(bind=writer) as session:
                    asked = time.perf_counter()
                    session.connection()  # BEGIN (IMMEDIATE on SQLite): from here the write lock is held
                    granted = time.perf_counter()
                    _finish(session, prepared, staged, actor, client)
                    written = time.perf_counter()
                    session.commit()
                    done = time.perf_counter()
            except IntegrityError:  # rolled back: nothing written. A source id imported since the check?
                if is_sqlite(engine):
                    conn.execution_options(sqlite_begin="")
                with VersionedSession(bind=conn) as session:
                    taken = import_stage.taken_source_ids(session, prepared.rows, staged)
                if taken:
                    raise _refused_since(prepared, taken) from None
                raise
            report.timings["lock_wait"] = round(granted - asked, 3)
            report.timings["apply"] = round(done - granted, 3)  # the write lock held, commit included
            report.timings["commit"] = round(done - written, 3)
            report.timings["checkpoint"] = tuning.checkpoint()
            hook("applied")
        finally:
            if staged is not None:
                if is_sqlite(engine):
                    conn.execution_options(sqlite_begin="")
                with VersionedSession(bind=conn) as session:
                    import_stage.drop(session, staged)
                    session.commit()
    return report


class _sqlite_tuning:  # noqa: N801 - used as a context manager
    """SQLite, for this connection and this import only: the staging tables in memory (they are the
    connection's own and go with the import; on disk, writing and dropping 100k staged rows costs
    seconds of I/O), and a page cache large enough for the write (with the default 2 MB, 100k inserts
    into the case table and its ~30 indexes spill and reread pages: about twice as long under the lock)."""

    def __init__(self, conn, rows: int) -> None:  # noqa: ANN001
        self.raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        # wal_autocheckpoint 0: the WAL the write leaves is checkpointed by `checkpoint` right after the
        # commit, by this connection, timed on its own (it holds no write lock, but SQLite would otherwise
        # run it inside the COMMIT call, where it looks like lock time).
        self.wanted = {"temp_store": "2", "cache_size": str(-min(524_288, max(8_192, rows * 4))),
                       "wal_autocheckpoint": "0"}
        self.old: dict[str, str] = {}

    def __enter__(self) -> _sqlite_tuning:
        if self.raw is not None:
            for name, value in self.wanted.items():  # names and values from the lines above, not from input
                self.old[name] = str(self.raw.execute(f"PRAGMA {name}").fetchone()[0])
                self.raw.execute(f"PRAGMA {name} = {value}")
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self.raw is not None:
            for name, value in self.old.items():
                self.raw.execute(f"PRAGMA {name} = {value}")

    def checkpoint(self) -> float:
        """Fold the WAL back into the database (PASSIVE: never waits for, nor blocks, anyone); seconds."""
        if self.raw is None:
            return 0.0
        started = time.perf_counter()
        self.raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return round(time.perf_counter() - started, 3)
