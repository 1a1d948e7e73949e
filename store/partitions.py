"""Monthly partitions of the raw time-series tables on PostgreSQL: sensor_readings (by ts) and
sensor_hourly (by hour, a city-year is ≈24 M rows).

Why: an old month leaves by DETACH — a catalogue change — instead of a DELETE of millions of rows and
the VACUUM after it, and a month's reads touch only that month's partitions.

How it is laid out:
- The models say `**monthly("hour")` in their table options: PostgreSQL creates the table
  `PARTITION BY RANGE (hour)`, SQLite ignores the option (same models, same tables there as before).
  PostgreSQL wants the partition key in every unique key of a partitioned table, so these tables have
  their natural key (sensor_id, hour, metric) as primary key and no surrogate id.
- The partitions live in their own schema, `partitions` (`partitions.sensor_hourly_2026_11`), so the
  application's schema lists only the parent tables (and Alembic compares the models with exactly those).
- `partitions.<table>_default` takes whatever falls outside the created months (a reading from long ago,
  a month nobody created yet): an insert never fails for want of a partition.
- Month bounds are UTC month starts: they never depend on a setting, and the first eight local hours of a
  month sitting in the previous partition matters to no reader (a range read prunes either way).

Who calls what:
- `ensure(conn, start=…)` creates the months from `start`'s month to MONTHS_AHEAD months after the current
  one, and the default partition; idempotent. Called by the migration (0003), after `create_all`
  (`after_create`, for tests), by the demo seed for the range it generates, once per month by the ingest
  (`ensure_current`), and by `manage.py partitions ensure`. When a month is created while the default
  partition holds rows of it, those rows move into the new month in the same transaction (PostgreSQL
  refuses a new partition whose rows sit in the default one).
- `detach(conn, before=…)` detaches every month ending on or before `before` and moves it to schema
  `archive` as an ordinary table without foreign keys, to be dumped (`pg_dump -t archive.sensor_hourly_2025_11`) and dropped
  by the operator. Months from the current one on are refused. `manage.py partitions detach`.
- `tune_autovacuum(conn)` sets per-table autovacuum thresholds on the rollup tables (see there).
On SQLite every function here does nothing and returns an empty result.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

SCHEMA = "partitions"
ARCHIVE = "archive"
MONTHS_AHEAD = 3
BACKFILL_MONTHS = 24  # the ingest creates past months this far back at most; older rows wait in the default
# The rollup tables: every ingest batch and every case step upserts a few of their rows (a counter
# update leaves a dead row version behind), always in the newest days. With the default thresholds (20 %
# of the table changed for VACUUM, 10 % for ANALYZE) a year-long table waits for weeks of updates: dead
# rows pile up in the pages every read of "today" touches, and the planner's statistics do not know the
# newest days. 2 % / 1 % keep both current; VACUUM only reads the pages changed since (visibility map).
ROLLUP_TABLES = ("event_daily_rollup", "event_district_daily", "event_department_daily", "event_grid_monthly",
                 "event_grid_month_totals", "event_status_cohort",
                 "sensor_hourly", "sensor_daily", "sensor_area_daily", "sensor_latest")
AUTOVACUUM = {"autovacuum_vacuum_scale_factor": "0.02", "autovacuum_vacuum_threshold": "1000",
              "autovacuum_analyze_scale_factor": "0.01", "autovacuum_analyze_threshold": "1000"}


def monthly(column: str) -> dict:
    """Table options of a table partitioned by month on `column` (PostgreSQL only)."""
    return {"postgresql_partition_by": f"RANGE ({column})", "info": {"partition_month": column}}


@dataclass(frozen=True)
class Partition:
    table: str      # the parent
    name: str       # the partition (in SCHEMA)
    month: date | None  # first day of its month; None for the default partition
    rows: int       # the planner's estimate (pg_class.reltuples), -1 before the first ANALYZE


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _month(d: date | datetime) -> date:
    if isinstance(d, datetime):
        d = d.astimezone(timezone.utc) if d.tzinfo else d
        d = d.date()
    return date(d.year, d.month, 1)


def _next(m: date, k: int = 1) -> date:
    index = m.year * 12 + m.month - 1 + k
    return date(index // 12, index % 12 + 1, 1)


def _name(table: str, month: date) -> str:
    return f"{table}_{month.year:04d}_{month.month:02d}"


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _bound(month: date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"  # built from a date, never from input


def _instant(month: date) -> datetime:
    """The UTC start of `month`, as a bound parameter (the same instant _bound writes into the DDL)."""
    return datetime(month.year, month.month, month.day, tzinfo=timezone.utc)


def partitioned_tables(conn: Connection) -> dict[str, str]:
    """{table: partition column} of the range-partitioned tables in the current schema (from the catalogue,
    so it is what the database holds, whatever the models say)."""
    if not _is_pg(conn):
        return {}
    rows = conn.execute(text(
        "SELECT c.relname, a.attname FROM pg_partitioned_table p "
        "JOIN pg_class c ON c.oid = p.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0] "
        "WHERE n.nspname = current_schema() AND p.partstrat = 'r' AND p.partnatts = 1 ORDER BY c.relname")).all()
    return {r[0]: r[1] for r in rows}


def list_partitions(conn: Connection, table: str | None = None) -> list[Partition]:
    """The attached partitions of every partitioned table (or of `table`), oldest month first, default last."""
    out: list[Partition] = []
    for parent in partitioned_tables(conn):
        if table is not None and parent != table:
            continue
        rows = conn.execute(text(
            "SELECT c.relname, c.reltuples, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "JOIN pg_namespace pn ON pn.oid = p.relnamespace "
            "WHERE p.relname = :t AND pn.nspname = current_schema()"), {"t": parent}).all()
        months, default = [], []
        for name, tuples, bound in rows:
            month = _month_of(parent, name)
            part = Partition(parent, name, month, int(tuples))
            (default if bound == "DEFAULT" else months).append(part)
        out += sorted(months, key=lambda p: (p.month is None, p.month or date.min, p.name)) + default
    return out


def _month_of(table: str, name: str) -> date | None:
    tail = name[len(table) + 1:]
    try:
        year, month = tail.split("_")
        return date(int(year), int(month), 1)
    except ValueError:
        return None


def ensure(conn: Connection, start: date | datetime | None = None, until: date | datetime | None = None,
           ahead: int = MONTHS_AHEAD) -> list[str]:
    """Create the default partition and every month from `start`'s (default: the current month) to the later
    of `until`'s and the current month + `ahead`, on every partitioned table. Returns the partitions created."""
    tables = partitioned_tables(conn)
    if not tables:
        return []
    today = _month(datetime.now(timezone.utc))
    first = _month(start) if start is not None else today
    last = max(_next(today, ahead), _month(until) if until is not None else first)
    conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {_q(conn, SCHEMA)}")
    made: list[str] = []
    for table, column in tables.items():
        attached = {p.name for p in list_partitions(conn, table)}
        default = f"{table}_default"
        if default not in attached:
            conn.exec_driver_sql(f"CREATE TABLE {_q(conn, SCHEMA)}.{_q(conn, default)} "
                                 f"PARTITION OF {_q(conn, table)} DEFAULT")
            made.append(default)
        month = first
        while month <= last:
            name = _name(table, month)
            if name not in attached:
                _create_month(conn, table, column, name, month)
                made.append(name)
            month = _next(month)
    return made


