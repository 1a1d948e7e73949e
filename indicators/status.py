"""Traffic-light status, its colours and words, and number formatting for indicator values.

The one definition of what an indicator status looks like: every screen, map, briefing and workbook
takes its words and colours from here. Green means the value reached the indicator's green
threshold, a performance bar set by polarity (e.g. GDP growth ≥ 5 %), so it reads 良好 (good), not
正常 (merely normal); yellow is 关注, red 预警.
"""
from __future__ import annotations

from indicators.schema import Indicator

STATUS_COLORS = {"green": "#2BB673", "yellow": "#F5B700", "red": "#E5484D"}
STATUS_LABELS = {"green": "良好", "yellow": "关注", "red": "预警"}
# Streamlit's Markdown draws named colours only (":green[…]"), not hex: the nearest name per status.
STATUS_NAMED_COLORS = {"green": "green", "yellow": "orange", "red": "red"}
NO_DATA = "无数据"
NO_DATA_COLOR = "#5B6573"


def status_label(status: str | None) -> str:
    """良好 / 关注 / 预警, or 无数据 without a status."""
    return STATUS_LABELS.get(status, NO_DATA)


def status_color(status: str | None) -> str:
    """The status's hex colour (#RRGGBB), grey without a status."""
    return STATUS_COLORS.get(status, NO_DATA_COLOR)


def status_rgba(status: str | None, alpha: int = 170) -> list[int]:
    """The status's colour as [r, g, b, a] for map layers."""
    color = status_color(status)
    return [int(color[i:i + 2], 16) for i in (1, 3, 5)] + [alpha]


def status_of(ind: Indicator, value: float | None) -> str | None:
    """green / yellow / red by the thresholds and polarity; None without data or thresholds.

    higher_better: value ≥ green → green, ≥ yellow → yellow, else red.
    lower_better:  value ≤ green → green, ≤ yellow → yellow, else red.
    """
    t = ind.thresholds
    if value is None or t is None:
        return None
    if ind.polarity == "higher_better":
        return "green" if value >= t.green else "yellow" if value >= t.yellow else "red"
    return "green" if value <= t.green else "yellow" if value <= t.yellow else "red"


def bands(ind: Indicator) -> list[dict]:
    """The three bands in words, for legends: [{status, label, color, range}]."""
    t = ind.thresholds
    if t is None:
        return []
    g, y = fmt_number(t.green, ind.decimals), fmt_number(t.yellow, ind.decimals)
    if ind.polarity == "higher_better":
        ranges = {"green": f"≥ {g}", "yellow": f"{y} – {g}", "red": f"< {y}"}
    else:
        ranges = {"green": f"≤ {g}", "yellow": f"{g} – {y}", "red": f"> {y}"}
    return [{"status": s, "label": STATUS_LABELS[s], "color": STATUS_COLORS[s], "range": f"{ranges[s]} {ind.unit}"}
            for s in ("green", "yellow", "red")]


def fmt_number(value: float | None, decimals: int = 1) -> str:
    if value is None:
        return NO_DATA
    return f"{value:,.{decimals}f}"


def fmt_value(ind: Indicator, value: float | None) -> str:
    if value is None:
        return NO_DATA
    return f"{fmt_number(value, ind.decimals)} {ind.unit}".strip()


def fmt_delta(ind: Indicator, delta: float | None, pct: float | None, signed: bool = False) -> str:
    """环比/同比 text: percentage points for rates (unit %), otherwise the relative change.
    `signed` writes "+1.2%" / "-1.2%" instead of arrows (st.metric draws its own arrow from the sign)."""
    if delta is None:
        return "—"
    arrow = ("+" if delta > 0 else "-" if delta < 0 else "±") if signed else \
        ("↑ " if delta > 0 else "↓ " if delta < 0 else "→ ")
    if ind.unit == "%":
        return f"{arrow}{abs(delta):.{ind.decimals}f} 个百分点"
    if pct is None:
        return f"{arrow}{fmt_number(abs(delta), ind.decimals)} {ind.unit}".strip()
    return f"{arrow}{abs(pct):.1f}%"


def is_improvement(ind: Indicator, delta: float | None) -> bool | None:
    if delta is None or delta == 0:
        return None
    return (delta > 0) == (ind.polarity == "higher_better")
