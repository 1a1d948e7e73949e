"""Definitions in words: a formula rendered readably in Chinese, for the catalogue, legends and exports."""
from __future__ import annotations

from datetime import datetime, timezone

from indicators import calculator_specs
from indicators import sources as S
from indicators.case_rollup import rollup_form
from indicators.plan import Options
from indicators.schema import (
    GRAIN_NAMES, KIND_NAMES, NOW, POLARITY_NAMES, TIME_UNIT_NAMES, Filter, Indicator, Measure,
)
from store.models.regions import LEVEL_NAMES_ZH

COLUMN_NAMES = {
    "reported": "上报数", "registered": "立案数", "rejected": "不予立案数", "dispatched": "派遣数",
    "dispatched_on_time": "按期派遣数", "handled": "处置数", "handled_on_time": "按期处置数", "closed": "结案数",
    "closed_on_time": "按期结案数", "reworked": "返工次数", "handle_hours_sum": "处置时长合计", "satisfied": "满意数",
    "rated": "参评数", "merged": "合并为重复数", "rep_rejected": "上报队列中不予立案数",
    "rep_registered": "上报队列中已立案数", "rep_closed": "上报队列中已结案数", "reg_closed": "立案队列中已结案数",
    "disp_handled": "派遣队列中已处置数", "close_hours_sum": "办结时长合计", "handle_hist_00…49": "处置时长分档计数",
    "population": "常住人口", "capacity": "容纳人数", "area_m2": "有效避难面积",
    "headcount": "在编人数", "quantity": "库存量", "reserved": "已预留量", "value": "数值",
    "eta_minutes": "预计到达分钟数", "reported_at": "上报时间", "registered_at": "立案时间",
    "dispatched_at": "派遣时间", "handled_at": "处置反馈时间", "closed_at": "结案时间", "rejected_at": "不予立案时间",
    "stage_deadline": "环节截止时间", "status": "状态", "source": "来源", "metric": "监测项目", "kind": "类型",
    "level": "等级/层级", "item": "物资", "opened_at": "开设时间", "created_at": "调派时间", "day": "日期",
    "category": "大类", "department_code": "部门", "sensor_id": "站点", "sensors.kind": "站点类型",
    "incidents.opened_at": "事件开设时间", "ts": "读数时间", "hour": "小时",
}
# Stored codes shown in words (events, emergency and sensor vocabularies; unknown values print as stored).
VALUE_NAMES = {
    "closed": "已结案", "rejected": "不予立案", "hung": "挂账", "available": "待命", "out_of_service": "停用",
    "open": "已开设", "responding": "处置中", "grid": "网格", "air": "空气质量站", "water": "地表水站",
    "noise": "声环境站", "I": "I级", "II": "II级", "III": "III级", "IV": "IV级",
}
OP_WORDS = {"=": "=", "!=": "≠", "in": "属于", "not_in": "不属于", ">=": "≥", "<=": "≤", ">": ">", "<": "<",
            "is_null": "为空", "not_null": "非空"}
PERIOD_AGG_WORDS = {"sum": "跨月求和", "last": "取时段内最后一个有数据月份的值", "mean": "跨月平均"}
LATEST_AGG_WORDS = {"mean": "平均", "sum": "合计", "max": "最大值", "min": "最小值"}


def col(name: str) -> str:
    return COLUMN_NAMES.get(name, name)


def filter_text(f: Filter) -> str:
    if f.any_of:
        return "（" + " 或 ".join(filter_text(g) for g in f.any_of) + "）"
    words = OP_WORDS[f.op]
    if f.op in ("is_null", "not_null"):
        return f"{col(f.column)}{words}"
    def word(v) -> str:  # noqa: ANN001
        return VALUE_NAMES.get(v, str(v)) if isinstance(v, str) else str(v)

    value = "计算时刻" if f.value == NOW else (
        "{" + "、".join(word(v) for v in f.value) + "}" if isinstance(f.value, (list, tuple)) else word(f.value))
    return f"{col(f.column)} {words} {value}"


def _where(filters, source: str, time_field: str | None) -> str:  # noqa: ANN001
    label = S.SOURCES[source].label if source in S.SOURCES else source
    parts = [label]
    if filters:
        parts.append("条件：" + "，且 ".join(filter_text(f) for f in filters))
    parts.append(f"按{col(time_field)}计入统计期" if time_field else "实时状态")
    return "〔" + "；".join(parts) + "〕"


def _terms(terms) -> str:  # noqa: ANN001
    out = ""
    for i, (sign, name) in enumerate(terms):
        out += ("" if i == 0 else (" + " if sign > 0 else " − ")) + ("−" if i == 0 and sign < 0 else "") + col(name)
    return out


def measure_text(m: Measure) -> str:
    head = "计数" if m.agg == "count" else f"求和（{_terms(m.terms)}）"
    return head + _where(m.filters, m.source, m.time_field)


