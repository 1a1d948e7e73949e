"""Dispatch plan templates (一键调派预案) from `[emergency.plans]` in config.toml.

A plan is keyed "<incident type>.<level>" and names units (resource kind → count) and stock
(warehouse item → quantity). The commander may start from a template and adjust it; `Plan` is also
how an adjusted plan is passed around.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import settings
from emergency import catalog


@dataclass(frozen=True)
class Plan:
    incident_type: str
    level: str
    units: dict[str, int] = field(default_factory=dict)
    stock: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.incident_type}.{self.level}"

    @property
    def label(self) -> str:
        return f"{self.incident_type} {catalog.LEVEL_NAMES.get(self.level, self.level)}"

    def describe(self) -> str:
        """One line in Chinese, e.g. "排涝抢险队×2、医疗救护×1；沙袋 500"."""
        units = "、".join(f"{k}×{n}" for k, n in self.units.items()) or "无队伍"
        stock = "、".join(f"{k} {n}" for k, n in self.stock.items()) or "无物资"
        return f"{units}；{stock}"


def _problems(key: str, raw: dict) -> list[str]:
    out = []
    kinds = catalog.unit_kinds()
    if "." not in key:
        return [f"预案“{key}”的名称应为“事件类型.级别”"]
    itype, level = key.rsplit(".", 1)
    if itype not in catalog.INCIDENT_TYPES:
        out.append(f"预案“{key}”：未知的事件类型“{itype}”")
    if level not in catalog.LEVELS:
        out.append(f"预案“{key}”：级别应为 I、II、III、IV 之一")
    for kind, n in (raw.get("units") or {}).items():
        if kind not in kinds:
            out.append(f"预案“{key}”：未知或不可调派的资源类型“{kind}”")
        if not isinstance(n, int) or n <= 0:
            out.append(f"预案“{key}”：“{kind}”的数量应为正整数")
    for item, n in (raw.get("stock") or {}).items():
        if not isinstance(n, int) or n <= 0:
            out.append(f"预案“{key}”：物资“{item}”的数量应为正整数")
    return out


def load_plans(cfg: dict | None = None) -> dict[str, Plan]:
    """All templates; raises ValueError listing every problem (a bad config must not half-load)."""
    raw_all = (cfg if cfg is not None else settings.get_settings()["emergency"]).get("plans", {})
    problems = [p for key, raw in raw_all.items() for p in _problems(key, raw)]
    if problems:
        raise ValueError("应急预案配置有误：\n" + "\n".join(problems))
    plans = {}
    for key, raw in raw_all.items():
        itype, level = key.rsplit(".", 1)
        plans[key] = Plan(itype, level, dict(raw.get("units") or {}), dict(raw.get("stock") or {}))
    return plans


def get_plan(incident_type: str, level: str) -> Plan:
    plans = load_plans()
    key = f"{incident_type}.{level}"
    if key not in plans:
        raise KeyError(f"没有“{incident_type} {level}级”的调派预案（config.toml [emergency.plans]）")
    return plans[key]
