"""Our 数字城管 classification as Open311 services: one service per 小类, its 大类 as the group.

Codes and extra attributes come from open311/services.yaml (codes are permanent; see its header).
`check_attributes` validates the attribute[...] answers of a request against the service definition
and returns them as (label, shown value) pairs for the case description.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from events.catalog import Subcategory, UnknownCategory, get_catalog

SERVICES_PATH = Path(__file__).resolve().parent / "services.yaml"
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
_CODE = re.compile(r"^[EC]\d{4}$")
_COMPONENT_ID = re.compile(r"^[0-9A-Za-z\-]{1,30}$")
MAX_ATTRIBUTE_CHARS = 200


class BadAttribute(ValueError):
    """An attribute answer does not fit its definition (Chinese message)."""


@dataclass(frozen=True)
class Attribute:
    code: str
    description: str
    datatype: str
    required: bool
    order: int
    datatype_description: str = ""
    values: tuple[tuple[str, str], ...] = ()

    def check(self, raw: list[str]) -> str | None:
        """The answer as shown on the case ("是", "30"), None when left empty; BadAttribute when bad."""
        raw = [str(v).strip() for v in raw if str(v).strip()]
        if not raw:
            if self.required:
                raise BadAttribute(f"缺少必填的附加信息「{self.description}」（attribute[{self.code}]）")
            return None
        if any(len(v) > MAX_ATTRIBUTE_CHARS for v in raw):
            raise BadAttribute(f"附加信息「{self.description}」过长（最多 {MAX_ATTRIBUTE_CHARS} 字）")
        if self.datatype != "multivaluelist" and len(raw) > 1:
            raise BadAttribute(f"附加信息「{self.description}」只能填一个值")
        names = dict(self.values)
        if self.datatype in ("singlevaluelist", "multivaluelist"):
            bad = [v for v in raw if v not in names]
            if bad:
                allowed = "、".join(f"{k}（{n}）" for k, n in self.values)
                raise BadAttribute(f"附加信息「{self.description}」的值应为 {allowed}")
            return "、".join(names[v] for v in raw)
        value = raw[0]
        if self.datatype == "number":
            try:
                number = float(value)
            except ValueError:
                raise BadAttribute(f"附加信息「{self.description}」应为数字") from None
            if not math.isfinite(number) or number < 0 or number > 1e6:
                raise BadAttribute(f"附加信息「{self.description}」超出范围")
            return f"{number:g}"
        if self.code == "component_id" and not _COMPONENT_ID.match(value):
            raise BadAttribute("部件编码只能包含字母、数字和连字符（最多 30 个）")
        return value


@dataclass(frozen=True)
class Service:
    code: str
    item: Subcategory
    attributes: tuple[Attribute, ...]

    @property
    def name(self) -> str:
        return self.item.name

    @property
    def group(self) -> str:
        return self.item.category

    @property
    def description(self) -> str:
        return f"{self.item.kind} › {self.item.category} › {self.item.name}"

    @property
    def keywords(self) -> str:
        return ",".join([self.item.kind, self.item.category, self.item.name] + (["紧急"] if self.item.urgent else []))


@dataclass(frozen=True)
class ServiceCatalog:
    services: tuple[Service, ...]
    unmapped: tuple[str, ...]   # "大类/小类" of the classification with no service code

    def get(self, code: str | None) -> Service | None:
        return next((s for s in self.services if s.code == code), None)

    def for_item(self, category: str, subcategory: str) -> Service | None:
        return next((s for s in self.services if s.item.category == category and s.item.name == subcategory), None)


def _attribute(entry: dict, order: int, where: str) -> Attribute:
    code = str(entry.get("code", "")).strip()
    datatype = str(entry.get("datatype", "string"))
    if not re.match(r"^[a-z][a-z0-9_]{0,39}$", code):
        raise ValueError(f"{where}: attribute code {code!r} must be lower-case letters, digits and _")
    if datatype not in DATATYPES:
        raise ValueError(f"{where}: datatype {datatype!r} not one of {DATATYPES}")
    values = tuple((str(k), str(v)) for k, v in (entry.get("values") or {}).items())
    if datatype.endswith("valuelist") and not values:
        raise ValueError(f"{where}: {code} is a list without values")
    return Attribute(code, str(entry.get("description") or code), datatype, bool(entry.get("required")), order,
                     str(entry.get("datatype_description") or ""), values)


def parse_services(data: dict) -> ServiceCatalog:
    """Validate services.yaml against the classification; ValueError names the bad entry."""
    catalog = get_catalog()
    kind_attrs = {kind: [_attribute(a, i, kind) for i, a in enumerate(attrs or [], 1)]
                  for kind, attrs in (data.get("kind_attributes") or {}).items()}
    extra = data.get("attributes") or {}
    services: list[Service] = []
    seen: set[tuple[str, str]] = set()
    for code, triple in (data.get("services") or {}).items():
        code = str(code)
        if not _CODE.match(code):
            raise ValueError(f"services.yaml: code {code!r} must look like E0101 or C0101")
        kind, category, subcategory = (str(x) for x in triple)
        try:
            item = catalog.find(category, subcategory, kind)
        except UnknownCategory as exc:
            raise ValueError(f"services.yaml {code}: {exc}") from None
        if (category, subcategory) in seen:
            raise ValueError(f"services.yaml {code}: {category}/{subcategory} has two codes")
        seen.add((category, subcategory))
        own = [_attribute(a, i, code) for i, a in enumerate(extra.get(code) or [], 1)]
        attrs = kind_attrs.get(kind, []) + own
        attrs = [Attribute(a.code, a.description, a.datatype, a.required, i, a.datatype_description, a.values)
                 for i, a in enumerate(attrs, 1)]
        if len({a.code for a in attrs}) != len(attrs):
            raise ValueError(f"services.yaml {code}: an attribute code repeats")
        services.append(Service(code, item, tuple(attrs)))
    unknown = set(map(str, extra)) - {s.code for s in services}
    if unknown:
        raise ValueError(f"services.yaml: attributes for unknown services {sorted(unknown)}")
    unmapped = tuple(f"{i.category}/{i.name}" for i in catalog.items if (i.category, i.name) not in seen)
    return ServiceCatalog(tuple(services), unmapped)


@lru_cache(maxsize=1)
def get_services() -> ServiceCatalog:
    with open(SERVICES_PATH, encoding="utf-8") as fh:
        return parse_services(yaml.safe_load(fh))


def allowed(categories: list[str] | None, service: Service) -> bool:
    """A key limited to `categories` (大类 or "大类/小类"; None = all) may use `service`."""
    if not categories:
        return True
    return service.group in categories or f"{service.group}/{service.name}" in categories


def check_attributes(service: Service, answers: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(description, value) of every answered attribute; BadAttribute for an unknown code, a missing
    required answer or a bad value."""
    known = {a.code for a in service.attributes}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise BadAttribute(f"服务 {service.code}（{service.name}）没有附加信息 {', '.join(unknown)[:100]}")
    out = []
    for attr in service.attributes:
        shown = attr.check(answers.get(attr.code, []))
        if shown is not None:
            out.append((attr.description, shown))
    return out