def _create_month(conn: Connection, table: str, column: str, name: str, month: date) -> None:
    schema, parent = _q(conn, SCHEMA), _q(conn, table)
    lo, hi = _bound(month), _bound(_next(month))
    default = f"{schema}.{_q(conn, table + '_default')}"
    col = _q(conn, column)
    # Values are bound where PostgreSQL allows it; the DDL's FOR VALUES bounds cannot be parameters and
    # are built from a date (_bound), names are quoted by the dialect.
    span = {"lo": _instant(month), "hi": _instant(_next(month))}
    waiting = conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {col} >= :lo AND {col} < :hi)"),
                           span).scalar()
    part = f"{schema}.{_q(conn, name)}"
    if not waiting:
        conn.exec_driver_sql(f"CREATE TABLE {part} PARTITION OF {parent} FOR VALUES FROM ({lo}) TO ({hi})")
        return
    # Rows of this month wait in the default partition: move them into a table of the parent's shape, then
    # attach it (PostgreSQL checks both the new partition's rows and that the default holds none of its range).
    conn.exec_driver_sql(f"CREATE TABLE {part} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    conn.execute(text(f"WITH moved AS (DELETE FROM {default} WHERE {col} >= :lo AND {col} < :hi RETURNING *) "
                      f"INSERT INTO {part} SELECT * FROM moved"), span)
    conn.exec_driver_sql(f"ALTER TABLE {parent} ATTACH PARTITION {part} FOR VALUES FROM ({lo}) TO ({hi})")


class PartitionError(ValueError):
    """A request the partitions cannot honour (message in Chinese, for the operator)."""


