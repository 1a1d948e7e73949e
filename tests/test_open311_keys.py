"""API keys (open311.keys) and the service list (open311/services.yaml): what a key may be created with,
that only a hash is stored, how a presented key is judged; every 小类 has a permanent service code and
attribute answers are checked against their definitions."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from events.catalog import get_catalog
from open311 import keys
from open311.services import BadAttribute, check_attributes, get_services, parse_services
from store.db import session_scope
from store.models import ApiKey, AuditEntry


@pytest.mark.parametrize("kwargs,words", [
    ({"name": "x"}, "2–40 个字符"),
    ({"name": "bad name!"}, "2–40 个字符"),
    ({"zone_code": "44x"}, "格式不正确"),
    ({"zone_code": "110101"}, "不存在"),
    ({"categories": ["不存在的大类"]}, "未知的大类"),
    ({"categories": ["市容环境/不存在"]}, "没有小类"),
    ({"source": "微博"}, "未知的案件来源"),
    ({"rate_per_minute": 0}, "1–10000"),
])
def test_bad_keys_are_refused(sqlite_city_engine, kwargs, words):
    args = {"name": "hotline", "zone_code": "440900", **kwargs}
    with pytest.raises(keys.KeyProblem, match=words), session_scope(sqlite_city_engine) as s:
        keys.create_key(s, args.pop("name"), args.pop("zone_code"), **args)


def test_a_key_is_shown_once_stored_hashed_and_judged(sqlite_city_engine):
    with session_scope(sqlite_city_engine) as s:
        info, text = keys.create_key(s, "12345热线", "440902", categories=["市容环境", "街面秩序/占道经营", "市容环境"],
                                     rate_per_minute=30, actor="ops")
    assert info.categories == ("市容环境", "街面秩序/占道经营") and info.viewer().role == keys.API_CLIENT_ROLE
    prefix, secret = text.split("_")[1], text.split("_", 2)[2]
    with session_scope(sqlite_city_engine) as s:
        row = s.scalars(select(ApiKey)).one()
        assert row.prefix == prefix and secret not in row.secret_sha256 and len(row.secret_sha256) == 64
        assert keys.authenticate(s, f"  {text} ").name == "12345热线"
        for presented, reason in ((None, "missing"), ("abc", "malformed"), (text[:-2] + "zz", "unknown")):
            with pytest.raises(keys.KeyRefused) as refused:
                keys.authenticate(s, presented)
            assert refused.value.reason == reason
        with pytest.raises(keys.KeyProblem, match="已被使用"):
            keys.create_key(s, "12345热线", "440900")
    with session_scope(sqlite_city_engine) as s:
        keys.revoke_key(s, "12345热线", actor="ops")
    with session_scope(sqlite_city_engine) as s:
        with pytest.raises(keys.KeyRefused) as refused:
            keys.authenticate(s, text)
        assert refused.value.reason == "revoked"
        listed = keys.list_keys(s)
        assert listed[0]["revoked_by"] == "ops" and "secret_sha256" not in listed[0]
        actions = [a for a, in s.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
        assert actions == ["api_key_create", "api_key_revoke"]


def test_every_subcategory_has_a_permanent_service_code():
    catalog = get_services()
    assert catalog.unmapped == ()
    assert len(catalog.services) == len(get_catalog().items)
    assert len({s.code for s in catalog.services}) == len(catalog.services)
    assert catalog.get("E0102").name == "暴露垃圾" and catalog.get("C0101").item.kind == "部件"
    assert all(a.code == "component_id" for s in catalog.services if s.item.kind == "部件" for a in s.attributes)


def test_a_broken_service_file_is_refused():
    with pytest.raises(ValueError, match="two codes"):
        parse_services({"services": {"E0101": ["事件", "市容环境", "私搭乱建"], "E0199": ["事件", "市容环境", "私搭乱建"]}})
    with pytest.raises(ValueError, match="must look like"):
        parse_services({"services": {"X1": ["事件", "市容环境", "私搭乱建"]}})
    with pytest.raises(ValueError, match="unknown services"):
        parse_services({"services": {}, "attributes": {"E0101": [{"code": "a"}]}})


def test_attribute_answers():
    gas, water, lamp = (get_services().get(c) for c in ("E0403", "E0405", "C0108"))
    assert check_attributes(gas, {"gas_smell": ["yes"]}) == [("现场是否闻到燃气味", "是")]
    assert check_attributes(water, {}) == []
    assert check_attributes(lamp, {"component_id": ["440902-LD-0001"]})[0][1] == "440902-LD-0001"
    for service, answers, words in ((gas, {}, "缺少必填"), (gas, {"gas_smell": ["yes", "no"]}, "只能填一个值"),
                                    (water, {"depth_cm": ["deep"]}, "应为数字"), (water, {"depth_cm": ["inf"]}, "超出范围"),
                                    (lamp, {"component_id": ["<script>"]}, "字母、数字"),
                                    (water, {"depth_cm": ["1" * 300]}, "过长"), (water, {"x": ["1"]}, "没有附加信息")):
        with pytest.raises(BadAttribute, match=words):
            check_attributes(service, answers)
