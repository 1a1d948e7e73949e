"""Citus by a check: every statement the screens' reads send to a fact table names the city (bench/CITUS.md).

On a Citus cluster the fact tables are distributed by `city_code` and co-located, so a statement is a router
query — one city's shards on one worker, no fan-out — only when each fact table in it carries a predicate
on city_code (`city_code = …`; a province viewer's `city_code LIKE '44%'` is the one deliberate fan-out),
and two fact tables are joined on city_code (or both pinned to the city). This test runs every read face's
public method (found like tests/test_scope_readfaces.py does) as viewers at every level, and the indicator
engine (tiles, children, trends), on the demo city with a `before_cursor_execute` hook, parses each SELECT
with sqlglot and checks every reference to a fact table, scope by scope (subqueries, CTEs and UNION
branches each on their own).

The city predicate is added centrally: store.scope.in_region (hence every ReadFace.scoped and .within, and
the engine's zone condition) names the city of any region below a city. What does not pass yet is listed
below — tables without a city_code column, and single reads — each with its reason and its fix; an entry
that is no longer needed fails the test too, so the list only shrinks.
"""
from __future__ import annotations

import inspect
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlglot
from sqlalchemy import event, select
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

import indicators
from store.db import get_engine, session_scope
from store.models import Base, Department, Event, Incident, Region, Resource, Sensor
from store import region_codes
from store.period import Period
from store.scope import PermissionDenied, Viewer
from tests.test_scope_readfaces import READS

# Tables with a city_code column that are not distributed: kept whole on every node (Citus reference
# tables) or on the coordinator only; reading or joining them never needs the city. Every other table with
# a city_code column is a fact table distributed by it.
REFERENCE = {
    "regions": "reference table: the hierarchy and boundaries, ~10k rows per city, joined by every region read",
    "cities": "reference table: one row per city",
    "basemap_features": "coordinator-local: the offline basemap, read by tile coordinates (geo/tile_routes.py)",
}
# Fact tables that have no city_code column yet: each must gain one (filled from its parent on write)
# before distribution, so it can be co-located with its parent and read with `city_code = …`.
NO_CITY_COLUMN = {
    "event_transitions": "a case's log, read by event_id; needs city_code from its event",
    "incident_log": "an incident's log, read by incident_id; needs city_code from its incident",
    "dispatches": "an incident's dispatches, joined to resources/incidents by id; needs city_code",
    "inventory": "a resource's stock, joined to resources by id; needs city_code from its resource",
    "sensor_latest": "a station's newest values, read by sensor_id; needs city_code from its station",
    "sensor_readings": "raw readings, written by ingest and read by sensor_id; needs city_code",
    "quarantined_readings": "refused readings, read by the data-quality screen; needs city_code",
    "outbox_deliveries": "deliveries of an outbox record, joined to outbox by record_id; needs city_code",
}
# (where, table) → why it does not name the city today, and the fix. `where` is the read face method, or
# "indicators" for the engine. Keep the reason honest: these are real non-router statements.
EXCEPTIONS = {
    # Single reads on the refusal path: the scoped read found nothing, and the row is looked up by its
    # primary key to word the refusal ("does not exist" vs "not yours"). Citus sends a lookup without the
    # distribution column to every shard: correct, an index probe each, only when refusing.
    ("EventViews.case_detail", "events"): "refusal wording (EventViews._refuse: session.get by id)",
    ("PublishedRequests.case_detail", "events"): "refusal wording (EventViews._refuse: session.get by id)",
    ("EmergencyViews.incident", "incidents"): "refusal wording (EmergencyViews._missing: session.get by id)",
    ("EmergencyViews.incident_dispatches", "incidents"): "refusal wording via EmergencyViews.incident",
    ("EmergencyViews.incident_log", "incidents"): "refusal wording via EmergencyViews.incident",
    ("EmergencyViews.proposal", "incidents"): "refusal wording via EmergencyViews.incident",
    ("SensorViews.station_detail", "sensors"): "refusal wording (SensorViews._station: session.get by id)",
    # Reads of a station's figures by sensor id, the station already read in scope: fix by adding
    # `routing_key(SensorHourly.city_code) == <the station's city>` in sensors/views.py.
    ("SensorViews.station_detail", "sensor_hourly"): "by sensor_id of a station read in scope; add the city",
    ("SensorViews.station_map", "sensor_hourly"): "by sensor_id of stations read in scope; add the city",
    # Region-code-keyed area figures scoped by a code prefix: fix by adding the city (the table has
    # city_code) to SensorViews' area scope (sensors/views.py, `_area`).
    ("SensorViews.air_summary", "sensor_area_daily"): "scoped by region_code prefix only; add the city",
    ("SensorViews.area_daily", "sensor_area_daily"): "scoped by region_code prefix only; add the city",
    ("SensorViews.open_alerts", "sensors"): "alerts JOIN sensors ON id only; join on city_code too",
    # Across every city by intent: the operator's status display counts every active station of the
    # system (a multi-shard aggregate of a small table, like a province viewer's reads).
    ("SensorViews.sensor_counts_system", "sensors"): "system-wide by intent (the operator's status display)",
    # The indicator engine (indicators/, being reworked by its owner):
    ("indicators", "events"): "coverage probe (sqlbuild.coverage_group → sources.in_area(indexed=False)) wraps "
                              "city_code in COALESCE to keep SQLite off the city index; use "
                              "store.scope.routing_key(city_code) == city instead (+city_code on SQLite)",
    ("indicators", "event_district_daily"): "coverage probe: COALESCE(city_code, '') = city (as above)",
    ("indicators", "event_grid_monthly"): "coverage probe: COALESCE(city_code, '') = city (as above)",
    ("indicators", "incidents"): "coverage probe: COALESCE(city_code, '') = city (as above)",
    ("indicators", "resources"): "coverage probe: COALESCE(city_code, '') = city (as above)",
    ("indicators", "alerts"): "coverage probe: COALESCE(city_code, '') = city (as above)",
    ("indicators", "outbox"): "coverage probe: COALESCE(city_code, '') = city (as above)",
    ("indicators", "sensor_daily"): "coverage probe: COALESCE(city_code, '') = city (as above)",
    ("indicators", "sensor_area_daily"): "region_code-keyed source scoped by code prefix (sources.in_zone); add "
                                         "the city (the table has city_code)",
    ("indicators", "external_values"): "region_code-keyed source scoped by code prefix (sources.in_zone); add "
                                       "the city (the table has city_code)",
    ("indicators", "sensors"): "water calculator joins sensor_daily's means to sensors ON id only; join on "
                               "city_code too (calculators.py)",
}

