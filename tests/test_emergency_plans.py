"""Plan templates: every incident type × level exists, levels escalate, bad config is refused whole."""
from __future__ import annotations

import pytest

from emergency import catalog
from emergency.plans import Plan, get_plan, load_plans


def test_every_type_and_level_has_a_plan():
    plans = load_plans()
    assert set(plans) == {f"{t}.{lv}" for t in catalog.INCIDENT_TYPES for lv in catalog.LEVELS}
    assert get_plan("内涝", "III").units["排涝抢险队"] == 2
    assert get_plan("内涝", "III").units["医疗救护"] == 1
    assert get_plan("内涝", "III").stock["沙袋"] == 500


@pytest.mark.parametrize("incident_type", catalog.INCIDENT_TYPES)
def test_plans_escalate_with_level(incident_type):
    """Going from IV (一般) up to I (特别重大) never asks for less of anything, and always for more overall."""
    ladder = [get_plan(incident_type, lv) for lv in reversed(catalog.LEVELS)]  # IV, III, II, I
    for lower, higher in zip(ladder, ladder[1:]):
        for kind, n in lower.units.items():
            assert higher.units.get(kind, 0) >= n, (higher.key, kind)
        for item, n in lower.stock.items():
            assert higher.stock.get(item, 0) >= n, (higher.key, item)
        assert sum(higher.units.values()) > sum(lower.units.values()) or \
            sum(higher.stock.values()) > sum(lower.stock.values())


def test_plans_name_only_dispatchable_kinds_and_known_items():
    kinds = set(catalog.unit_kinds())
    for plan in load_plans().values():
        assert set(plan.units) <= kinds
        assert set(plan.stock) <= set(catalog.ITEM_UNITS), plan.key


def test_bad_plan_config_is_refused_with_every_problem():
    cfg = {"plans": {"内涝.V": {"units": {"排涝抢险队": 1}}, "地震.I": {"units": {"物资储备库": 1}},
                     "火灾.IV": {"units": {"消防站": 0}, "stock": {"沙袋": -5}}, "无级别": {}}}
    with pytest.raises(ValueError) as err:
        load_plans(cfg)
    text = str(err.value)
    for needle in ("级别应为", "未知的事件类型“地震”", "不可调派的资源类型“物资储备库”", "“消防站”的数量应为正整数",
                   "物资“沙袋”的数量应为正整数", "预案“无级别”的名称"):
        assert needle in text


def test_plan_text():
    p = Plan("内涝", "III", {"排涝抢险队": 2}, {"沙袋": 500})
    assert p.key == "内涝.III" and p.label == "内涝 III级（较大）"
    assert p.describe() == "排涝抢险队×2；沙袋 500"
    with pytest.raises(KeyError, match="没有"):
        get_plan("地震", "I")
