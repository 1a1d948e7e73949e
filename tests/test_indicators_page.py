"""AppTest of pages/indicator_catalog.py on the demo city: catalogue, search, filter, one indicator's detail with
live value, trend and ranking; the Excel export of the catalogue goes through the audited export."""
from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
import streamlit as st
from openpyxl import load_workbook
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

import indicators as I
import settings
from auth.exports import audited_export
from indicators.catalogue import catalogue_frame, search
from store.db import dispose_engines, session_scope
from store.models import AuditEntry
from store.scope import Viewer
from tests.test_indicators_support import demo_engine  # noqa: F401 - session fixture

PAGE = Path(__file__).resolve().parents[1] / "pages" / "indicator_catalog.py"
DUTY = Viewer("zhiban", "duty_officer", "440900", display_name="值班员")
LEADER = Viewer("ld", "leader", "440902", display_name="茂南区领导")


@pytest.fixture
def app_db(demo_engine, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DATABASE_URL", demo_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield demo_engine
    monkeypatch.delenv("DATABASE_URL")
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    dispose_engines()


def _run(viewer: Viewer, **params) -> AppTest:  # noqa: ANN003
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.session_state["viewer"] = viewer
    for k, v in {"period": "2026-10", **params}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


def test_catalogue_detail_trend_and_ranking(app_db):
    at = _run(DUTY, indicator="cm_handle_ontime_rate")
    assert "指标库" in at.markdown[0].value and "2026年10月" in at.markdown[0].value
    table = at.dataframe[0].value
    assert len(table) == len(I.load_library())
    assert "按期处置率" in _text(at)
    assert "分子 ÷ 分母 × 100" in _text(at)  # the formula in words
    labels = [m.label for m in at.metric]
    assert any("2026年10月" in label for label in labels) and "同比" in labels and "目标值" in labels
    value = I.compute("cm_handle_ontime_rate", "440900", "2026-10", DUTY, engine=app_db)
    shown = next(m for m in at.metric if "2026年10月" in m.label).value
    assert shown == I.fmt_value(I.get_indicator("cm_handle_ontime_rate"), value.value)
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # trend and the districts' ranking
    assert len(at.get("download_button")) == 1


def test_search_and_domain_filter(app_db):
    at = _run(DUTY)
    at.text_input(key="ind_search").input("结案").run()
    assert not at.exception
    rows = at.dataframe[0].value
    assert 0 < len(rows) < len(I.load_library())
    assert all("结案" in name or "结案" in I.get_indicator(i).description for name, i in zip(rows["指标"], rows["编号"]))


def test_environment_indicator_and_snapshot(app_db):
    at = _run(DUTY, indicator="env_aqi")
    assert "日均空气质量指数" in _text(at) and "HJ 633" in _text(at)
    at = _run(DUTY, indicator="cm_open_cases")
    assert any("实时状态值" in i.value for i in at.info) or "实时状态值" in _text(at)


def test_leader_of_a_district(app_db):
    at = _run(LEADER, indicator="cm_reported")
    assert "茂南区" in at.markdown[0].value
    value = I.compute("cm_reported", "440902", "2026-10", LEADER, engine=app_db)
    shown = next(m for m in at.metric if "2026年10月" in m.label).value
    assert shown == I.fmt_value(I.get_indicator("cm_reported"), value.value)


def test_catalogue_export_is_audited(demo_engine):  # noqa: F811
    frame = catalogue_frame(search(""))
    with session_scope(demo_engine) as s:
        data = audited_export(s, DUTY, "指标库", "440900", frame)
    ws = load_workbook(BytesIO(data)).worksheets[0]
    assert ws.max_row == len(I.load_library()) + 1 and ws.cell(1, 1).value == "编号"
    with session_scope(demo_engine, readonly=True) as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
    assert last.action == "export" and last.detail["what"] == "指标库"