FACT = ({name for name, table in Base.metadata.tables.items() if "city_code" in table.c} - set(REFERENCE)) \
    | set(NO_CITY_COLUMN)
UNTIL = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
PERIOD = Period.parse("2026-10")


# -- the check --------------------------------------------------------------------------------------------
def _conjuncts(node) -> list:  # noqa: ANN001
    if node is None:
        return []
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    return [node]


def _city_column(node, alias: str, alone: bool) -> bool:  # noqa: ANN001
    return isinstance(node, exp.Column) and node.name == "city_code" and (node.table == alias or
                                                                          (not node.table and alone))


def unrouted(sql: str) -> list[tuple[str, str]]:
    """(table, why) for every fact-table reference in `sql` that does not name the city."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    out = []
    for scope in traverse_scope(tree):
        select_ = scope.expression
        if not isinstance(select_, exp.Select):
            continue
        tables = {alias: src.name for alias, src in scope.sources.items() if isinstance(src, exp.Table)}
        facts = {a for a, t in tables.items() if t in FACT}
        if not facts:
            continue
        where = select_.args.get("where")
        conditions = _conjuncts(where.this if where is not None else None)
        for join in select_.args.get("joins") or []:
            conditions += _conjuncts(join.args.get("on"))
        alone = len(scope.sources) == 1
        pinned: set[str] = set()
        links: list[tuple[str, str]] = []
        for cond in conditions:
            if not isinstance(cond, (exp.EQ, exp.In, exp.Like)):
                continue
            left = cond.this
            right = None if isinstance(cond, exp.In) else cond.expression
            for alias in facts:
                if _city_column(left, alias, alone):
                    other = right
                elif right is not None and _city_column(right, alias, alone):
                    other = left
                else:
                    continue
                if isinstance(other, exp.Column) and other.name == "city_code":
                    if other.table in tables:
                        links.append((alias, other.table))
                    else:
                        pinned.add(alias)  # correlated with an outer query's city (checked in its own scope)
                else:
                    pinned.add(alias)  # = constant / parameter, IN (…), LIKE 'prefix%'
        changed = True
        while changed:  # a fact table joined on city_code to a pinned one is pinned
            changed = False
            for a, b in links:
                if (a in pinned) != (b in pinned):
                    pinned |= {a, b}
                    changed = True
        for alias in sorted(facts - pinned):
            table = tables[alias]
            why = ("no city_code column" if table in NO_CITY_COLUMN else
                   "joined not on city_code" if len(facts) > 1 else "no city_code predicate")
            out.append((table, why))
    return out


# -- the reads ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def statements(demo_db_url):
    """{where: [sql, …]} of every read face method and the indicator engine, on the demo city."""
    engine = get_engine(demo_db_url)
    with session_scope(engine, readonly=True) as s:
        district = s.scalar(select(Region.code).where(Region.level == "district").order_by(Region.code))
        street = s.scalar(select(Region.code).where(Region.level == "street", Region.parent_code == district)
                          .order_by(Region.code))
        grid = s.scalar(select(Region.code).where(Region.level == "grid", Region.code.startswith(street))
                        .order_by(Region.code))
        city = s.scalar(select(Region.code).where(Region.level == "city"))
        ids = {"events": s.scalar(select(Event.id).where(Event.grid_code == grid).order_by(Event.id))
               or s.scalar(select(Event.id).where(Event.district_code == district).order_by(Event.id)),
               "incidents": s.scalar(select(Incident.id).where(Incident.district_code == district)
                                     .order_by(Incident.id)) or s.scalar(select(Incident.id).order_by(Incident.id)),
               "sensors": s.scalar(select(Sensor.id).where(Sensor.district_code == district).order_by(Sensor.id)),
               "resources": s.scalar(select(Resource.id).where(Resource.district_code == district)
                                     .order_by(Resource.id))}
        dept = s.scalar(select(Event.department_code).where(Event.department_code.is_not(None))
                        .order_by(Event.id)) or s.scalar(select(Department.code))
    province = region_codes.parent_of(city)
    viewers = [Viewer("c", "leader", city), Viewer("p", "leader", province), Viewer("d", "leader", district),
               Viewer("s", "duty_officer", street), Viewer("g", "grid_officer", grid),
               Viewer("dep", "department", city, dept)]
    captured: dict[str, list[str]] = defaultdict(list)
    where = ["setup"]

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured[where[0]].append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        for face, method in READS:
            where[0] = f"{face.__name__}.{method}"
            params = list(inspect.signature(getattr(face, method)).parameters.items())[1:]
            for viewer in viewers:
                kwargs = {name: _argument(name, param, ids) for name, param in params
                          if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)}
                with session_scope(engine, readonly=True) as s:
                    try:
                        getattr(face(s, viewer), method)(**kwargs)
                    except (PermissionDenied, LookupError):
                        pass  # the refusal's own statements are captured too
        where[0] = "indicators"
        ids_all = list(indicators.load_library())
        for viewer in viewers:
            scope = viewer.zone_code
            indicators.compute_many(ids_all, scope, PERIOD, viewer, engine=engine)
            if viewer.role != "grid_officer":
                indicators.compute_children_many(ids_all, scope, PERIOD, viewer, engine=engine)
        for viewer in viewers[:3]:
            for i in ids_all:
                indicators.series(i, viewer.zone_code, "2026-01", "2026-10", "month", viewer, engine=engine)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return dict(captured)


def _argument(name: str, param: inspect.Parameter, ids: dict):  # noqa: ANN202
    if name == "region":
        return None
    if name in ("case_id", "event_id"):
        return ids["events"]
    if name in ("incident_id", "sensor_id", "resource_id"):
        return ids[name.split("_")[0] + "s"]
    if name == "period":
        return PERIOD
    if name == "metric":
        return "PM2.5"
    if name == "now":
        return NOW
    if name == "today":
        return UNTIL
    if name in ("start", "since"):
        return (NOW - timedelta(days=3)) if "datetime" in str(param.annotation) else UNTIL - timedelta(days=30)
    if name in ("end", "until"):
        return NOW if "datetime" in str(param.annotation) else UNTIL
    if name in ("limit", "page_size", "max_polygons", "max_points"):
        return 20
    if name == "page":
        return 1
    if param.default is not inspect.Parameter.empty:
        return param.default
    pytest.fail(f"read-face parameter {name!r}: add a value in tests/test_citus_colocation.py _argument "
                "(and a generator in tests/test_scope_readfaces.py)")


# -- the tests ----------------------------------------------------------------------------------------------
def test_the_check_itself():
    """What counts as routed, on hand-written statements."""
    assert unrouted("SELECT count(*) FROM events WHERE events.city_code = ? AND events.district_code = ?") == []
    assert unrouted("SELECT count(*) FROM events WHERE +events.city_code = ? AND events.grid_code = ?") == []
    assert unrouted("SELECT 1 FROM events WHERE city_code LIKE '44' || '%'") == []  # a province: fan-out by intent
    assert unrouted("SELECT 1 FROM events WHERE events.district_code = ?") == [("events", "no city_code predicate")]
    assert unrouted("SELECT 1 FROM events WHERE COALESCE(events.city_code, '') = ?") == \
        [("events", "no city_code predicate")]
    assert unrouted("SELECT 1 FROM alerts JOIN sensors ON sensors.id = alerts.sensor_id "
                    "WHERE alerts.city_code = ?") == [("sensors", "joined not on city_code")]
    assert unrouted("SELECT 1 FROM alerts JOIN sensors ON sensors.id = alerts.sensor_id "
                    "AND sensors.city_code = alerts.city_code WHERE alerts.city_code = ?") == []
    assert unrouted("SELECT 1 FROM regions JOIN events ON events.grid_code = regions.code "
                    "WHERE events.city_code = ?") == []
    assert unrouted("SELECT e.id FROM events e WHERE e.city_code = ? AND EXISTS (SELECT 1 FROM escalations x "
                    "WHERE x.event_id = e.id)") == [("escalations", "no city_code predicate")]
    assert unrouted("SELECT e.id FROM events e WHERE e.city_code = ? AND EXISTS (SELECT 1 FROM escalations x "
                    "WHERE x.event_id = e.id AND x.city_code = e.city_code)") == []
    assert unrouted("SELECT 1 FROM event_transitions WHERE event_id = ?") == \
        [("event_transitions", "no city_code column")]


def test_tables_are_classified_and_the_gaps_are_real():
    tables = Base.metadata.tables
    for name in NO_CITY_COLUMN:
        assert name in tables and "city_code" not in tables[name].c, \
            f"{name} has city_code now: remove it from NO_CITY_COLUMN and pin its reads"
    for name in REFERENCE:
        assert name in tables, name


def test_every_fact_table_read_names_the_city(statements):
    assert len(statements) > 50, sorted(statements)
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for where, sqls in statements.items():
        for sql in sqls:
            for table, why in unrouted(sql):
                found[(where, table)].add(why)
    unexplained = {k: sorted(v) for k, v in found.items()
                   if k not in EXCEPTIONS and not (k[1] in NO_CITY_COLUMN and v == {"no city_code column"})}
    assert not unexplained, (
        "fact-table reads without a city_code predicate (or joined not on city_code), which a Citus cluster "
        "could not route to one city: start from ReadFace.scoped / .within (store/scope.py adds the city), "
        "join fact tables on city_code too, or add the case to EXCEPTIONS with its reason: "
        + "; ".join(f"{w} → {t}: {', '.join(v)}" for (w, t), v in sorted(unexplained.items())))
    stale = sorted(k for k in EXCEPTIONS if k not in found)
    assert not stale, f"now routed, remove from EXCEPTIONS in tests/test_citus_colocation.py: {stale}"
