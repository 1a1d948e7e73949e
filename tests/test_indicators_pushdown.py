"""How filters reach WHERE: "not in" over a workflow's states becomes "in" the other states, a batch whose
measures all pin a column reads only those rows, and SQLite is told that open cases are few."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from events.workflow import OPEN_STATUSES, STATUS_NAMES
from indicators import plan as P
from indicators import sqlbuild as SB
from indicators.schema import Filter

NOW = datetime(2026, 10, 15, tzinfo=timezone.utc)


def test_not_in_over_workflow_states_compiles_to_the_other_states():
    clause = P.filter_clause("events", Filter("status", "not_in", ("closed", "rejected")), NOW)
    sql = str(clause.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    assert "NOT IN" not in sql
    for state in OPEN_STATUSES:
        assert f"'{state}'" in sql
    assert "'closed'" not in sql and "'rejected'" not in sql


def test_not_in_over_an_open_ended_column_stays_not_in():
    clause = P.filter_clause("resources", Filter("kind", "not_in", ("物资储备库",)), NOW)
    assert "NOT IN" in str(clause.compile(dialect=sqlite.dialect()))


def test_narrowing_intersects_filters_on_one_column_and_ignores_others():
    got = dict(P.narrowing("events", (
        Filter("status", "not_in", ("closed", "rejected")),
        Filter("status", "in", ("handling", "hung", "closed")),
        Filter("stage_deadline", "<", NOW),
        Filter(any_of=(Filter("category", "=", "a"), Filter("category", "=", "b"))),
    )))
    assert got == {"status": frozenset({"handling", "hung"})}
    assert set(dict(P.narrowing("events", (Filter("status", "not_in", ("closed",)),)))["status"]) \
        == set(STATUS_NAMES) - {"closed"}


def _measure(name: str, statuses: tuple[str, ...] | None):  # noqa: ANN202
    filters = (Filter("status", "in", statuses),) if statuses else ()
    where = P.where_all("events", filters, NOW)
    return P.SqlMeasure(name, "events", None, "count", where=where, zero_if_covered=True,
                        narrow=P.narrowing("events", filters))


def _sql(expr, dialect) -> str:  # noqa: ANN001
    return str(select(1).where(expr).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def test_batch_pushes_the_union_of_its_measures_values_with_a_rarity_hint_on_sqlite_only():
    pushed = SB._shared_narrowing([_measure("a", ("handling",)), _measure("b", ("hung", "dispatched"))])
    lite = _sql(pushed, sqlite.dialect())
    assert "likelihood(events.status IN ('dispatched', 'handling', 'hung'), 0.01)" in lite
    assert "= 1" not in lite  # a boolean comparison would hide the condition from SQLite's planner
    pg = _sql(pushed, postgresql.dialect())
    assert "likelihood" not in pg and "events.status IN ('dispatched', 'handling', 'hung')" in pg


def test_common_values_get_no_rarity_hint():
    pushed = SB._shared_narrowing([_measure("a", ("closed",)), _measure("b", ("handling",))])
    assert "likelihood" not in _sql(pushed, sqlite.dialect())


def test_no_pushdown_when_one_measure_counts_every_row():
    assert SB._shared_narrowing([_measure("a", ("handling",)), _measure("all", None)]) is None


def test_adjacent_periods_are_read_as_one_range_and_a_year_ago_as_another():
    from store.period import Period
    from store.scope import Viewer

    viewer = Viewer("t", "leader", "440900")
    buckets = (SB.Bucket("cur", Period.parse("2026-10")), SB.Bucket("prev", Period.parse("2026-09")),
               SB.Bucket("yoy", Period.parse("2025-10")))
    runs = SB.bucket_runs(SB.Request("440900", "district", buckets, viewer))
    assert [[b.key for b in run] for run in runs] == [["yoy"], ["prev", "cur"]]
    year = tuple(SB.Bucket(f"m{m}", Period.parse(f"2026-{m:02d}")) for m in range(12, 0, -1))
    assert len(SB.bucket_runs(SB.Request("440900", None, year, viewer))) == 1


def test_city_and_district_figures_read_the_district_copy_of_the_rollup():
    from store.models import EventDailyRollup as R
    from store.period import Period
    from store.scope import Viewer

    closed = P.SqlMeasure("closed", "event_daily_rollup", "day", "sum", value=R.closed,
                          where=R.source == "12345", zero_if_covered=True)
    buckets = (SB.Bucket("cur", Period.parse("2026-10")),)
    city = Viewer("l", "leader", "440900")

    def pick(scope, child, viewer=city, measures=(closed,)):  # noqa: ANN001, ANN202
        return SB.coarser_source(list(measures), SB.Request(scope, child, buckets, viewer))

    assert pick("440900", "district") == "event_district_daily"
    assert pick("440900", None) == "event_district_daily"
    assert pick("440902", None) == "event_district_daily"
    # Streets are not in the district copy; for whole months they are in the monthly grid copy, and for part
    # of a month in neither.
    assert pick("440900", "street") == "event_grid_monthly"
    part = (SB.Bucket("cur", Period.parse("2026-10-03")),)
    assert SB.coarser_source([closed], SB.Request("440900", "street", part, city)) is None
    assert pick("440902", None, Viewer("s", "leader", "440902001")) == "event_grid_monthly"  # a street zone
    # Asking for no category or source, every grid's month is read from the grid-month totals.
    on_time = P.SqlMeasure("on_time", "event_daily_rollup", "day", "sum", value=R.closed_on_time)
    assert pick("440900", "grid", measures=(on_time,)) == "event_grid_month_totals"
    assert pick("440900", "district", measures=(on_time,)) == "event_district_daily"
    assert pick("440900", "grid", measures=(on_time, closed)) == "event_grid_monthly"  # one asks for a source
    assert SB.coarser_source([on_time], SB.Request("440900", "grid", part, city)) is None
    by_grid = P.SqlMeasure("g", "event_daily_rollup", "day", "count", where=R.grid_code.is_not(None))
    assert pick("440900", "district", measures=(closed, by_grid)) is None   # a column only the grid rollup has
    moved = SB._moved(closed.where, R.__table__, SB.S.table("event_district_daily"))
    assert "event_district_daily.source" in str(moved)
