"""Data versions (store/data_version.py): every write transaction moves the version of each domain it wrote,
in the same commit, and nothing else does; the screens' caches (ui/versions.py) recompute after a write to
what they read, and not otherwise."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from sensors.ingest import ingest
from store import bulkload, data_version
from store.db import session_scope
from store.models import ExternalValue, Meta, Region
from store.models.sensors import SensorAreaDaily
from tests.support.tiny_city import CITY
from tests.test_events_support import drive, new_case, prepare
from tests.test_sensors_common import CST, add_sensors, air_hours, index_of


def versions(engine) -> dict[str, str]:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return data_version.current(s)


def moved(before: dict, after: dict) -> set[str]:
    return {d for d in before if before[d] != after[d]}


def test_every_table_belongs_to_a_domain_or_says_why_not():
    assert data_version.unclassified_tables() == [], \
        "a new table: add it to a domain in store/data_version.py DOMAINS, or to UNTRACKED with the reason"
    tracked = {t for tables in data_version.DOMAINS.values() for t in tables}
    assert not tracked & set(data_version.UNTRACKED)


def test_orm_core_and_bulk_writes_move_their_domain_only(city_engine):
    engine = city_engine
    v0 = versions(engine)
    assert moved({d: data_version.NEVER for d in v0}, v0) == {"regions"}  # the fixture loaded the regions

    with session_scope(engine) as s:  # the unit of work: an added row
        s.add(ExternalValue(indicator_id="gdp", region_code=CITY, city_code=CITY, period="2026-10", value=1.0))
    v1 = versions(engine)
    assert moved(v0, v1) == {"statistics"}

    with session_scope(engine) as s:  # a Core UPDATE through the session
        s.execute(update(Region).where(Region.code == CITY).values(name="茂名"))
    v2 = versions(engine)
    assert moved(v1, v2) == {"regions"}

    with session_scope(engine) as s:  # past the ORM: the bulk loader (COPY on PostgreSQL)
        bulkload.load(s, SensorAreaDaily, {"region_code": [CITY], "level": "city", "city_code": CITY, "kind": "air",
                                           "day": [datetime(2026, 9, 30, 16, tzinfo=timezone.utc)], "metric": "AQI",
                                           "value": [50.0], "stations": 1}, 1)
    v3 = versions(engine)
    assert moved(v2, v3) == {"readings"}


def test_reads_rollbacks_and_unchanged_rows_move_nothing(city_engine):
    engine = city_engine
    v0 = versions(engine)
    with session_scope(engine, readonly=True) as s:
        s.execute(select(Region)).all()
    with session_scope(engine) as s:  # loaded, attribute set to the value it already has
        region = s.get(Region, CITY)
        region.name = region.name
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        s.add(ExternalValue(indicator_id="gdp", region_code=CITY, city_code=CITY, period="2026-10", value=1.0))
        s.flush()
        raise RuntimeError("the import fails half-way")
    assert versions(engine) == v0


def test_the_version_moves_in_the_same_transaction_as_the_write(city_engine):
    """Read inside the writing transaction, after its last statement: the new version is there already
    (so no reader can see the data without the version, or the version without the data)."""
    engine = city_engine
    with session_scope(engine) as s:
        s.add(ExternalValue(indicator_id="gdp", region_code=CITY, city_code=CITY, period="2026-10", value=2.0))
        assert data_version.written(s) == set()  # not flushed yet
        s.flush()
        assert data_version.written(s) == {"statistics"}
    with session_scope(engine, readonly=True) as s:
        row = s.get(Meta, data_version.KEY_PREFIX + "statistics")
        assert row is not None and row.value != data_version.NEVER


def test_a_savepoint_neither_bumps_early_nor_forgets_the_outer_writes(city_engine):
    """A released SAVEPOINT must not bump (that took the version rows' lock mid-transaction and queued every
    other writer behind an import); a rolled-back one must not drop what the outer transaction wrote."""
    engine = city_engine
    v0 = versions(engine)
    with session_scope(engine) as s:
        s.execute(update(Region).where(Region.code == CITY).values(name="茂名市"))
        with s.begin_nested():  # released
            s.add(ExternalValue(indicator_id="gdp", region_code=CITY, city_code=CITY, period="2026-10", value=3.0))
        assert data_version.written(s) == {"regions", "statistics"}  # still to bump, at the outer COMMIT
        nested = s.begin_nested()  # rolled back
        s.add(ExternalValue(indicator_id="gdp", region_code=CITY, city_code=CITY, period="2026-09", value=3.0))
        s.flush()
        nested.rollback()
        assert data_version.written(s) == {"regions", "statistics"}
        with session_scope(engine, readonly=True) as other:  # nothing bumped before the outer COMMIT
            assert data_version.current(other) == v0
    assert moved(v0, versions(engine)) == {"regions", "statistics"}


def test_workflow_and_ingest_write_paths_move_their_domains(city_engine):
    engine = city_engine
    prepare(engine)
    add_sensors(engine)
    v0 = versions(engine)
    with session_scope(engine) as s:
        case = new_case(s)
    v1 = versions(engine)
    assert "events" in moved(v0, v1) and not moved(v0, v1) & {"readings", "sensors", "emergency", "regions"}
    with session_scope(engine) as s:
        drive(s, case.id, "registered")  # 立案, through workflow.transition
    v2 = versions(engine)
    assert "events" in moved(v1, v2) and "readings" not in moved(v1, v2)
    with session_scope(engine) as s:  # a sensor batch: readings, never the case figures
        ingest(s, air_hours("A1", datetime(2026, 3, 1, 0, tzinfo=CST), 2, PM25=70, PM10=90, SO2=8, NO2=30, CO=0.7,
                            O3=60), index_of(engine))
    v3 = versions(engine)
    assert "readings" in moved(v2, v3) and "events" not in moved(v2, v3)


# -- the screens' caches ---------------------------------------------------------------------------------
def _screen():
    from store.scope import Viewer
    from ui import chrome, overview_parts

    viewer = Viewer("boss", "leader", "440900")
    overview_parts.cached_tiles(viewer, "440900", "2026-10")
    chrome.scope_path("440900", viewer)


@pytest.fixture
def screen(sqlite_city_engine, use_database, monkeypatch):
    """The tiles and the sidebar's scope path on the tiny city, counting what they compute."""
    from situation import kpis
    from ui import chrome, versions as ui_versions

    use_database(str(sqlite_city_engine.url))
    monkeypatch.setattr(ui_versions, "clock", lambda seconds=None: 0)  # no interval boundary mid-test
    computed: list[tuple] = []
    reads: list[int] = []
    real_tiles, real_breadcrumb, real_current = kpis.tiles, chrome.RegionViews.breadcrumb, data_version.current

    def tiles(viewer, code, period, ids=None):  # noqa: ANN001, ANN202
        computed.append(("tiles", tuple(ids)))
        return real_tiles(viewer, code, period, ids=ids)

    def breadcrumb(self, code):  # noqa: ANN001, ANN202
        computed.append(("path",))
        return real_breadcrumb(self, code)

    def current(session, domains=data_version.ALL):  # noqa: ANN001, ANN202
        reads.append(1)
        return real_current(session, domains)

    monkeypatch.setattr(kpis, "tiles", tiles)
    monkeypatch.setattr(chrome.RegionViews, "breadcrumb", breadcrumb)
    monkeypatch.setattr(data_version, "current", current)
    at = AppTest.from_function(_screen, default_timeout=120)
    return sqlite_city_engine, at, computed, reads


