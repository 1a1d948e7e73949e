"""The write side of a case import: stage every row outside the write lock, then apply in one short write.

A checked import (events.importer.Prepared) becomes, before any write transaction is open, rows in
temporary tables on the importing connection — the cases, their 上报 log rows, their outbox records and
deliveries, and the rollup deltas already summed per key — written by store.bulkload (COPY on
PostgreSQL). A temporary table is the connection's own: filling it takes no lock on the shared tables,
so on SQLite nobody waits while 100k rows are converted and loaded.

`apply` is then the one write: one INSERT … SELECT per table from its staging table, one
INSERT … SELECT … ON CONFLICT DO UPDATE per rollup table (set-based, not one upsert per case; last, so
PostgreSQL holds the rollup rows a dispatcher's 立案 also bumps for the shortest time), and the audit
row. What could have changed since the rows were checked is checked again inside it:
- a source id imported meanwhile: the unique key (source, source_id) refuses the INSERT, the import is
  refused whole with the lines concerned (`taken_source_ids`, asked after the rollback);
- cases reported meanwhile near a row: added to that row's 重复上报 suspects (events.import_suspects);
- ids taken meanwhile (SQLite has no sequence to reserve them from): the staged ids are shifted past them.

Ids: PostgreSQL reserves the cases' and outbox records' ids from their sequences while staging, so the
staged ids are final. SQLite stages them after the largest id it saw and shifts them in the write if
someone inserted since (rare: one short write of another screen in between), fixing the few JSON values
that name an id (the outbox payload's "id", suspects pointing at rows of the same file).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import (Column, MetaData, Table, bindparam, cast, func, insert, inspect, literal, select, true,
                        update)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from events import import_suspects, rollup, status_cohort
from store import bulkload, outbox
from store.models import (Event, EventDailyRollup, EventDepartmentDaily, EventDistrictDaily, EventGridMonthly,
                          EventGridMonthTotal, EventTransition)
from store.models.outbox import OutboxDelivery, OutboxRecord

EVENT_COLUMNS = ("id", "source", "source_id", "kind", "category", "subcategory", "priority", "title", "description",
                 "address", "lon", "lat", "location_pending", "reporter_name", "reporter_phone", "reporter_id_no",
                 "status", "reported_at", "stage_deadline", "stage_warn_at", "rework_count", "return_count",
                 "version", "updated_at", "duplicate_suspects", *rollup.REGION_COLUMNS)
TRANSITION_COLUMNS = ("event_id", "action", "from_status", "to_status", "actor", "actor_role", "at", "comment",
                      "detail")
OUTBOX_COLUMNS = ("id", "kind", "object_type", "object_id", "order_key", "payload", "actor", "created_at",
                  *rollup.REGION_COLUMNS)
DELIVERY_COLUMNS = ("destination", "record_id", "order_key", "state", "attempts", "next_attempt_at", "created_at",
                    "due_at")
REPORT_KIND = "case.report"
# What every case has on the day it is reported (as events.intake.create_event writes it).
NEW_CASE = {"status": "reported", "rework_count": 0, "return_count": 0, "version": 1}


@dataclass
class Rows:
    """What the write needs, column-wise, as the importer prepared it (index j = the file's j-th row)."""
    source: str
    now: datetime
    actor: str                        # who the log and outbox name: system:<source>
    columns: dict[str, list]          # Event columns but id and duplicate_suspects
    points: list                      # import_suspects.Point per row (provisional ids)
    checked: list[bool]               # False for 待定位 rows (no suspects of their own)
    matches: list[list]               # import_suspects.Match per row, as found while checking
    details: list[dict | None]        # the 上报 log row's detail per row
    lines: list[int]
    seen_max_id: int                  # the largest case id when the rows were checked

    @property
    def n(self) -> int:
        return len(self.lines)


@dataclass
class Staged:
    tables: dict[str, Table]
    event_ids: list[int]              # staged case ids, row order
    record_ids: list[int]             # staged outbox record ids, row order
    payloads: list[dict]              # outbox payloads as staged (for the few fixed in the write)
    suspects: list                    # each row's suspects as staged (final unless ids move)
    counters: tuple[str, ...]         # the rollup counters the deltas touch
    dialect: str
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)  # rollup table → its conflict key


