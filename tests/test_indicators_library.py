"""The library as shipped is valid and complete; every kind of bad definition gives its documented error,
naming the file, the indicator and the field (Chinese)."""
from __future__ import annotations

import pytest

import indicators as I
from indicators.catalogue import catalogue_frame, domain_counts, search
from indicators.describe import formula_text, thresholds_text
from indicators.schema import DOMAINS
from indicators.status import bands, fmt_delta, status_of
from tests.test_indicators_support import write_yaml

GOOD = """
- id: t_ok
  name: 测试指标
  domain: 社会管理
  description: 测试
  unit: 件
  polarity: higher_better
  thresholds: {green: 90, yellow: 80}
  levels: [city, district]
  grain: month
  owner: 测试部门
  formula:
    kind: sum
    source: event_daily_rollup
    time_field: day
    column: reported
"""


def problems(tmp_path, text: str) -> list[str]:  # noqa: ANN001
    return I.validate_library(write_yaml(tmp_path, text, "bad.yaml"))


def one(tmp_path, text: str) -> str:  # noqa: ANN001
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def variant(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


# -- the shipped library -----------------------------------------------------------------------------------

def test_shipped_library_is_valid_and_covers_all_domains():
    assert I.validate_library() == []
    lib = I.load_library()
    assert len(lib) >= 40
    counts = domain_counts()
    assert set(counts) == set(DOMAINS) and all(n >= 5 for n in counts.values()), counts
    kinds = {i.formula.kind for i in lib.values()}
    assert kinds == {"count", "sum", "ratio", "mean", "duration", "latest", "external", "standard"}
    for ind in lib.values():
        assert ind.description and formula_text(ind) and thresholds_text(ind)
        if ind.unit == "%":
            assert ind.thresholds is not None or ind.id.startswith("hl_per"), ind.id


def test_the_evaluation_sets_are_there():
    lib = I.load_library()
    for name in ("上报数", "立案数", "立案率", "按期派遣率", "按期处置率", "按期结案率", "结案率", "返工率",
                 "平均处置时长", "12345热线受理量", "12345热线办结率", "12345热线满意率", "空气质量优良天数比例",
                 "PM2.5平均浓度", "地表水水质达标率", "消防站服务覆盖率", "每千人应急避难容量", "平均调派用时",
                 "地区生产总值增速", "社会消费品零售总额", "规模以上工业增加值增速", "市场主体数量",
                 "食品安全抽检合格率", "政务服务办件量", "政务服务按时办结率"):
        assert any(name in i.name for i in lib.values()), name


def test_load_is_cached_and_ids_unknown_raise():
    assert I.load_library() is I.load_library()
    with pytest.raises(KeyError, match="没有指标"):
        I.get_indicator("no_such_indicator")


def test_catalogue_search_and_frame():
    found = search("结案")
    assert found and all("结案" in (i.name + i.description) for i in found)
    assert [i.domain for i in search("", ["经济调节"])] == ["经济调节"] * domain_counts()["经济调节"]
    assert search("pm2.5 浓度") and search("zzzz") == []
    frame = catalogue_frame(search("", ["市场监管"]))
    assert list(frame.columns[:3]) == ["编号", "名称", "领域"] and len(frame) == domain_counts()["市场监管"]


def test_status_and_bands():
    lib = I.load_library()
    rate, lower = lib["cm_handle_ontime_rate"], lib["cm_rework_rate"]  # 90/80 higher; 5/10 lower
    assert [status_of(rate, v) for v in (90, 89.9, 80, 79.9, None)] == ["green", "yellow", "yellow", "red", None]
    assert [status_of(lower, v) for v in (5, 5.1, 10, 10.1)] == ["green", "yellow", "yellow", "red"]
    assert status_of(lib["cm_reported"], 10) is None  # no thresholds
    assert [b["status"] for b in bands(rate)] == ["green", "yellow", "red"] and "≥ 90" in bands(rate)[0]["range"]
    assert fmt_delta(rate, 2.5, 3.0) == "↑ 2.5 个百分点"
    assert fmt_delta(lib["cm_reported"], -10, -20.0) == "↓ 20.0%"


# -- one test per documented error -----------------------------------------------------------------------------

def test_message_names_file_indicator_and_field(tmp_path):
    msg = one(tmp_path, variant("column: reported", "column: reportd"))
    assert msg.startswith("bad.yaml：指标「t_ok」（测试指标）字段 formula.column（列）")
    assert "没有列「reportd」" in msg


def test_unknown_key(tmp_path):
    msg = one(tmp_path, variant("owner: 测试部门", "owner: 测试部门\n  colour: red"))
    assert "字段 colour" in msg and "未知的键「colour」" in msg
    msg = one(tmp_path, variant("column: reported", "column: reported\n    weight: 2"))
    assert "formula.weight" in msg and "未知的键" in msg


def test_unknown_table(tmp_path):
    msg = one(tmp_path, variant("source: event_daily_rollup", "source: event_rollup"))
    assert "formula.source（数据表）" in msg and "未知的数据表「event_rollup」" in msg


def test_table_not_allowed_as_source(tmp_path):
    msg = one(tmp_path, variant("source: event_daily_rollup\n    time_field: day\n    column: reported",
                                "source: users\n    time_field: created_at\n    column: id"))
    assert "不能作为指标数据源" in msg


def test_unknown_filter_column_and_op(tmp_path):
    text = variant("column: reported", "column: reported\n    filters:\n      - {column: sauce, op: '=', value: x}")
    assert "formula.filters[0].column" in one(tmp_path, text)
    text = variant("column: reported", "column: reported\n    filters:\n      - {column: source, op: like, value: x}")
    msg = one(tmp_path, text)
    assert "formula.filters[0].op（运算符）" in msg and "未知的运算符「like」" in msg


def test_filter_values(tmp_path):
    text = variant("column: reported", "column: reported\n    filters:\n      - {column: source, op: in, value: x}")
    assert "需要非空列表" in one(tmp_path, text)
    text = variant("column: reported", "column: reported\n    filters:\n      - {column: reported, op: '>', value: many}")
    assert "应为数值" in one(tmp_path, text)
    text = variant("column: reported", "column: reported\n    filters:\n      - {column: source, op: '<', value: '@now'}")
    assert "只能用于日期/时间列" in one(tmp_path, text)


def test_ratio_without_denominator(tmp_path):
    text = variant("""    kind: sum
    source: event_daily_rollup
    time_field: day
    column: reported""", """    kind: ratio
    source: event_daily_rollup
    time_field: day
    numerator: {agg: sum, column: closed}""")
    msg = one(tmp_path, text)
    assert "formula.denominator（分母）" in msg and "比率缺少分母" in msg


def test_thresholds_in_the_wrong_order(tmp_path):
    msg = one(tmp_path, variant("{green: 90, yellow: 80}", "{green: 80, yellow: 90}"))
    assert "字段 thresholds（阈值）" in msg and "green > yellow" in msg
    text = variant("polarity: higher_better", "polarity: lower_better")
    assert "green < yellow" in one(tmp_path, text)


def test_level_the_source_cannot_be_grouped_at(tmp_path):
    text = variant("""    kind: sum
    source: event_daily_rollup
    time_field: day
    column: reported""", """    kind: standard
    calculator: good_days_ratio""").replace("levels: [city, district]", "levels: [city, district, street]")
    msg = one(tmp_path, text)
    assert "字段 levels（适用层级）" in msg and "无法按「街道/镇」" in msg


def test_duplicate_ids_across_files(tmp_path):
    write_yaml(tmp_path, GOOD, "a.yaml")
    write_yaml(tmp_path, GOOD, "b.yaml")
    found = I.validate_library(tmp_path)
    assert len(found) == 1 and found[0].startswith("b.yaml：指标「t_ok」") and "已在 a.yaml 中定义" in found[0]


def test_unknown_domain_kind_and_polarity(tmp_path):
    assert "未知的领域「城市管理」" in one(tmp_path, variant("domain: 社会管理", "domain: 城市管理"))
    assert "未知的公式类型「median」" in one(tmp_path, variant("kind: sum", "kind: median"))
    assert "higher_better" in one(tmp_path, variant("polarity: higher_better", "polarity: up"))


def test_missing_fields_and_time_field(tmp_path):
    msg = one(tmp_path, variant("  owner: 测试部门\n", ""))
    assert "字段 owner（责任部门）：缺少必填项" in msg
    msg = one(tmp_path, variant("    time_field: day\n", ""))
    assert "time_field: null" in msg
    assert "不是日期/时间类型" in one(tmp_path, variant("time_field: day", "time_field: reported"))


def test_standard_calculator_checks(tmp_path):
    base = variant("""    kind: sum
    source: event_daily_rollup
    time_field: day
    column: reported""", """    kind: standard
    calculator: noise_compliance
    params: {period: evening}""")
    assert "formula.params.period" in one(tmp_path, base) and "day / night" in one(tmp_path, base)
    assert "未知的标准计算器" in one(tmp_path, base.replace("noise_compliance", "aqi_hourly"))


def test_bad_yaml_and_all_problems_listed(tmp_path):
    write_yaml(tmp_path, "- id: [unclosed\n", "a.yaml")
    write_yaml(tmp_path, variant("domain: 社会管理", "domain: 城市管理").replace("kind: sum", "kind: median"), "b.yaml")
    with pytest.raises(I.LibraryError) as err:
        I.load_library(tmp_path)
    assert len(err.value.problems) == 3
    assert err.value.problems[0].startswith("a.yaml：YAML 格式错误")
    assert "共 3 处" in str(err.value)
