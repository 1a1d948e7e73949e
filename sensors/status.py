"""How a station's current state is shown: its colour, its level text and its tooltip, per kind.

Air takes the HJ 633 level colours from the standard (standards.aqi, via the AQI result); water the
class colours of sensors.assessment; the other kinds' colours are ours, stated here once. An offline
station is grey whatever its last reading said. Plain Python: the read face (sensors.views) passes
the latest values in, the layer builder (sensors.layers) draws the colours.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sensors import assessment as A
from sensors.metrics import IOT_DEVICE_NAMES, KIND_NAMES
from standards import noise as noise_std
from standards.aqi import edition_name

OFFLINE_COLOR = "#8C8C8C"
NO_DATA_COLOR = "#BFBFBF"
HYDRO_COLORS = {"正常": "#3BA3FF", "超警戒": "#FF7E00", "超保证": "#FF0000"}
OK_COLOR = "#00E400"      # noise within its zone's limit, manhole normal
BREACH_COLOR = "#FF0000"  # noise above the limit, manhole tilted or open
LAMP_ON_COLOR = "#FFD700"
LAMP_OFF_COLOR = "#4A6FA5"
# Manhole sensors: a cover tilted by more than this many degrees, or reported open, is abnormal.
MANHOLE_MAX_TILT = 15


@dataclass(frozen=True)
class State:
    color: str
    level: str                  # the text shown: "AQI 86 良", "III类（目标 III类，达标）", …
    value: float | None = None  # the figure the level is about (AQI, class rank, Leq, water level)
    edition: str | None = None  # HJ 633 edition of an air figure


NO_DATA = State(NO_DATA_COLOR, "无数据")


def kind_name(kind: str, params: dict | None) -> str:
    if kind == "iot":
        return IOT_DEVICE_NAMES.get((params or {}).get("device"), KIND_NAMES[kind])
    return KIND_NAMES[kind]


def air_state(air: dict | None) -> State:
    """`air`: the station's latest hourly AQI ({aqi, category, color, edition}), None without one."""
    if air is None:
        return NO_DATA
    if air["aqi"] is None:
        return State(NO_DATA_COLOR, "AQI NA（缺测）", None, air["edition"])
    return State(air["color"], f"AQI {air['aqi']} {air['category']}", air["aqi"], air["edition"])


def current_state(kind: str, params: dict | None, latest: dict[str, tuple], air: dict | None = None) -> State:
    """The state of one station from its latest values ({metric: (ts, value)}) or, for air, its latest
    hourly AQI."""
    p = params or {}
    if kind == "air":
        return air_state(air)
    if not latest:
        return NO_DATA
    if kind == "water":
        c = A.classify_latest({k: v[1] for k, v in latest.items()}, p.get("water_body", "river"),
                              p.get("target_class"), p.get("assess_tn"))
        if not c:
            return NO_DATA
        verdict = "，达标" if c["meets_target"] else "，未达标"
        return State(c["color"], f"{c['overall']}类（目标 {p.get('target_class', '—')}类{verdict}）", c["rank"])
    if kind == "noise" and "Leq" in latest:
        ts, leq = latest["Leq"]
        period = noise_std.period_of(ts)
        lim, _excess, ok = noise_std.assess(p.get("zone", "2"), period, leq)
        return State(OK_COLOR if ok else BREACH_COLOR,
                     f"{'昼间' if period == 'day' else '夜间'} {leq:.1f} dB(A)（限值 {lim}）", leq)
    if kind == "hydro" and "water_level" in latest:
        lvl = latest["water_level"][1]
        state = A.water_level_state(lvl, p)
        return State(HYDRO_COLORS.get(state, NO_DATA_COLOR), f"水位 {lvl:.2f} m {state}", lvl)
    if kind == "iot":
        def last(metric: str) -> float:
            return latest.get(metric, (None, 0))[1] or 0

        if p.get("device") == "manhole":
            bad = last("tilt") > MANHOLE_MAX_TILT or last("cover_open") >= 1
            return State(BREACH_COLOR, "井盖异常") if bad else State(OK_COLOR, "井盖正常")
        if last("lamp_on") >= 1:
            return State(LAMP_ON_COLOR, f"亮灯 {last('power'):.0f} W")
        return State(LAMP_OFF_COLOR, "熄灯")
    return NO_DATA


def tip(name: str, kind: str, params: dict | None, state: State, offline: bool, last_seen: datetime | None) -> str:
    """The map tooltip: name and kind, level, the air standard used, online state and last data time."""
    seen = last_seen.astimezone(A.TZ).strftime("%m-%d %H:%M") if last_seen else "从未"
    return (f"{name}（{kind_name(kind, params)}）\n{state.level}"
            + (f"\n标准：{edition_name(state.edition)}" if state.edition else "")
            + f"\n{'离线' if offline else '在线'}，最近数据 {seen}")
