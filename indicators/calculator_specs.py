"""The declaration of each named standard calculator: label, source table, the levels it can be
computed at, whether it varies with the period, how its parameters are checked and described.

The schema validates library entries against these declarations; the planners that turn a
calculator into SQL live in indicators.calculators (which depends on the planning modules — keeping
the declarations apart is what keeps schema → calculators → plan → schema from being a cycle).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from store.models.regions import LEVELS

AIR_LEVELS = ("city", "district")
FACILITY_COLUMNS = {"fire": "fire_ok", "medical": "medical_ok", "shelter": "shelter_ok", "all": "covered"}


@dataclass(frozen=True)
class Calculator:
    name: str
    label: str
    source: str
    levels: tuple[str, ...]
    time_based: bool
    validate: Callable[[dict], list[tuple[str, str]]]
    describe: Callable[[dict], str]


def get(name: str) -> Calculator:
    return CALCULATORS[name]


def _no_params(params: dict) -> list[tuple[str, str]]:
    return [(k, f"该计算器没有参数「{k}」") for k in params]


def _choice(key: str, choices: tuple[str, ...], required: bool = True):  # noqa: ANN202
    def check(params: dict) -> list[tuple[str, str]]:
        out = [(k, f"未知参数「{k}」，可用：{key}") for k in params if k != key]
        if key not in params:
            if required:
                out.append((key, f"缺少参数 {key}（可选：{' / '.join(choices)}）"))
        elif params[key] not in choices:
            out.append((key, f"应为 {' / '.join(choices)}，实际为「{params[key]}」"))
        return out
    return check


def _check_polluted(params: dict) -> list[tuple[str, str]]:
    out = [(k, f"未知参数「{k}」，可用：above") for k in params if k != "above"]
    above = params.get("above", 200)
    if isinstance(above, bool) or not isinstance(above, (int, float)) or not 0 <= above <= 500:
        out.append(("above", f"AQI 界值应为 0–500 的数值，实际为 {above!r}"))
    return out


CALCULATORS: dict[str, Calculator] = {c.name: c for c in (
    Calculator("aqi_daily_mean", "日均空气质量指数（HJ 633）", "sensor_area_daily", AIR_LEVELS, True, _no_params,
               lambda p: "各日区域 AQI（由区域内各站点污染物浓度均值按 HJ 633 评价）的算术平均；AQI 为 NA 的日子不计"),
    Calculator("good_days_ratio", "优良天数比例（HJ 633）", "sensor_area_daily", AIR_LEVELS, True, _no_params,
               lambda p: "AQI ≤ 100 的天数 ÷ AQI 有效天数 × 100"),
    Calculator("polluted_days", "污染天数（HJ 633）", "sensor_area_daily", AIR_LEVELS, True, _check_polluted,
               lambda p: f"区域日 AQI > {p.get('above', 200)} 的天数"),
    Calculator("water_quality", "地表水水质类别（GB 3838-2002）", "sensor_daily", LEVELS, True,
               _choice("measure", ("target", "good", "bad")),
               lambda p: {"target": "按时段均值评价达到目标类别的断面数 ÷ 有目标类别的评价断面数 × 100",
                          "good": "按时段均值评价为 I–III 类的断面数 ÷ 评价断面数 × 100",
                          "bad": "按时段均值评价为劣 V 类的断面数 ÷ 评价断面数 × 100"}.get(p.get("measure"), "")),
    Calculator("noise_compliance", "声环境功能区达标率（GB 3096-2008）", "sensor_daily", LEVELS, True,
               _choice("period", ("day", "night")),
               lambda p: f"{'昼间' if p.get('period') == 'day' else '夜间'}等效声级不超过所在功能区限值的站点日数 ÷ "
                         f"有效监测站点日数 × 100"),
    Calculator("coverage", "应急服务覆盖（emergency.coverage）", "resources", LEVELS, False,
               _choice("facility", tuple(FACILITY_COLUMNS)),
               lambda p: {"fire": "网格中心距最近消防站在服务半径内的常住人口 ÷ 常住人口 × 100",
                          "medical": "网格中心距最近医疗救护点在服务半径内的常住人口 ÷ 常住人口 × 100",
                          "shelter": "网格中心距最近应急避难场所在服务半径内的常住人口 ÷ 常住人口 × 100",
                          "all": "三类设施均在服务半径内的常住人口 ÷ 常住人口 × 100"}.get(p.get("facility"), "")),
)}
