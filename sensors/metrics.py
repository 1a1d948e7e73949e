"""The metric catalogue: which metrics each sensor kind reports, their units and plausible ranges.

A value outside its range is physically impossible or a broken instrument (negative concentration,
pH 15, 400 dB), so the ingester quarantines it instead of storing it. Ranges are deliberately wide:
a real pollution episode must never be thrown away as "out of range".

IoT devices (manhole covers, street lights) are generic metric sensors: their metrics come from the
device type below, and a sensor may add or narrow metrics through `params["ranges"]`.
"""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("air", "water", "noise", "hydro", "iot")
KIND_NAMES = {"air": "空气质量", "water": "地表水", "noise": "声环境", "hydro": "水文", "iot": "物联感知"}
KIND_ALIASES = {
    "air": "air", "空气": "air", "空气质量": "air", "大气": "air",
    "water": "water", "水质": "water", "地表水": "water",
    "noise": "noise", "噪声": "noise", "声环境": "noise",
    "hydro": "hydro", "水文": "hydro", "水位": "hydro",
    "iot": "iot", "物联": "iot", "物联感知": "iot",
}


@dataclass(frozen=True)
class Metric:
    code: str
    name: str
    unit: str
    lo: float
    hi: float
    # Decibel metrics are averaged by energy (10·log10 of the mean of 10^(L/10)), never arithmetically.
    decibel: bool = False
    # Hourly figure is the sum over the hour (rainfall), not the mean.
    summed: bool = False


_AIR = (
    Metric("SO2", "二氧化硫", "µg/m³", 0, 10000),
    Metric("NO2", "二氧化氮", "µg/m³", 0, 5000),
    Metric("PM10", "PM10", "µg/m³", 0, 5000),
    Metric("PM2.5", "PM2.5", "µg/m³", 0, 3000),
    Metric("CO", "一氧化碳", "mg/m³", 0, 200),
    Metric("O3", "臭氧", "µg/m³", 0, 3000),
)
_WATER = (
    Metric("pH", "pH", "无量纲", 0, 14),
    Metric("DO", "溶解氧", "mg/L", 0, 25),
    Metric("CODMn", "高锰酸盐指数", "mg/L", 0, 200),
    Metric("COD", "化学需氧量", "mg/L", 0, 2000),
    Metric("BOD5", "五日生化需氧量", "mg/L", 0, 1000),
    Metric("NH3-N", "氨氮", "mg/L", 0, 200),
    Metric("TP", "总磷", "mg/L", 0, 50),
    Metric("TN", "总氮", "mg/L", 0, 200),
    Metric("water_temp", "水温", "℃", -5, 45),
)
_NOISE = (Metric("Leq", "等效声级", "dB(A)", 20, 140, decibel=True),)
_HYDRO = (
    # Water level as a gauge/elevation reading in metres (may be negative relative to a datum).
    Metric("water_level", "水位", "m", -100, 5000),
    Metric("rainfall", "降雨量", "mm", 0, 500, summed=True),
)
IOT_DEVICES: dict[str, tuple[Metric, ...]] = {
    "manhole": (
        Metric("tilt", "井盖倾角", "°", 0, 90),
        Metric("cover_open", "井盖开启", "0/1", 0, 1),
    ),
    "streetlight": (
        Metric("lamp_on", "路灯亮灯", "0/1", 0, 1),
        Metric("power", "路灯功率", "W", 0, 2000),
    ),
}
IOT_DEVICE_NAMES = {"manhole": "智慧井盖", "streetlight": "智慧路灯"}

BY_KIND: dict[str, tuple[Metric, ...]] = {"air": _AIR, "water": _WATER, "noise": _NOISE, "hydro": _HYDRO}
AIR_POLLUTANTS = tuple(m.code for m in _AIR)
WATER_ITEMS = ("pH", "DO", "CODMn", "COD", "BOD5", "NH3-N", "TP", "TN")

_ALL: dict[str, Metric] = {}
for _group in (*BY_KIND.values(), *IOT_DEVICES.values()):
    for _m in _group:
        _ALL[_m.code] = _m


def metric_info(code: str) -> Metric | None:
    return _ALL.get(code)


def metric_label(code: str) -> str:
    m = _ALL.get(code)
    return f"{m.name}（{m.unit}）" if m else code


def metrics_for(kind: str, params: dict | None = None) -> dict[str, tuple[float, float]]:
    """Metric code → (lo, hi) that a sensor of this kind (and params) accepts."""
    params = params or {}
    if kind == "iot":
        base = IOT_DEVICES.get(params.get("device", ""), ())
    else:
        base = BY_KIND.get(kind, ())
    ranges = {m.code: (m.lo, m.hi) for m in base}
    for code, bounds in (params.get("ranges") or {}).items():
        lo, hi = bounds
        ranges[code] = (float(lo), float(hi))
    return ranges


def is_decibel(code: str) -> bool:
    m = _ALL.get(code)
    return bool(m and m.decibel)


def is_summed(code: str) -> bool:
    m = _ALL.get(code)
    return bool(m and m.summed)
