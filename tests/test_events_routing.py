"""Routing rules and the catalog: every 小类 in every street routes to a department that exists; rules are
validated against the catalog; a district rule overrides the general one."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from events import routing
from events.catalog import get_catalog, parse_catalog
from events.departments import demo_department_rows
from store.db import session_scope
from store.models import Department, Region
from tests.test_events_support import prepare


def test_every_subcategory_routes_somewhere_real(city_engine):
    prepare(city_engine)
    with session_scope(city_engine, readonly=True) as s:
        streets = s.execute(select(Region.code).where(Region.level == "street")).scalars().all()
        existing = set(s.execute(select(Department.code)).scalars())
    missing = []
    for item in get_catalog().items:
        for street in streets:
            codes = {"city": "440900", "district": street[:6], "street": street}
            first = routing.candidates(item.kind, item.category, item.name, codes)[0][0]
            if first not in existing:
                missing.append((item.category, item.name, street, first))
    assert not missing, missing[:5]


def test_rule_order_and_district_override():
    codes = {"city": "440900", "district": "440902", "street": "440902001"}
    assert routing.candidates("事件", "突发事件", "道路积水", codes)[0][0] == "SWJ"
    county = {"city": "440900", "district": "440981", "street": "440981001"}
    assert routing.candidates("事件", "突发事件", "道路积水", county)[0][0] == "440981-CGJ"
    assert routing.candidates("事件", "市容环境", "暴露垃圾", codes)[0][0] == "440902001-JD"
    assert routing.candidates("部件", "市容环境", "公共厕所", codes)[0][0] == "440902-CGJ"  # same 大类, other kind


@pytest.mark.parametrize("rules,message", [
    ({"rules": [{"category": "不存在", "to": "street"}]}, "没有大类"),
    ({"rules": [{"category": "市容环境", "subcategory": "不存在", "to": "street"}]}, "没有小类"),
    ({"rules": [{"category": "市容环境", "to": "province:X"}]}, "目标"),
    ({"rules": [{"category": "市容环境", "to": "street", "when": 1}]}, "未知字段"),
    ({"rules": "x"}, "rules"),
])
def test_bad_rules_are_refused(rules, message):
    with pytest.raises(ValueError, match=message):
        routing.parse_rules(rules)


def test_catalog_validation():
    with pytest.raises(ValueError, match="重复"):
        parse_catalog({"事件": {"市容环境": ["暴露垃圾", "暴露垃圾"]}})
    with pytest.raises(ValueError, match="未知的类型"):
        parse_catalog({"物件": {"x": ["y"]}})
    with pytest.raises(ValueError, match="未知选项"):
        parse_catalog({"事件": {"x": [{"name": "y", "colour": 1}]}})
    cat = get_catalog()
    assert set(cat.categories("事件")) == {"市容环境", "宣传广告", "施工管理", "突发事件", "街面秩序", "其他事件"}
    assert set(cat.categories("部件")) == {"公用设施", "道路交通", "市容环境", "园林绿化", "房屋土地", "其他设施"}
    assert cat.find("突发事件", "道路积水").urgent


def test_demo_departments_follow_the_code_convention():
    rows = demo_department_rows([("440900", "茂名市", "city"), ("440902", "茂南区", "district"),
                                 ("440902001", "新华街道", "street"), ("440902101", "金塘镇", "street")])
    codes = {r["code"]: r["name"] for r in rows}
    assert codes["CGJ"] == "茂名市城市管理和综合执法局"
    assert codes["440902-CGJ"] == "茂南区城市管理和综合执法局"
    assert codes["440902001-JD"] == "新华街道办事处" and codes["440902101-JD"] == "金塘镇人民政府"