def formula_text(ind: Indicator) -> str:
    f = ind.formula
    if f.kind == "ratio":
        scale = "" if f.scale == 1 else f" × {f.scale:g}"
        return f"分子 ÷ 分母{scale}；分子：{measure_text(f.numerator)}；分母：{measure_text(f.denominator)}"
    if f.kind == "external":
        unit = "按年" if ind.grain == "year" else "按月"
        return f"外部统计数据（{unit}导入，import-stats）；{PERIOD_AGG_WORDS[f.period_agg]}"
    if f.kind == "standard":
        calc = calculator_specs.get(f.calculator)
        return f"{calc.label}：{calc.describe(f.params)}"
    where = _where(f.filters, f.source, f.time_field)
    if f.kind == "count":
        return "计数" + where
    if f.kind == "sum":
        return f"求和（{_terms(f.terms)}）" + where
    if f.kind == "mean":
        stat = f"第{f.percentile:g}百分位数（最近秩法）" if f.percentile is not None else "算术平均"
        return f"{col(f.column)}的{stat}" + where
    if f.kind == "duration":
        stat = "算术平均" if f.stat == "mean" else f"第{f.stat[1:]}百分位数（最近秩法）"
        return f"从{col(f.start)}到{col(f.end)}的时长（{TIME_UNIT_NAMES[f.time_unit]}）的{stat}" + where
    if f.kind == "latest":
        if f.entity and f.time_field:
            return f"每个{col(f.entity)}在统计期内最后一条{col(f.column)}的{LATEST_AGG_WORDS[f.agg]}" + where
        return f"最新{col(f.column)}的{LATEST_AGG_WORDS[f.agg]}" + where
    return KIND_NAMES.get(f.kind, f.kind)


def thresholds_text(ind: Indicator) -> str:
    t = ind.thresholds
    if t is None:
        return "未设阈值（只作比较）"
    if ind.polarity == "higher_better":
        return f"绿 ≥ {t.green:g}；黄 {t.yellow:g}–{t.green:g}；红 < {t.yellow:g}"
    return f"绿 ≤ {t.green:g}；黄 {t.green:g}–{t.yellow:g}；红 > {t.yellow:g}"


def levels_text(ind: Indicator) -> str:
    return "、".join(LEVEL_NAMES_ZH[lv] for lv in ind.levels)


ROLLUP_TABLES = frozenset(S.TIME_COLUMNS)  # the event rollups (daily grid, district, department, monthly grid)
CASE_TABLES = frozenset({"events", "event_transitions"})
READ_KINDS = {"rollup": "读汇总表", "cases": "逐案统计", "table": "读明细表", "external": "外部统计", "standard": "标准计算"}


def _sources(ind: Indicator) -> set[str]:
    f = ind.formula
    if f.kind == "ratio":
        return {f.numerator.source, f.denominator.source}
    if f.kind == "standard":
        return {calculator_specs.get(f.calculator).source}
    return {f.source} if f.source else set()


def reading(ind: Indicator) -> tuple[str, str]:
    """How the engine reads an indicator: (kind, words). kind: "rollup" (sums rows of the event rollups,
    including a per-case indicator's rollup form, indicators.case_rollup), "cases" (reads case rows: a
    current state, or a definition no rollup column matches), "table" (other detail tables), "external",
    "standard"."""
    f = ind.formula
    if f.kind == "external":
        return "external", "读外部统计数据表（按月或按年导入的数值）"
    if f.kind == "standard":
        calc = calculator_specs.get(f.calculator)
        return "standard", f"{calc.label}，读{S.SOURCES[calc.source].label}"
    sources = _sources(ind)
    labels = "、".join(S.SOURCES[x].label for x in sorted(sources) if x in S.SOURCES)
    form = rollup_form(ind, Options(now=datetime.now(timezone.utc)))
    if form is not None:
        cols = "、".join(col(c) for c in form.columns)
        per_dept = "按部门读事件部门日汇总表" if form.by_department else "按部门仍逐案统计（案件当前所在部门）"
        if form.levels is not None and "street" not in form.levels:
            return "rollup", (f"读汇总表（{cols}，固定对数分档，误差不超过所在分档宽度）：市、区县读事件区县日汇总表，"
                              f"{per_dept}；街道及以下（每个网格月的汇总行与案件一样多，按档求和反而更慢）与部门人员视角逐案统计")
        return "rollup", (f"读汇总表（{cols}）：市、区县读事件区县日汇总表，街道及以下整月读事件网格月汇总表，"
                          f"{per_dept}；部门人员视角与街道及以下的非整月时段逐案统计")
    if sources and sources <= ROLLUP_TABLES | {"regions"}:
        return "rollup", f"读汇总表（{labels}）：市、区县读区县日汇总，街道及以下整月读网格月汇总，其余读网格日汇总"
    if sources & CASE_TABLES:
        why = "实时状态值，须读每个在办案件的当前状态与时限" if ind.is_snapshot else "没有对应的汇总列"
        return "cases", f"逐案统计（{labels}）：{why}"
    return "table", f"读{labels}"


def summary_rows(ind: Indicator) -> list[tuple[str, str]]:
    """(label, text) pairs describing one indicator, in catalogue order."""
    return [
        ("编号", ind.id), ("名称", ind.name), ("领域", ind.domain), ("单位", ind.unit or "（无量纲）"),
        ("方向", POLARITY_NAMES[ind.polarity]), ("阈值", thresholds_text(ind)),
        ("目标值", "—" if ind.target is None else f"{ind.target:g} {ind.unit}".strip()),
        ("适用层级", levels_text(ind)), ("统计粒度", GRAIN_NAMES[ind.grain]), ("责任部门", ind.owner),
        ("公式类型", KIND_NAMES[ind.formula.kind]), ("公式", formula_text(ind)),
        ("数据读取", reading(ind)[1]), ("定义", ind.description),
        ("定义文件", ind.file),
    ]
