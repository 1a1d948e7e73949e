"""Indicator definitions: the vocabulary, the typed form, and the check of one YAML block.

`parse_block(raw, file)` turns one YAML mapping into an `Indicator` or a list of problems. Each
problem names the file, the indicator and the field path, in Chinese, e.g.
    finance.yaml：指标「gdp_growth」（GDP增速）字段 thresholds（阈值）：越高越好的指标应 green > yellow …
Tables and columns are checked against the SQLAlchemy metadata (store.models), so a renamed column
fails at start-up, not on a leader's screen.

Hand-written rather than jsonschema: the messages must be Chinese and speak of indicators, and half
of the checks (columns, levels, thresholds against polarity) are not structural.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, Float, Integer, Numeric, String

from indicators import calculator_specs
from indicators import sources as S
from store.models.regions import LEVEL_NAMES_ZH, LEVELS

DOMAINS = ("经济调节", "市场监管", "社会管理", "公共服务", "生态环境保护", "应急管理")
KINDS = ("count", "sum", "ratio", "mean", "duration", "latest", "external", "standard")
KIND_NAMES = {"count": "计数", "sum": "求和", "ratio": "比率", "mean": "均值", "duration": "时长",
              "latest": "最新值", "external": "外部统计", "standard": "标准计算"}
OPS = ("=", "!=", "in", "not_in", ">=", "<=", ">", "<", "is_null", "not_null")
POLARITIES = ("higher_better", "lower_better")
POLARITY_NAMES = {"higher_better": "越高越好", "lower_better": "越低越好"}
GRAINS = ("day", "month", "year")
GRAIN_NAMES = {"day": "日", "month": "月", "year": "年"}
PERIOD_AGGS = ("sum", "last", "mean")
LATEST_AGGS = ("mean", "sum", "max", "min")
TIME_UNITS = {"minutes": 60.0, "hours": 1.0, "days": 1 / 24}
TIME_UNIT_NAMES = {"minutes": "分钟", "hours": "小时", "days": "天"}
NOW = "@now"  # filter value: the moment of computation (for "overdue now" counts)

FIELD_NAMES = {
    "id": "编号", "name": "名称", "domain": "领域", "description": "定义说明", "unit": "单位",
    "polarity": "方向", "thresholds": "阈值", "green": "绿色界值", "yellow": "黄色界值", "target": "目标值",
    "levels": "适用层级", "grain": "统计粒度", "owner": "责任部门", "formula": "公式", "decimals": "小数位数",
    "kind": "公式类型", "source": "数据表", "time_field": "时间字段", "filters": "筛选条件",
    "column": "列", "op": "运算符", "value": "取值", "any": "任一条件", "numerator": "分子",
    "denominator": "分母", "scale": "倍数", "agg": "汇总方式", "start": "起始时间列", "end": "结束时间列",
    "stat": "统计量", "time_unit": "时间单位", "percentile": "百分位", "entity": "对象列",
    "period_agg": "跨月汇总方式", "calculator": "计算器", "params": "参数",
}

ID_RE = re.compile(r"^[a-z][a-z0-9_]{2,59}$")
STAT_RE = re.compile(r"^(mean|p([1-9][0-9]?))$")

INDICATOR_KEYS = {"id", "name", "domain", "description", "unit", "polarity", "thresholds", "target",
                  "levels", "grain", "owner", "formula", "decimals"}
REQUIRED_KEYS = ("id", "name", "domain", "description", "unit", "polarity", "levels", "grain", "owner",
                 "formula")
KIND_KEYS = {
    "count": {"source", "time_field", "filters"},
    "sum": {"source", "time_field", "filters", "column"},
    "ratio": {"source", "time_field", "filters", "numerator", "denominator", "scale"},
    "mean": {"source", "time_field", "filters", "column", "percentile"},
    "duration": {"source", "time_field", "filters", "start", "end", "stat", "time_unit"},
    "latest": {"source", "time_field", "filters", "column", "entity", "agg"},
    "external": {"period_agg"},
    "standard": {"calculator", "params"},
}
MEASURE_KEYS = {"agg", "column", "source", "time_field", "filters"}
_MISSING = object()


# -- the typed form -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filter:
    column: str = ""
    op: str = "="
    value: Any = None
    any_of: tuple["Filter", ...] = ()  # an OR group when set


@dataclass(frozen=True)
class Measure:
    """A filtered count or sum, the two halves of a ratio."""

    agg: str  # count / sum
    source: str
    time_field: str | None
    filters: tuple[Filter, ...] = ()
    terms: tuple[tuple[int, str], ...] = ()  # (sign, column) for sums, e.g. reported − rejected


@dataclass(frozen=True, eq=False)
class Formula:
    kind: str
    source: str | None = None
    time_field: str | None = None
    filters: tuple[Filter, ...] = ()
    terms: tuple[tuple[int, str], ...] = ()
    column: str | None = None
    numerator: Measure | None = None
    denominator: Measure | None = None
    scale: float = 1.0
    start: str | None = None
    end: str | None = None
    stat: str = "mean"
    time_unit: str = "hours"
    percentile: float | None = None
    entity: str | None = None
    agg: str = "mean"
    period_agg: str = "last"
    calculator: str | None = None
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    green: float
    yellow: float


@dataclass(frozen=True, eq=False)
class Indicator:
    id: str
    name: str
    domain: str
    description: str
    unit: str
    polarity: str
    thresholds: Thresholds | None
    target: float | None
    levels: tuple[str, ...]
    grain: str
    owner: str
    formula: Formula
    decimals: int = 1
    file: str = ""

    @property
    def is_snapshot(self) -> bool:
        """A current-state figure (no time field): it does not vary with the period."""
        f = self.formula
        if f.kind == "external":
            return False
        if f.kind == "standard":
            return not calculator_specs.get(f.calculator).time_based
        if f.kind == "ratio":
            return f.numerator.time_field is None and f.denominator.time_field is None
        return f.time_field is None


# -- checking -----------------------------------------------------------------------------------------

class _Problems:
    """Collects messages for one indicator, each prefixed with file, indicator and field."""

    def __init__(self, file: str, ident: str, name: str):
        self.file, self.ident, self.name = file, ident, name
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        last = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
        zh = FIELD_NAMES.get(last)
        where = f"字段 {path}（{zh}）" if zh else f"字段 {path}"
        who = f"指标「{self.ident}」" + (f"（{self.name}）" if self.name else "")
        self.items.append(f"{self.file}：{who}{where}：{message}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _column_kind(column) -> str:  # noqa: ANN001
    t = column.type
    if S.is_time_column(column):
        return "time"
    if isinstance(t, Boolean):
        return "bool"
    if isinstance(t, (Integer, Float, Numeric)):
        return "number"
    if isinstance(t, String):
        return "text"
    return "other"


def _check_keys(p: _Problems, raw: dict, allowed: set[str], path: str) -> None:
    for key in raw:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            p.add(where, f"未知的键「{key}」，允许的键：{', '.join(sorted(allowed))}")


def _source(p: _Problems, name: Any, path: str) -> S.SourceSpec | None:
    if not isinstance(name, str) or not name:
        p.add(path, "必须写明数据表名")
        return None
    if not S.known_table(name):
        p.add(path, f"未知的数据表「{name}」")
        return None
    spec = S.SOURCES.get(name)
    if spec is None or name == S.EXTERNAL_TABLE:
        allowed = "、".join(t for t in S.SOURCES if t != S.EXTERNAL_TABLE)
        p.add(path, f"数据表「{name}」不能作为指标数据源（可用：{allowed}；外部统计请用 kind: external）")
        return None
    return spec


def _column(p: _Problems, spec: S.SourceSpec, name: Any, path: str, want: str | None = None):  # noqa: ANN202
    if not isinstance(name, str) or not name:
        p.add(path, "必须写明列名")
        return None
    col = S.resolve_column(spec, name)
    if col is None:
        extra = f"或 {spec.via.table}.<列名>" if spec.via else ""
        p.add(path, f"数据表「{spec.table}」没有列「{name}」{extra}")
        return None
    if want and _column_kind(col) != want:
        need = {"number": "数值", "time": "日期/时间", "text": "文本", "bool": "布尔"}[want]
        p.add(path, f"列「{name}」不是{need}类型")
        return None
    return col


def _time_field(p: _Problems, spec: S.SourceSpec, raw: dict, path: str, inherited: Any = _MISSING) -> str | None:
    value = raw.get("time_field", inherited)
    if value is _MISSING:
        p.add(f"{path}.time_field", "缺少时间字段；实时状态类指标请写 time_field: null")
        return None
    if value is None:
        return None
    col = _column(p, spec, value, f"{path}.time_field", "time")
    return value if col is not None else None


def _coerce_value(p: _Problems, col, value: Any, path: str) -> Any:  # noqa: ANN001
    kind = _column_kind(col)
    if value == NOW:
        if kind != "time":
            p.add(path, f"{NOW} 只能用于日期/时间列")
        return value
    if kind == "text":
        if _is_number(value):
            return str(value)  # source: 12345 written without quotes
        if not isinstance(value, str):
            p.add(path, f"应为文本，实际为 {value!r}")
    elif kind == "number" and not _is_number(value):
        p.add(path, f"应为数值，实际为 {value!r}")
    elif kind == "bool" and not isinstance(value, bool):
        p.add(path, f"应为 true/false，实际为 {value!r}")
    elif kind == "time":
        p.add(path, f"日期/时间列只能与 {NOW} 比较或判空")
    return value


def _filters(p: _Problems, spec: S.SourceSpec, raw: Any, path: str) -> tuple[Filter, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        p.add(path, "应为列表，每项形如 {column: …, op: …, value: …}")
        return ()
    out = []
    for i, item in enumerate(raw):
        ipath = f"{path}[{i}]"
        if not isinstance(item, dict):
            p.add(ipath, "应为 {column, op, value} 或 {any: [...]}")
            continue
        if "any" in item:
            _check_keys(p, item, {"any"}, ipath)
            group = _filters(p, spec, item["any"], f"{ipath}.any")
            if not group:
                p.add(f"{ipath}.any", "任一条件组不能为空")
            out.append(Filter(any_of=group))
            continue
        _check_keys(p, item, {"column", "op", "value"}, ipath)
        col = _column(p, spec, item.get("column"), f"{ipath}.column")
        op = item.get("op", "=")
        if op not in OPS:
            p.add(f"{ipath}.op", f"未知的运算符「{op}」，可选：{' '.join(OPS)}")
            continue
        value = item.get("value")
        if op in ("is_null", "not_null"):
            if value is not None:
                p.add(f"{ipath}.value", f"运算符 {op} 不需要取值")
        elif op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                p.add(f"{ipath}.value", f"运算符 {op} 需要非空列表")
            elif col is not None:
                value = [_coerce_value(p, col, v, f"{ipath}.value") for v in value]
        elif "value" not in item:
            p.add(f"{ipath}.value", f"运算符 {op} 需要取值")
        elif col is not None:
            value = _coerce_value(p, col, value, f"{ipath}.value")
        if col is not None:
            out.append(Filter(column=item["column"], op=op, value=tuple(value) if isinstance(value, list) else value))
    return tuple(out)


def _terms(p: _Problems, spec: S.SourceSpec, raw: Any, path: str) -> tuple[tuple[int, str], ...]:
    """`column: handled` or `column: [reported, -rejected]`."""
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, name in enumerate(items):
        ipath = f"{path}[{i}]" if isinstance(raw, list) else path
        sign = 1
        if isinstance(name, str) and name.startswith("-"):
            sign, name = -1, name[1:].strip()
        if _column(p, spec, name, ipath, "number") is not None:
            out.append((sign, name))
    return tuple(out)


def _measure(p: _Problems, raw: Any, path: str, parent: dict) -> Measure | None:
    if raw is None:
        p.add(path, "比率必须同时写明分子和分母" if path.endswith("denominator") or path.endswith("numerator")
              else "缺少")
        return None
    if not isinstance(raw, dict):
        p.add(path, "应为 {agg, column, source, time_field, filters}")
        return None
    _check_keys(p, raw, MEASURE_KEYS, path)
    spec = _source(p, raw.get("source", parent.get("source")), f"{path}.source")
    if spec is None:
        return None
    agg = raw.get("agg", "count")
    terms: tuple = ()
    if agg not in ("count", "sum"):
        p.add(f"{path}.agg", f"汇总方式应为 count 或 sum，实际为「{agg}」")
    elif agg == "sum":
        if "column" not in raw:
            p.add(f"{path}.column", "求和需要写明列")
        else:
            terms = _terms(p, spec, raw["column"], f"{path}.column")
    elif "column" in raw:
        p.add(f"{path}.column", "计数（agg: count）不需要列；求和请写 agg: sum")
    time_field = _time_field(p, spec, raw, path, parent.get("time_field", _MISSING))
    shared = _filters(p, spec, parent.get("filters"), "formula.filters") if raw.get("source", spec.table) == \
        parent.get("source") else ()
    own = _filters(p, spec, raw.get("filters"), f"{path}.filters")
    return Measure(agg=agg, source=spec.table, time_field=time_field, filters=shared + own, terms=terms)


def _formula(p: _Problems, raw: Any, grain: str) -> Formula | None:
    path = "formula"
    if not isinstance(raw, dict):
        p.add(path, "应为一个映射（kind、source、filters …）")
        return None
    kind = raw.get("kind")
    if kind not in KINDS:
        p.add(f"{path}.kind", f"未知的公式类型「{kind}」，可选：{' '.join(KINDS)}")
        return None
    _check_keys(p, raw, KIND_KEYS[kind] | {"kind"}, path)

    if kind == "external":
        period_agg = raw.get("period_agg", "last")
        if period_agg not in PERIOD_AGGS:
            p.add(f"{path}.period_agg", f"应为 {' / '.join(PERIOD_AGGS)}，实际为「{period_agg}」")
        if grain == "day":
            p.add("grain", "外部统计按月或按年导入，统计粒度不能为 day")
        return Formula(kind=kind, source=S.EXTERNAL_TABLE, period_agg=period_agg)

    if kind == "standard":
        name = raw.get("calculator")
        calc = calculator_specs.CALCULATORS.get(name)
        if calc is None:
            p.add(f"{path}.calculator", f"未知的标准计算器「{name}」，可选：{'、'.join(calculator_specs.CALCULATORS)}")
            return None
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            p.add(f"{path}.params", "应为映射")
            return None
        for sub, msg in calc.validate(params):
            p.add(f"{path}.params.{sub}" if sub else f"{path}.params", msg)
        return Formula(kind=kind, source=calc.source, calculator=name, params=dict(params))

    if kind == "ratio":
        scale = raw.get("scale", 1)
        if not _is_number(scale) or scale <= 0:
            p.add(f"{path}.scale", f"倍数应为正数（百分比写 100），实际为 {scale!r}")
            scale = 1
        if "numerator" not in raw or "denominator" not in raw:
            missing = "分母 denominator" if "numerator" in raw else "分子 numerator"
            p.add(f"{path}.{'denominator' if 'numerator' in raw else 'numerator'}", f"比率缺少{missing}")
            return None
        if "source" in raw and not S.known_table(raw["source"]):
            _source(p, raw["source"], f"{path}.source")
            return None
        num = _measure(p, raw["numerator"], f"{path}.numerator", raw)
        den = _measure(p, raw["denominator"], f"{path}.denominator", raw)
        if num is None or den is None:
            return None
        return Formula(kind=kind, source=num.source, numerator=num, denominator=den, scale=float(scale),
                       time_field=num.time_field)

    spec = _source(p, raw.get("source"), f"{path}.source")
    if spec is None:
        return None
    time_field = _time_field(p, spec, raw, path)
    filters = _filters(p, spec, raw.get("filters"), f"{path}.filters")
    f = dict(kind=kind, source=spec.table, time_field=time_field, filters=filters)
    if kind == "sum":
        if "column" not in raw:
            p.add(f"{path}.column", "求和需要写明列")
        else:
            f["terms"] = _terms(p, spec, raw["column"], f"{path}.column")
    elif kind in ("mean", "latest"):
        if _column(p, spec, raw.get("column"), f"{path}.column", "number") is not None:
            f["column"] = raw["column"]
        if kind == "mean" and raw.get("percentile") is not None:
            pct = raw["percentile"]
            if not _is_number(pct) or not 0 < pct < 100:
                p.add(f"{path}.percentile", f"百分位应在 0 与 100 之间（不含），实际为 {pct!r}")
            else:
                f["percentile"] = float(pct)
        if kind == "latest":
            agg = raw.get("agg", "mean")
            if agg not in LATEST_AGGS:
                p.add(f"{path}.agg", f"应为 {' / '.join(LATEST_AGGS)}，实际为「{agg}」")
            f["agg"] = agg
            if raw.get("entity") is not None:
                if _column(p, spec, raw["entity"], f"{path}.entity") is not None:
                    f["entity"] = raw["entity"]
            elif time_field is not None:
                p.add(f"{path}.entity", "按时间取最新值时须写明对象列（如 sensor_id），以取每个对象的最后一条")
    elif kind == "duration":
        for key in ("start", "end"):
            if _column(p, spec, raw.get(key), f"{path}.{key}", "time") is not None:
                f[key] = raw[key]
        stat = str(raw.get("stat", "mean"))
        if not STAT_RE.match(stat):
            p.add(f"{path}.stat", f"统计量应为 mean 或 p1…p99（如 p90），实际为「{stat}」")
        f["stat"] = stat
        unit = raw.get("time_unit", "hours")
        if unit not in TIME_UNITS:
            p.add(f"{path}.time_unit", f"应为 {' / '.join(TIME_UNITS)}，实际为「{unit}」")
        f["time_unit"] = unit
    return Formula(**f)


def _formula_sources(formula: Formula) -> list[str]:
    if formula.kind == "ratio":
        return [formula.numerator.source, formula.denominator.source]
    if formula.kind == "standard":
        return [calculator_specs.get(formula.calculator).source]
    return [formula.source]


def _level_support(formula: Formula) -> tuple[str, ...]:
    if formula.kind == "standard":
        return calculator_specs.get(formula.calculator).levels
    levels = set(LEVELS)
    for name in _formula_sources(formula):
        levels &= set(S.groupable_levels(S.SOURCES[name]))
    return tuple(lvl for lvl in LEVELS if lvl in levels)


def parse_block(raw: Any, file: str, index: int) -> tuple[Indicator | None, list[str]]:
    """One YAML block → (Indicator, []) or (None, problems)."""
    if not isinstance(raw, dict):
        return None, [f"{file}：第 {index + 1} 项不是一个指标定义（应为映射）"]
    ident = raw.get("id") if isinstance(raw.get("id"), str) else f"#{index + 1}"
    name = raw.get("name") if isinstance(raw.get("name"), str) else ""
    p = _Problems(file, ident, name)
    _check_keys(p, raw, INDICATOR_KEYS, "")
    for key in REQUIRED_KEYS:
        # A unit may be empty (AQI is dimensionless) but must be written, so it is never forgotten.
        if raw.get(key) is None or (key != "unit" and raw.get(key) in ("", [])):
            p.add(key, "缺少必填项")
    if isinstance(raw.get("id"), str) and not ID_RE.match(raw["id"]):
        p.add("id", "编号只能含小写字母、数字和下划线，以字母开头，3–60 个字符")
    for key in ("name", "description", "unit", "owner"):
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            p.add(key, "应为文本")
    domain = raw.get("domain")
    if domain is not None and domain not in DOMAINS:
        p.add("domain", f"未知的领域「{domain}」，可选：{'、'.join(DOMAINS)}")
    polarity = raw.get("polarity")
    if polarity is not None and polarity not in POLARITIES:
        p.add("polarity", f"应为 higher_better（越高越好）或 lower_better（越低越好），实际为「{polarity}」")
    grain = raw.get("grain")
    if grain is not None and grain not in GRAINS:
        p.add("grain", f"应为 day / month / year，实际为「{grain}」")

    thresholds = None
    if raw.get("thresholds") is not None:
        t = raw["thresholds"]
        if not isinstance(t, dict):
            p.add("thresholds", "应为 {green: …, yellow: …}")
        else:
            _check_keys(p, t, {"green", "yellow"}, "thresholds")
            g, y = t.get("green"), t.get("yellow")
            if not _is_number(g) or not _is_number(y):
                p.add("thresholds", f"green 与 yellow 都应为数值，实际为 green={g!r}, yellow={y!r}")
            elif polarity == "higher_better" and not g > y:
                p.add("thresholds", f"越高越好的指标应 green > yellow（达到 green 为绿、达到 yellow 为黄、"
                                    f"其余为红），实际为 green={g}, yellow={y}")
            elif polarity == "lower_better" and not g < y:
                p.add("thresholds", f"越低越好的指标应 green < yellow（不超过 green 为绿、不超过 yellow 为黄、"
                                    f"其余为红），实际为 green={g}, yellow={y}")
            else:
                thresholds = Thresholds(float(g), float(y))
    target = raw.get("target")
    if target is not None and not _is_number(target):
        p.add("target", f"目标值应为数值，实际为 {target!r}")
    decimals = raw.get("decimals", 1)
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 4:
        p.add("decimals", f"小数位数应为 0–4 的整数，实际为 {decimals!r}")
        decimals = 1

    formula = _formula(p, raw.get("formula"), grain) if raw.get("formula") is not None else None

    levels = raw.get("levels")
    level_tuple: tuple[str, ...] = ()
    if levels is not None:
        if not isinstance(levels, list) or not levels:
            p.add("levels", f"应为非空列表，取自 {' '.join(LEVELS)}")
        else:
            bad = [lv for lv in levels if lv not in LEVELS]
            if bad:
                p.add("levels", f"未知的层级 {bad}，可选：{' '.join(LEVELS)}")
            if len(set(levels)) != len(levels):
                p.add("levels", "层级重复")
            level_tuple = tuple(lv for lv in LEVELS if lv in levels)
            if formula is not None and not bad:
                support = _level_support(formula)
                for lv in level_tuple:
                    if lv not in support:
                        sup = "、".join(LEVEL_NAMES_ZH[x] for x in support) or "无"
                        p.add("levels", f"数据源无法按「{LEVEL_NAMES_ZH[lv]}」（{lv}）分组统计；"
                                        f"该公式支持的层级：{sup}")
            if "city" in level_tuple:
                # A province (a multi-city deployment's overview) is its cities together: whatever is
                # figured for a city is figured for the province the same way, grouped by city.
                level_tuple = ("province", *level_tuple)

    if p.items:
        return None, list(dict.fromkeys(p.items))  # shared filters are checked once per half of a ratio
    return Indicator(
        id=raw["id"], name=raw["name"], domain=domain, description=raw["description"].strip(), unit=raw["unit"],
        polarity=polarity, thresholds=thresholds, target=float(target) if target is not None else None,
        levels=level_tuple, grain=grain, owner=raw["owner"], formula=formula, decimals=decimals, file=file,
    ), []