def _run(at: AppTest, computed: list, reads: list) -> tuple[list, int]:
    computed.clear()
    reads.clear()
    at.run()
    assert not at.exception, at.exception
    return list(computed), len(reads)


def test_cached_screen_recomputes_after_a_write_and_not_otherwise(screen):
    from ui import versions as ui_versions

    engine, at, computed, reads = screen
    first, n_reads = _run(at, computed, reads)
    groups = [c[1] for c in first if c[0] == "tiles"]
    assert len(groups) >= 3 and ("path",) in first
    assert n_reads == 1  # the versions are read once per run, however many caches ask

    again, _ = _run(at, computed, reads)
    assert again == []  # nothing written: nothing recomputed (no time-to-live either)

    with session_scope(engine) as s:  # an imported statistic: only the tiles that read statistics
        s.add(ExternalValue(indicator_id="gdp", region_code=CITY, city_code=CITY, period="2026-10", value=1.0))
    after_stats, _ = _run(at, computed, reads)
    stats_groups = {ids for ids, key in ui_versions.indicator_groups([i for g in groups for i in g])
                    if "statistics" in dict(key[0])}
    assert stats_groups and {c[1] for c in after_stats} == stats_groups

    with session_scope(engine) as s:  # a boundary change: everything drawn from the regions
        s.execute(update(Region).where(Region.code == CITY).values(name="茂名"))
    after_regions, _ = _run(at, computed, reads)
    assert {c[1] for c in after_regions if c[0] == "tiles"} == set(groups) and ("path",) in after_regions

    quiet, _ = _run(at, computed, reads)
    assert quiet == []


def test_each_indicator_names_what_it_reads():
    """The screens key an indicator's figure by the domains its sources lie in (ui/versions.py); a source
    it cannot place would make the figure depend on every domain (safe, but recomputed on every write)."""
    import indicators
    from ui import versions as ui_versions

    library = indicators.load_library()
    for ind in library.values():
        domains = ui_versions.indicator_domains(ind)
        assert domains != frozenset(data_version.ALL), f"{ind.id}: a source in no data domain"
        assert "regions" in domains
    assert ui_versions.indicator_uses_now(library["cm_overdue_cases"])  # "overdue now": the clock is an input
    assert not ui_versions.indicator_uses_now(library["cm_close_ontime_rate"])
    assert "readings" not in ui_versions.indicator_domains(library["cm_close_ontime_rate"])