def detach(conn: Connection, before: date, table: str | None = None) -> list[str]:
    """Detach every month partition whose month ends on or before `before` (a month's first day: `before`
    = 2026-01-01 detaches December 2025 and earlier) and move it to schema ARCHIVE. The current month and
    later are refused. Returns the archived tables as schema.name."""
    if not _is_pg(conn):
        return []
    before = _month(before)
    if before > _month(datetime.now(timezone.utc)):
        raise PartitionError("只能归档本月之前的月份")
    if table is not None and table not in partitioned_tables(conn):
        raise PartitionError(f"表 {table} 不是按月分区的表")
    old = [p for p in list_partitions(conn, table) if p.month is not None and p.month < before]
    if not old:
        return []
    conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {_q(conn, ARCHIVE)}")
    taken = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": ARCHIVE}).scalars())
    clash = sorted(p.name for p in old if p.name in taken)
    if clash:
        raise PartitionError(f"归档模式中已有同名表：{', '.join(ARCHIVE + '.' + c for c in clash)}；请先导出并删除它们")
    out = []
    for p in old:
        part = f"{_q(conn, SCHEMA)}.{_q(conn, p.name)}"
        conn.exec_driver_sql(f"ALTER TABLE {_q(conn, p.table)} DETACH PARTITION {part}")
        # An archive stands alone: its foreign keys would cascade a sensor's deletion into it and stop the
        # sensors table from ever being dropped (a demo re-seed).
        fks = conn.execute(text("SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = CAST(:t AS regclass)"),
                           {"t": f"{SCHEMA}.{p.name}"}).scalars().all()
        for fk in fks:
            conn.exec_driver_sql(f"ALTER TABLE {part} DROP CONSTRAINT {_q(conn, fk)}")
        conn.exec_driver_sql(f"ALTER TABLE {part} SET SCHEMA {_q(conn, ARCHIVE)}")
        out.append(f"{ARCHIVE}.{p.name}")
    return out


def tune_autovacuum(conn: Connection) -> list[str]:
    """Per-table autovacuum thresholds on the rollup tables (ROLLUP_TABLES, those present). A partitioned
    parent holds no rows, so its months (and default) get the settings instead. Returns the tables set."""
    if not _is_pg(conn):
        return []
    present = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())
    parents = partitioned_tables(conn)
    settings = ", ".join(f"{k} = {v}" for k, v in AUTOVACUUM.items())
    done = []
    for table in ROLLUP_TABLES:
        if table in parents:
            targets = [f"{_q(conn, SCHEMA)}.{_q(conn, p.name)}" for p in list_partitions(conn, table)]
        elif table in present:
            targets = [_q(conn, table)]
        else:
            continue
        for target in targets:
            conn.exec_driver_sql(f"ALTER TABLE {target} SET ({settings})")
        done.append(table)
    return done


def setup(conn: Connection, start: date | datetime | None = None) -> list[str]:
    """Everything a PostgreSQL schema needs after its tables are created: the partitions and the autovacuum
    settings (new partitions inherit nothing, so this runs again after every `ensure` that made some)."""
    made = ensure(conn, start)
    tune_autovacuum(conn)
    return made


def ensure_for(session, start: datetime, until: datetime) -> list[str]:  # noqa: ANN001 - a Session
    """`ensure` in the session's transaction, for a load of rows dated `start` … `until` (the demo seed)."""
    conn = session.connection()
    if not _is_pg(conn):
        return []
    made = ensure(conn, start, until)
    if made:
        tune_autovacuum(conn)
    return made


_ENSURED: set[tuple[str, date, date]] = set()


def ensure_current(bind, since: datetime | None = None) -> None:  # noqa: ANN001 - an Engine or a Connection
    """Once per process, month and oldest month: `ensure` from the current month (or from `since`'s, the
    oldest reading of a batch, when that is earlier: a back-filled CSV gets its months) on, in its own short
    transaction. The ingest calls this before every batch; all but the first call of a month return at
    once. A failure (say, a lock not granted within five seconds) is logged, not raised: the rows then wait
    in the default partition and move into their month the next time `ensure` creates it."""
    engine = getattr(bind, "engine", bind)
    if engine.dialect.name != "postgresql":
        return
    today = _month(datetime.now(timezone.utc))
    first = min(today, _month(since)) if since is not None else today
    first = max(first, _next(today, -BACKFILL_MONTHS))  # a stray 1970 reading must not make 600 months
    key = (engine.url.render_as_string(hide_password=True), first, today)
    if key in _ENSURED:
        return
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            # Several ingesters start a month together: one creates, the others wait here and then find
            # the partitions made (two CREATEs of one partition failed with "already exists" or deadlocked).
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('cityops.partitions'))")
            if ensure(conn, first):
                tune_autovacuum(conn)
        _ENSURED.add(key)
    except Exception:  # noqa: BLE001 - the batch itself must go on
        log.warning("无法创建本月及之后的分区（稍后重试）", exc_info=True)


def after_create(target, connection: Connection, **kw) -> None:  # noqa: ANN001, ARG001 - SQLAlchemy DDL event
    """`Base.metadata.create_all` on PostgreSQL: the partitions, as the migration makes them."""
    if _is_pg(connection) and partitioned_tables(connection):
        setup(connection)
