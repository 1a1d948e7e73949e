"""The 接入密钥 tab of 系统管理 (pages/admin.py): the system administrator lists, creates (the key shown
once) and revokes the open intake API's keys; other administrators do not get the tab."""
from __future__ import annotations

from sqlalchemy import select

from open311 import keys
from store.db import session_scope
from store.models import ApiKey
from tests.test_auth_pages import AUDITOR, _admin_page, _by_label, admin_db, app_db  # noqa: F401 - fixtures


def test_the_system_administrator_creates_and_revokes_a_key(admin_db):
    at = _admin_page().run()
    assert not at.exception, at.exception
    assert [t.label for t in at.tabs][:2] == ["账号管理", "接入密钥"]
    _by_label(at.text_input, "接入系统名称").input("巡查平台")
    _by_label(at.text_input, "受理与查询区域代码").input("440902")
    [create] = [b for b in at.button if b.label == "创建"][1:]
    create.click().run()
    assert not at.exception, at.exception
    assert any("只显示这一次" in s.value for s in at.success)
    [shown] = [c.value for c in at.code if c.value.startswith("o311_")]
    with session_scope(admin_db) as s:
        assert keys.authenticate(s, shown).zone_code == "440902"
        row = s.scalars(select(ApiKey)).one()
        assert row.created_by == "xitong" and shown.split("_", 2)[2] not in row.secret_sha256

    _by_label(at.text_input, "受理与查询区域代码").input("440900")
    _by_label(at.text_input, "接入系统名称").input("巡查平台")
    [b for b in at.button if b.label == "创建"][1].click().run()
    assert any("已被使用" in e.value for e in at.error)

    at = _admin_page().run()
    _by_label(at.selectbox, "密钥").select("巡查平台")
    _by_label(at.checkbox, "我确认吊销（此后使用它的调用一律拒绝）").check()
    _by_label(at.button, "吊销").click().run()
    assert not at.exception, at.exception
    with session_scope(admin_db, readonly=True) as s:
        assert s.scalars(select(ApiKey)).one().revoked_by == "xitong"


def test_other_administrators_have_no_key_tab(admin_db):
    at = _admin_page(AUDITOR).run()
    assert not at.exception and "接入密钥" not in [t.label for t in at.tabs]
