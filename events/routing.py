"""Which department should handle a case: routing rules as data (events/routing.yaml), resolved
against the departments table. The dispatcher sees the suggestion and may override it with a reason
(events.workflow logs the suggestion, the choice and the reason)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

import settings
from events.catalog import KINDS, get_catalog
from events.departments import STREET_ABBR, code_for
from store.models import Department

DEFAULT_RULES = Path(__file__).resolve().parent / "routing.yaml"


@dataclass(frozen=True)
class RoutingRule:
    category: str
    subcategories: frozenset[str] | None
    kind: str | None
    districts: frozenset[str] | None
    target: str
    line: int  # position in the file (1-based rule number), for explanations

    def matches(self, kind: str | None, category: str, subcategory: str, district: str | None) -> bool:
        return (self.category == category
                and (self.kind is None or kind is None or self.kind == kind)
                and (self.subcategories is None or subcategory in self.subcategories)
                and (self.districts is None or district in self.districts))

    def describe(self) -> str:
        parts = [self.category]
        if self.subcategories:
            parts.append("/".join(sorted(self.subcategories)))
        if self.districts:
            parts.append("区县 " + "、".join(sorted(self.districts)))
        return f"规则 {self.line}：{' · '.join(parts)} → {TARGET_TEXT.get(self.target.split(':')[0], self.target)}"


TARGET_TEXT = {"street": "所在街道/镇", "district": "所在区县主管部门", "city": "市级主管部门/专业公司"}


@dataclass(frozen=True)
class RoutingTable:
    rules: tuple[RoutingRule, ...]
    fallback: tuple[str, ...]


@dataclass(frozen=True)
class Suggestion:
    department_code: str
    department_name: str
    reason: str  # which rule (or fallback) produced it


def _as_set(value) -> frozenset[str] | None:  # noqa: ANN001
    if value is None:
        return None
    values = [value] if isinstance(value, (str, int)) else list(value)
    return frozenset(str(v) for v in values)


def _check_target(target: str, where: str) -> str:
    target = str(target).strip()
    scope, _, abbr = target.partition(":")
    if scope == "street" and not abbr:
        return target
    if scope in ("district", "city") and abbr:
        return target
    raise ValueError(f"路由规则 {where}：目标「{target}」应为 street、district:部门简称 或 city:部门简称")


def parse_rules(data: dict) -> RoutingTable:
    """Validate the routing file against the catalog; raise ValueError (Chinese) naming the rule."""
    catalog = get_catalog()
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ValueError("路由规则文件应包含 rules 列表")
    rules = []
    for n, raw in enumerate(data["rules"], start=1):
        if not isinstance(raw, dict) or "category" not in raw or "to" not in raw:
            raise ValueError(f"路由规则 {n}：须有 category 与 to")
        unknown = set(raw) - {"category", "subcategory", "kind", "district", "to"}
        if unknown:
            raise ValueError(f"路由规则 {n}：未知字段 {sorted(unknown)}")
        kind = raw.get("kind")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"路由规则 {n}：kind 应为 事件 或 部件")
        category = str(raw["category"])
        if category not in catalog.categories(kind):
            raise ValueError(f"路由规则 {n}：分类中没有大类「{category}」")
        subs = _as_set(raw.get("subcategory"))
        for sub in subs or ():
            catalog.find(category, sub, kind)  # raises UnknownCategory with the valid choices
        rules.append(RoutingRule(category, subs, kind, _as_set(raw.get("district")),
                                 _check_target(raw["to"], str(n)), n))
    fallback = tuple(_check_target(t, "fallback") for t in data.get("fallback", []))
    return RoutingTable(tuple(rules), fallback)


@lru_cache(maxsize=4)
def _load(path: str) -> RoutingTable:
    with open(path, encoding="utf-8") as fh:
        return parse_rules(yaml.safe_load(fh))


def get_rules() -> RoutingTable:
    configured = settings.get_settings().get("events", {}).get("routing_file")
    path = Path(configured) if configured else DEFAULT_RULES
    if not path.is_absolute():
        path = settings.ROOT / path
    return _load(str(path))


def resolve_target(target: str, codes: dict) -> str | None:
    """Department code a target names for a case located at `codes` (keys city/district/street…)."""
    scope, _, abbr = target.partition(":")
    if scope == "street":
        return code_for(codes["street"], STREET_ABBR) if codes.get("street") else None
    region = codes.get(scope)
    return code_for(region, abbr) if region else None


def candidates(kind: str | None, category: str, subcategory: str, codes: dict,
               table: RoutingTable | None = None) -> list[tuple[str, str]]:
    """(department code, explanation) in preference order: the first matching rule, then fallbacks."""
    table = table or get_rules()
    out: list[tuple[str, str]] = []
    for rule in table.rules:
        if rule.matches(kind, category, subcategory, codes.get("district")):
            code = resolve_target(rule.target, codes)
            if code:
                out.append((code, rule.describe()))
            break
    for target in table.fallback:
        code = resolve_target(target, codes)
        if code:
            out.append((code, f"兜底规则 → {TARGET_TEXT.get(target.split(':')[0], target)}"))
    return out


def suggest(session: Session, event) -> Suggestion | None:  # noqa: ANN001 - Event or anything with its fields
    """The suggested department for a case, or None when no candidate exists in the departments table."""
    codes = {"city": event.city_code, "district": event.district_code, "street": event.street_code,
             "community": event.community_code, "grid": event.grid_code}
    options = candidates(getattr(event, "kind", None), event.category, event.subcategory, codes)
    if not options:
        return None
    found = dict(session.execute(
        select(Department.code, Department.name).where(Department.code.in_([c for c, _ in options]))
    ).all())
    for code, why in options:
        if code in found:
            return Suggestion(code, found[code], why)
    return None


def department_exists(session: Session, code: str) -> bool:
    return session.execute(select(Department.code).where(Department.code == code)).scalar_one_or_none() is not None
