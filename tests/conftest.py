"""Shared fixtures: a fresh database per test on SQLite, and on PostgreSQL for parity tests.

Backends: `db_engine` is parametrised over sqlite and postgres. PostgreSQL tests skip when the server
is unreachable, unless REQUIRE_POSTGRES=1 (as in CI), where they fail instead.
Each test process creates its own PostgreSQL database, so parallel runs never share state.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from geo.meta import clear_all_caches
from store.db import dispose_engines, get_engine, session_scope
from store import partitions
from store.models import Base
from tests.support.shared_demo import sqlite_copy
from tests.support.tiny_city import tiny_city_regions

# The files that take a minute or more, longest first, are handed to the test workers before the rest
# (Makefile: `--dist loadfile --no-loadscope-reorder`). xdist's default order, most tests first, put the
# browser journeys (~6.5 min on one worker) last: the run then ended with one worker in them while the
# others sat idle. Seconds: `pytest --durations` on a 2-core machine, three workers.
LONG_FILES_FIRST = (
    "tests/browser/test_journeys.py",  # 393
    "tests/browser/test_situation_browser.py",  # 127
    "tests/browser/test_wall_browser.py",  # 116
    "tests/test_bench_smoke.py",  # 109
    "tests/browser/test_onboard_browser.py",  # 98
    "tests/test_scaleout.py",  # 98
    "tests/browser/test_view_browser.py",  # 75
    "tests/test_events_concurrency.py",  # 74
    "tests/test_demo_province.py",  # 65
    "tests/test_citus_colocation.py",  # 53
    "tests/test_indicators_demo.py",  # 51
    "tests/browser/test_auth_browser.py",  # 45
    "tests/browser/test_import_browser.py",  # 38
    "tests/browser/test_security_browser.py",  # 37
    "tests/test_events_demo.py",  # 31
)


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001, ARG001
    rank = {path: i for i, path in enumerate(LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: the rest keep their order


PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_PG_DB = f"cityops_t_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _require(flag: str) -> bool:
    return os.environ.get(flag) == "1"


@pytest.fixture(scope="session")
def pg_url():
    """URL of a PostgreSQL database private to this test process (created once, dropped at the end)."""
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{_PG_DB}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server
        if _require("REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{_PG_DB}"
    yield url
    dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{_PG_DB}" WITH (FORCE)'))
    admin.dispose()


def _fresh_sqlite(tmp_path) -> str:  # noqa: ANN001
    return f"sqlite:///{tmp_path / 'test.db'}"


# create_all's schema on SQLite is made once per test process and copied for each test (~1 ms against
# ~40 ms for creating ~50 tables with their indexes and triggers again).
_SQLITE_TEMPLATE: list[Path] = []


def _empty_sqlite_schema(tmp_path):  # noqa: ANN001, ANN202 - an Engine
    if not _SQLITE_TEMPLATE:
        path = Path(tempfile.mkdtemp(prefix="cityops-schema-")) / "schema.db"
        maker = create_engine(f"sqlite:///{path}")
        Base.metadata.create_all(maker)
        maker.dispose()  # closed: the schema is all in the one file
        _SQLITE_TEMPLATE.append(path)
    shutil.copyfile(_SQLITE_TEMPLATE[0], tmp_path / "test.db")
    return get_engine(_fresh_sqlite(tmp_path))


# What the schema create_all made looks like (tables, columns, indexes, triggers, extra schemas), per URL:
# while a database still matches it, emptying it is one transaction of DELETEs instead of dropping and creating ~60
# tables (1.4 s a test on PostgreSQL, ~500 tests). Any test that changed the schema — migrated it,
# installed the audit guard, dropped an index, added the archive schema — no longer matches and gets the
# full reset.
_CREATED: dict[str, tuple] = {}
_FINGERPRINT = """
SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = 'public'),
       (SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'),
       (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'),
       (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal),
       (SELECT count(*) FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema')
"""


def _fingerprint(engine) -> tuple:  # noqa: ANN001
    with engine.connect() as conn:
        return tuple(conn.exec_driver_sql(_FINGERPRINT).one())


# Emptying: DELETE from every table, children first, and every sequence restarted, in one transaction —
# ~15 ms against ~75 ms for TRUNCATE, which gives each of the ~50 tables a new file however few rows a
# test left (the test databases hold a test's handful of rows, not a city).
_EMPTY_SQL: dict[str, str] = {}


def _emptying_sql(engine) -> str:  # noqa: ANN001
    with engine.connect() as conn:
        sequences = conn.exec_driver_sql(
            "SELECT quote_ident(sequencename) FROM pg_sequences WHERE schemaname = 'public'").scalars().all()
    deletes = [f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables)]
    return ";".join(deletes + [f"ALTER SEQUENCE {name} RESTART" for name in sequences])


def _empty_pg_schema(url: str):  # noqa: ANN202 - an Engine
    """The test process's PostgreSQL database with create_all's schema and no rows (ids from 1 again)."""
    engine = get_engine(url)
    if url in _CREATED and _fingerprint(engine) == _CREATED[url]:
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(_EMPTY_SQL[url])
            clear_all_caches()
            return engine
        except Exception:  # noqa: BLE001 - anything that refuses to be emptied: start from nothing
            pass
    _reset_pg(url)
    Base.metadata.create_all(engine)
    _CREATED[url] = _fingerprint(engine)
    _EMPTY_SQL[url] = _emptying_sql(engine)
    return engine


def _reset_pg(url: str) -> None:
    """Empty the test process's PostgreSQL database: every table, the migrations' version row (else a
    later `migrate` believes the dropped schema is at head and creates nothing) and the archive schema."""
    _CREATED.pop(url, None)
    engine = get_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {partitions.ARCHIVE} CASCADE")
    partitions._ENSURED.clear()
    # Same URL, new contents: the per-city locators and address indexes of an earlier test must go (a
    # database whose regions were inserted without an import has boundary version "0" every time).
    clear_all_caches()


@pytest.fixture(params=["sqlite", "postgres"])
def db_engine(request, tmp_path):
    """An empty schema on each backend."""
    if request.param == "sqlite":
        yield _empty_sqlite_schema(tmp_path)
    else:
        yield _empty_pg_schema(request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_engine(tmp_path):
    yield _empty_sqlite_schema(tmp_path)


@pytest.fixture
def pg_engine(pg_url):
    yield _empty_pg_schema(pg_url)


def _with_tiny_city(engine):  # noqa: ANN001
    with session_scope(engine) as s:
        s.add_all(tiny_city_regions())
    return engine


@pytest.fixture
def city_engine(db_engine):
    """Both backends, with the tiny city's regions loaded."""
    return _with_tiny_city(db_engine)


@pytest.fixture
def sqlite_city_engine(sqlite_engine):
    return _with_tiny_city(sqlite_engine)


@pytest.fixture(scope="session")
def demo_db_url(tmp_path_factory):
    """A SQLite database with the whole demo city (demo scale), built once per test session."""
    from datetime import date

    from demo.seed import seed_demo

    def build(url: str) -> None:  # the same database as test_indicators_support.demo_engine's (one seeding)
        seed_demo(get_engine(url), "demo", seed=7, until=date(2026, 11, 20), log=lambda *_: None)

    return sqlite_copy(tmp_path_factory, "demo_seed7", build)  # seeded once per run, copied per worker


@pytest.fixture
def use_database(monkeypatch):
    """Point the app (settings, engines, Streamlit caches) at a given database URL for one test."""
    import settings
    import streamlit as st

    def _use(url: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        settings.reload_settings()
        st.cache_data.clear()
        st.cache_resource.clear()

    yield _use
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings.reload_settings()
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
