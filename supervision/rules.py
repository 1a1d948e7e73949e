"""The escalation rules (escalation.yaml) and the one decision they make: how high an overdue case rises.

Pure functions over plain values, so the job (supervision.escalation), the tests and the command line
share them. A rule fires when the case is overdue by at least its threshold in its unit; the case rises
to the highest level any rule reached, and never comes down.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

RULES_FILE = Path(__file__).with_name("escalation.yaml")
# Escalation levels, lowest first (a case rises from its grid to the street, the district, the city).
LEVELS = ("street", "district", "city")
LEVEL_NAMES = {"street": "街道", "district": "区县", "city": "市"}
UNITS = {"working_hours": "个工作小时", "hours": "小时", "days": "天"}


class RuleError(ValueError):
    """The rules file is wrong; the message names the rule and the field (Chinese)."""


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    level: str
    overdue: float
    unit: str

    def describe(self) -> str:
        return f"超期 {self.overdue:g} {UNITS[self.unit]} → {LEVEL_NAMES[self.level]}"


@dataclass(frozen=True)
class Overdue:
    """How long a case has been overdue, in each unit a rule may use."""

    working_hours: float
    hours: float

    @property
    def days(self) -> float:
        return self.hours / 24.0

    def measure(self, unit: str) -> float:
        return {"working_hours": self.working_hours, "hours": self.hours, "days": self.days}[unit]


def parse_rules(data: object, where: str = "escalation.yaml") -> tuple[Rule, ...]:
    """Rules from the YAML structure {rules: [...]}, checked: known levels and units, positive
    thresholds, unique ids, levels listed lowest first, and growing thresholds within one unit."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list) or not data["rules"]:
        raise RuleError(f"{where}：应为 rules: 列表，至少一条规则")
    out: list[Rule] = []
    for i, item in enumerate(data["rules"], start=1):
        label = f"{where} 第 {i} 条规则"
        if not isinstance(item, dict):
            raise RuleError(f"{label}：应为 {{id, name, level, overdue, unit}}")
        unknown = set(item) - {"id", "name", "level", "overdue", "unit"}
        if unknown:
            raise RuleError(f"{label}：未知的字段 {'、'.join(sorted(unknown))}")
        rid = str(item.get("id") or "").strip()
        if not rid:
            raise RuleError(f"{label}：缺少 id")
        level, unit = item.get("level"), item.get("unit", "working_hours")
        if level not in LEVELS:
            raise RuleError(f"{label}（{rid}）：level 应为 {' / '.join(LEVELS)}，收到 {level!r}")
        if unit not in UNITS:
            raise RuleError(f"{label}（{rid}）：unit 应为 {' / '.join(UNITS)}，收到 {unit!r}")
        overdue = item.get("overdue")
        if isinstance(overdue, bool) or not isinstance(overdue, (int, float)) or overdue <= 0:
            raise RuleError(f"{label}（{rid}）：overdue 应为正数，收到 {overdue!r}")
        out.append(Rule(rid, str(item.get("name") or rid), level, float(overdue), unit))
    if len({r.id for r in out}) != len(out):
        raise RuleError(f"{where}：规则 id 重复")
    ranks = [LEVELS.index(r.level) for r in out]
    if ranks != sorted(ranks):
        raise RuleError(f"{where}：规则应按层级由低到高排列（街道、区县、市）")
    for a, b in zip(out, out[1:]):
        if a.unit == b.unit and a.level != b.level and b.overdue <= a.overdue:
            raise RuleError(f"{where}：「{b.id}」的阈值应大于「{a.id}」（{b.overdue:g} ≤ {a.overdue:g}）")
    return tuple(out)


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_FILE) -> tuple[Rule, ...]:
    with open(path, encoding="utf-8") as fh:
        return parse_rules(yaml.safe_load(fh), path.name)


def level_rank(level: str | None) -> int:
    """-1 for a case not escalated, else the level's place (street 0 … city 2)."""
    return LEVELS.index(level) if level in LEVELS else -1


def reached(overdue: Overdue, rules: tuple[Rule, ...]) -> Rule | None:
    """The rule of the highest level the overdue time reaches (thresholds inclusive), or None."""
    best: Rule | None = None
    for rule in rules:
        if overdue.measure(rule.unit) >= rule.overdue and (best is None
                                                          or level_rank(rule.level) >= level_rank(best.level)):
            best = rule
    return best


def escalation_due(current: str | None, overdue: Overdue, rules: tuple[Rule, ...]) -> Rule | None:
    """The rule to apply now to a case escalated to `current`: one that takes it higher, else None
    (so running the job again changes nothing)."""
    rule = reached(overdue, rules)
    if rule is None or level_rank(rule.level) <= level_rank(current):
        return None
    return rule