def _temp_table(model, name: str, columns: tuple[str, ...]) -> Table:  # noqa: ANN001
    source = model.__table__
    return Table(name, MetaData(), *[Column(c, source.c[c].type) for c in columns], prefixes=["TEMPORARY"])


def _reserve_ids(session: Session, model, n: int) -> list[int]:  # noqa: ANN001
    """n ids for `model`: from its sequence on PostgreSQL (final), after its largest id on SQLite."""
    table = model.__table__
    if session.get_bind().dialect.name == "postgresql":
        seq = func.nextval(func.pg_get_serial_sequence(table.name, "id"))
        return sorted(session.execute(select(seq).select_from(func.generate_series(1, n))).scalars())
    top = session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(top + 1, top + 1 + n))


def _epoch(values: list[datetime | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v.timestamp() for v in values], dtype=float)


def payloads(rows: Rows, ids: list[int], suspects: list) -> list[dict]:
    """The outbox snapshot of each row's case, as outbox.snapshot takes it of a stored case (every
    column but the personal ones, JSON-safe), built column by column."""
    keys = [c.key for c in inspect(Event).column_attrs if c.key not in outbox.PERSONAL]
    given = {k: [outbox.json_value(v) for v in rows.columns[k]] for k in keys if k in rows.columns}
    fixed = {k: None for k in keys if k not in given}
    fixed.update(NEW_CASE, updated_at=outbox.json_value(rows.now))
    names = list(given)
    return [{**fixed, **dict(zip(names, values)), "id": i, "duplicate_suspects": s}
            for values, i, s in zip(zip(*given.values()), ids, suspects)]


def _suspect_briefs(matches: list, ids: list[int]) -> list[dict] | None:
    return [m.brief(lambda k: ids[k]) for m in matches] or None


def _rollup_row_makers(rows: Rows) -> list[tuple]:
    """(rollup model, its conflict key, row j → the row `rollup.bump(…, reported=1)` adds for case j):
    a report counts once on its local day in the grid, district and department copies and in its month
    in the monthly grid copy and its totals (the department copy under "", no department yet; the monthly
    copies with "" for a missing region code, as their keys want)."""
    tz = rollup.local_tz()
    c = rows.columns
    days = [at.astimezone(tz).date() for at in c["reported_at"]]

    def codes(j: int) -> dict:
        return {k: c[k][j] for k in rollup.REGION_COLUMNS}

    def month_codes(j: int) -> dict:
        return {**{k: v or "" for k, v in codes(j).items()}, "city_code": c["city_code"][j]}

    def head(j: int) -> dict:
        return {"day": days[j], "city_code": c["city_code"][j], "district_code": c["district_code"][j] or "",
                "category": c["category"][j], "source": rows.source}

    return [
        (EventDailyRollup, rollup.KEY,
         lambda j: {**codes(j), "day": days[j], "category": c["category"][j], "source": rows.source}),
        (EventDistrictDaily, rollup.DISTRICT_KEY, head),
        (EventDepartmentDaily, rollup.DEPARTMENT_KEY, lambda j: {**head(j), "department_code": ""}),
        (EventGridMonthly, rollup.GRID_MONTH_KEY,
         lambda j: {**month_codes(j), "month": days[j].replace(day=1), "category": c["category"][j],
                    "source": rows.source}),
        (EventGridMonthTotal, rollup.GRID_TOTAL_KEY, lambda j: {**month_codes(j), "month": days[j].replace(day=1)}),
    ]


ROLLUPS = (EventDailyRollup, EventDistrictDaily, EventDepartmentDaily, EventGridMonthly, EventGridMonthTotal)


def rollup_deltas(rows: Rows) -> dict[str, tuple[tuple[str, ...], dict[str, list]]]:
    """Each rollup's increments summed per key: table name → (conflict key, columns with `reported`).
    A row whose key holds NULL (a grid row of a case in no grid) never meets the unique key, so it is
    summed only with rows equal in every column, as each case's own upsert would have stored it."""
    out = {}
    for model, key, make in _rollup_row_makers(rows):
        summed: dict[tuple, list] = {}
        for j in range(rows.n):
            row = make(j)
            k = tuple(row[x] for x in key)
            if any(v is None for v in k):
                k = (*k, tuple(sorted(row.items())))
            if k in summed:
                summed[k][1] += 1
            else:
                summed[k] = [row, 1]
        names = list(next(iter(summed.values()))[0]) if summed else list(key)
        cols: dict[str, list] = {x: [] for x in (*names, "reported")}
        for k in sorted(summed, key=lambda t: tuple("" if v is None else str(v) for v in t)):
            row, n = summed[k]
            for x in names:
                cols[x].append(row[x])
            cols["reported"].append(n)
        out[model.__tablename__] = (key, cols)
    return out


