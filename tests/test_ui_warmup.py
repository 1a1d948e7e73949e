"""The start-up warm-up (ui/warmup.py) leaves the tile statements of every level below the city built, so
the first district, street or grid any non-department user opens builds none (a department's user still
gets statements of its own: its reads are cut to its department), and every statement of a first district's
overview compiled."""
from __future__ import annotations

import pytest
import streamlit as st

import settings
from indicators import engine as E
from indicators import sqlbuild
from situation import kpis
from store.db import dispose_engines
from store.period import Period
from store.scope import Viewer
from tests.test_indicators_support import demo_engine  # noqa: F401 - session fixture
from ui import versions, warmup


@pytest.fixture
def app_db(demo_engine, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DATABASE_URL", demo_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    st.cache_data.clear()
    yield demo_engine
    monkeypatch.delenv("DATABASE_URL")
    settings.reload_settings()
    dispose_engines()


def _builds(monkeypatch) -> list:  # noqa: ANN001
    built: list = []
    real = sqlbuild.build_once
    monkeypatch.setattr(sqlbuild, "build_once", lambda m, r: built.append(r.scope) or real(m, r))
    return built


def test_after_the_warm_up_a_first_district_builds_no_statement(app_db, monkeypatch):
    E.clear_statement_cache()
    done = warmup.warm()
    assert done["tile_groups"] > 0
    codes = warmup.scopes("440900")
    assert [len(c) for c in codes] == [6, 9, 15]  # a district, a street, a grid
    built = _builds(monkeypatch)
    duty = Viewer("zhiban", "duty_officer", "440900", display_name="值班员")
    month = Period.current_month()
    for code in ("440904", "440904001", "440904001001001"):  # not the ones warmed
        for period in (month, month.previous()):
            for ids, _ in versions.indicator_groups(kpis.tile_ids(code)):
                kpis.tiles(duty, code, period, ids=ids)
    assert built == []
    dept = Viewer("chengguan", "department", "440900", department_code="440900-CGJ", display_name="城管局")
    for ids, _ in versions.indicator_groups(kpis.tile_ids("440904")):
        kpis.tiles(dept, "440904", month, ids=ids)
    assert built  # a department's statements are its own


def test_after_the_warm_up_a_first_districts_overview_compiles_no_statement(app_db):
    """The whole overview of a district nobody opened (tiles, map, ranking, trend, case map, urgent list,
    办理进度), after the start-up work (prepare_city, warm) and a first city overview: every statement it runs
    was compiled already (SQLAlchemy's compiled cache, per engine)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.interfaces import CacheStats
    from streamlit.testing.v1 import AppTest

    from tests.test_pages_situation import LEADER, ROOT

    warmup.prepare_city()
    warmup.warm()
    month = Period.current_month().key

    def overview(region: str | None) -> list[str]:
        compiled: list[str] = []

        def note(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
            if context is not None and context.cache_hit is CacheStats.CACHE_MISS:
                compiled.append(statement)

        event.listen(Engine, "before_cursor_execute", note)
        try:
            at = AppTest.from_file(str(ROOT / "pages/overview.py"), default_timeout=120)
            at.session_state["viewer"] = LEADER
            at.query_params["period"] = month
            if region:
                at.query_params["region"] = region
            at.run()
            assert not at.exception, at.exception
        finally:
            event.remove(Engine, "before_cursor_execute", note)
        return compiled

    overview(None)  # the page's own statements (scope, sidebar …) are compiled by a first page of any scope
    assert warmup.scopes("440900")[0] != "440904"
    assert overview("440904") == []
