"""系统管理 → 数据交换 (AppTest, 系统管理员): backlog per destination, the failures with their reasons,
and replay — records named by kind and object number only."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

import settings
from store import outbox
from store.db import dispose_engines, session_scope
from store.models import OutboxDelivery
from store.scope import Viewer

PAGES = Path(__file__).resolve().parents[1] / "pages"
ADMIN = Viewer("xitong", "sys_admin", "440900", display_name="系统管理员")


@pytest.fixture
def app_db(sqlite_city_engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_city_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CITYOPS_EXCHANGE_UPPER_URL", "https://upper.example.gov.cn/receive")
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield sqlite_city_engine
    for key in ("DATABASE_URL", "CITYOPS_EXCHANGE_UPPER_URL"):
        monkeypatch.delenv(key)
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    dispose_engines()


def test_status_failures_and_replay(app_db):
    with session_scope(app_db) as s:
        for i in range(3):
            outbox.record(s, "case.register", "event", 100 + i, {"id": 100 + i, "title": "机密标题"},
                          region={"city_code": "440900"})
    with session_scope(app_db) as s:
        first = s.scalar(select(OutboxDelivery.id).where(OutboxDelivery.destination == "upper").order_by(OutboxDelivery.id))
        s.execute(update(OutboxDelivery).where(OutboxDelivery.id == first)
                  .values(state="failed", last_error="HTTP 422：字段 caseCode 缺失", last_status=422))
    at = AppTest.from_file(str(PAGES / "admin.py"), default_timeout=60)
    at.session_state["viewer"] = ADMIN
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "数据交换" in [t.label for t in at.tabs]
    frames = [df.value for df in at.dataframe]
    status = next(f for f in frames if "目的地" in f.columns and "待发送" in f.columns)
    upper = status[status["目的地"] == "上级平台"].iloc[0]
    assert upper["待发送"] == 2 and upper["失败"] == 1
    failures = next(f for f in frames if "原因" in f.columns)
    assert "字段 caseCode 缺失" in failures["原因"].iloc[0] and failures["对象"].iloc[0] == "event 100"
    assert not any("机密标题" in str(f.values) for f in frames)  # no business content for the administrator
    form_select = next(sb for sb in at.selectbox if sb.label == "目的地")
    form_select.set_value("upper")
    next(b for b in at.button if b.label == "重发").click()
    at.run()
    assert not at.exception
    assert any("已将 1 条上级平台记录重新排队发送" in m.value for m in at.success)
    with session_scope(app_db, readonly=True) as s:
        assert s.scalar(select(OutboxDelivery.state).where(OutboxDelivery.id == first)) == "pending"