def stage(session: Session, rows: Rows, progress=None) -> Staged:  # noqa: ANN001
    """Load everything the write needs into temporary tables of this session's connection. Run it with
    no write transaction open (SQLite: a deferred transaction, which writes only its temporary
    tables); the caller commits and later calls `apply`, on the same connection."""
    dialect = session.get_bind().dialect.name
    tag = uuid.uuid4().hex[:10]
    n = rows.n
    event_ids = _reserve_ids(session, Event, n)
    record_ids = _reserve_ids(session, OutboxRecord, n)
    suspects = [_suspect_briefs(m, event_ids) for m in rows.matches]
    tables = {
        "events": _temp_table(Event, f"stage_events_{tag}", EVENT_COLUMNS),
        "transitions": _temp_table(EventTransition, f"stage_transitions_{tag}", TRANSITION_COLUMNS),
        "outbox": _temp_table(OutboxRecord, f"stage_outbox_{tag}", OUTBOX_COLUMNS),
        "deliveries": _temp_table(OutboxDelivery, f"stage_deliveries_{tag}", DELIVERY_COLUMNS),
    }
    deltas = rollup_deltas(rows)
    for model in ROLLUPS:
        name = model.__tablename__
        tables[name] = _temp_table(model, f"stage_{name}_{tag}", tuple(deltas[name][1]))
    conn = session.connection()
    for table in tables.values():
        table.create(conn)
    steps = 5 + len(ROLLUPS)
    tick = (lambda k: progress(k, steps)) if progress else (lambda k: None)

    c = rows.columns
    times = {k: _epoch(c[k]) for k in ("reported_at", "stage_deadline", "stage_warn_at")}
    ev = {k: (times[k] if k in times else c[k]) for k in EVENT_COLUMNS if k in c}
    ev.update(id=np.array(event_ids, dtype=np.int64), duplicate_suspects=suspects,
              lon=np.asarray(c["lon"], dtype=float), lat=np.asarray(c["lat"], dtype=float),
              updated_at=np.full(n, rows.now.timestamp()), **NEW_CASE)
    bulkload.load(session, tables["events"], ev, n)
    tick(1)

    bulkload.load(session, tables["transitions"], {
        "event_id": np.array(event_ids, dtype=np.int64), "action": "report", "from_status": None,
        "to_status": "reported", "actor": rows.actor, "actor_role": "system", "at": times["reported_at"],
        "comment": [(d or "")[:500] for d in c["description"]], "detail": rows.details}, n)
    tick(2)

    staged_payloads = payloads(rows, event_ids, suspects)
    keys = [f"event:{i}" for i in event_ids]
    city = outbox.region_codes_of({})["city_code"]
    bulkload.load(session, tables["outbox"], {
        "id": np.array(record_ids, dtype=np.int64), "kind": REPORT_KIND, "object_type": "event",
        "object_id": [str(i) for i in event_ids], "order_key": keys, "payload": staged_payloads, "actor": rows.actor,
        "created_at": np.full(n, rows.now.timestamp()),
        **{k: c[k] for k in rollup.REGION_COLUMNS},
        "city_code": [v or city for v in c["city_code"]]}, n)
    tick(3)

    ready = min(rows.now, datetime.now(timezone.utc))
    due = rows.now + timedelta(minutes=outbox.timely_minutes())
    destinations = outbox.destinations_for(REPORT_KIND)
    m = n * len(destinations)
    bulkload.load(session, tables["deliveries"], {
        "destination": [d for d in destinations for _ in range(n)],
        "record_id": np.tile(np.array(record_ids, dtype=np.int64), len(destinations)),
        "order_key": keys * len(destinations), "state": "pending", "attempts": 0,
        "next_attempt_at": np.full(m, ready.timestamp()), "created_at": np.full(m, rows.now.timestamp()),
        "due_at": np.array([due.timestamp() if d == outbox.UPPER else np.nan for d in destinations
                            for _ in range(n)], dtype=float)}, m)
    tick(4)
    for k, model in enumerate(ROLLUPS, start=5):
        cols = deltas[model.__tablename__][1]
        bulkload.load(session, tables[model.__tablename__], cols, len(cols["reported"]))
        tick(k)
    return Staged(tables, event_ids, record_ids, staged_payloads, suspects, ("reported",), dialect,
                  keys={name: key for name, (key, _cols) in deltas.items()})


def _offset(session: Session, model, staged_ids: list[int]) -> int:  # noqa: ANN001
    """How far the staged ids must move: 0 on PostgreSQL (reserved) or when nobody inserted since."""
    if session.get_bind().dialect.name == "postgresql" or not staged_ids:
        return 0
    top = session.execute(select(func.coalesce(func.max(model.__table__.c.id), 0))).scalar_one()
    return max(0, top - (staged_ids[0] - 1))


def _upsert(session: Session, model, stage_table: Table, key: tuple[str, ...],  # noqa: ANN001, ANN202
            counters: tuple[str, ...]):
    """One INSERT … SELECT … ON CONFLICT DO UPDATE adding the staged increments to a rollup. A column
    not staged takes its model default (the counters' 0: they have no server default)."""
    ins = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(model)
    table = model.__table__
    names, values = [], []
    for col in table.columns:
        if col.name in stage_table.c:
            names.append(col.name)
            values.append(stage_table.c[col.name])
        elif col.default is not None and col.default.is_scalar:
            names.append(col.name)
            values.append(literal(col.default.arg, col.type).label(col.name))
    # Sorted by key, as rollup.bump sorts its rows: concurrent writers on PostgreSQL queue, never deadlock.
    # WHERE true: SQLite needs it to read ON CONFLICT after INSERT … SELECT as the upsert clause.
    stmt = ins.from_select(names, select(*values).where(true()).order_by(*[stage_table.c[k] for k in key]))
    return stmt.on_conflict_do_update(index_elements=[table.c[k] for k in key],
                                      set_={c: table.c[c] + stmt.excluded[c] for c in counters})


def apply(session: Session, rows: Rows, staged: Staged) -> tuple[list[int], list[list[dict] | None]]:
    """The one write, in the session's transaction (which the caller opens as a writer and commits).
    Returns the cases' ids and their final suspects (row order). Raises IntegrityError when the unique
    key refused a source id imported since the check: the caller rolls back (nothing written) and
    names the lines with `taken_source_ids`."""
    t = staged.tables
    n = rows.n
    # Cases reported since the check, near a row: one read of the few new cases.
    # (Read before the INSERT below, so none of this import's own rows is among them.)
    late = import_suspects.existing_candidates(session, rows.points, after_id=rows.seen_max_id)
    off_e = _offset(session, Event, staged.event_ids)
    off_r = _offset(session, OutboxRecord, staged.record_ids)
    ids = [i + off_e for i in staged.event_ids]
    se, so = t["events"], t["outbox"]

    cols = [se.c[c] for c in EVENT_COLUMNS]
    if off_e:
        cols[0] = (se.c.id + off_e).label("id")
    # A source id imported since the check makes the unique key refuse this INSERT (IntegrityError):
    # the caller rolls back and asks `taken_source_ids` which (no savepoint here: releasing one would
    # run the session's before-commit work, the data-version bump, in the middle of the write).
    session.execute(insert(Event).from_select(list(EVENT_COLUMNS), select(*cols).order_by(se.c.id)))
    st = t["transitions"]
    session.execute(insert(EventTransition).from_select(list(TRANSITION_COLUMNS), select(
        *[(st.c.event_id + off_e).label("event_id") if c == "event_id" else st.c[c] for c in TRANSITION_COLUMNS]
    ).order_by(st.c.event_id)))

    ocols = [so.c[c] for c in OUTBOX_COLUMNS]
    if off_r:
        ocols[OUTBOX_COLUMNS.index("id")] = (so.c.id + off_r).label("id")
    if off_e:  # the case's id inside the payload, and the columns that name it
        new_id = cast(so.c.object_id, Event.id.type) + off_e
        ocols[OUTBOX_COLUMNS.index("object_id")] = cast(new_id, so.c.object_id.type).label("object_id")
        ocols[OUTBOX_COLUMNS.index("order_key")] = (literal("event:") + cast(new_id, so.c.order_key.type)
                                                    ).label("order_key")
        ocols[OUTBOX_COLUMNS.index("payload")] = func.json_set(so.c.payload, "$.id", new_id).label("payload")
    session.execute(insert(OutboxRecord).from_select(list(OUTBOX_COLUMNS), select(*ocols).order_by(so.c.id)))
    sd = t["deliveries"]
    dcols = [sd.c[c] for c in DELIVERY_COLUMNS]
    if off_r:
        dcols[DELIVERY_COLUMNS.index("record_id")] = (sd.c.record_id + off_r).label("record_id")
    if off_e:
        dcols[DELIVERY_COLUMNS.index("order_key")] = (
            literal("event:") + cast(cast(func.substr(sd.c.order_key, 7), Event.id.type) + off_e,
                                     sd.c.order_key.type)).label("order_key")
    session.execute(insert(OutboxDelivery).from_select(list(DELIVERY_COLUMNS), select(*dcols).order_by(sd.c.record_id)))

    # Suspects to fix: rows pointing at rows of the file whose ids moved, rows near a case reported since.
    suspects = _fixed_suspects(session, rows, staged, ids, off_e, off_r, late)
    # The rollups last: on PostgreSQL their rows are what a concurrent 立案 may also be bumping.
    for model in ROLLUPS:
        name = model.__tablename__
        session.execute(_upsert(session, model, t[name], staged.keys[name], staged.counters))
    # And where the new cases stand (all 待立案), read back through the staged ids.
    status_cohort.add_from(session, select(Event.reported_at, Event.city_code, Event.district_code, Event.status)
                           .join(se, Event.id == se.c.id + off_e).subquery())
    assert len(ids) == n
    return ids, suspects


def _fixed_suspects(session: Session, rows: Rows, staged: Staged, ids: list[int], off_e: int, off_r: int,
                    late: list) -> list[list[dict] | None]:
    """Every row's suspects by final ids; the rows whose stored suspects were not final (ids moved, or
    a case reported since the check is near) are updated, with their outbox payload."""
    if not off_e and not late:  # the usual case: what was staged is final
        return staged.suspects
    # Rows of the file among the candidates by their final ids (the order's "newest" compares them).
    matches = [[m if m.point.row is None or m.point.id == ids[m.point.row]
                else import_suspects.Match(m.distance_m, m.age_hours, replace(m.point, id=ids[m.point.row]))
                for m in ms] for ms in rows.matches]
    changed: set[int] = set()
    if off_e:
        changed |= {j for j, ms in enumerate(matches) if any(m.point.row is not None for m in ms)}
    if late:
        extra = import_suspects.match_rows(rows.points, rows.checked, late, earlier_rows=False)
        for j, more in enumerate(extra):
            if more:
                matches[j] = import_suspects.merged(matches[j], more)
                changed.add(j)
    suspects = [_suspect_briefs(ms, ids) for ms in matches]
    if changed:
        session.execute(update(Event.__table__).where(Event.id == bindparam("case_id")).values(
            duplicate_suspects=bindparam("suspects", Event.duplicate_suspects.type)),
            [{"case_id": ids[j], "suspects": suspects[j]} for j in sorted(changed)])
        payload_rows = []
        for j in sorted(changed):
            payload = dict(staged.payloads[j], id=ids[j], duplicate_suspects=suspects[j])
            payload_rows.append({"record_id": staged.record_ids[j] + off_r, "payload": payload})
        session.execute(update(OutboxRecord.__table__).where(OutboxRecord.id == bindparam("record_id")).values(
            payload=bindparam("payload", OutboxRecord.payload.type)), payload_rows)
    return suspects


def taken_source_ids(session: Session, rows: Rows, staged: Staged) -> dict[str, int]:
    """{source id: line} of the staged cases whose source id is stored already (after a refused write)."""
    se = staged.tables["events"]
    line_of = dict(zip(rows.columns["source_id"], rows.lines))
    taken = session.execute(select(Event.source_id).where(
        Event.source == rows.source, Event.source_id.in_(select(se.c.source_id)))).scalars()
    return {sid: line_of[sid] for sid in taken if sid in line_of}


def drop(session: Session, staged: Staged) -> None:
    """Drop the staging tables (on their connection; they would otherwise live as long as it does)."""
    conn = session.connection()
    for table in staged.tables.values():
        table.drop(conn, checkfirst=True)


