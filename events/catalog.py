"""The case classification (事件/部件 → 大类 → 小类) from events/categories.yaml.

One loader, validated once, used by the report form, the importer, routing and the demo generator, so a
小类 unknown here can never enter the store.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

CATALOG_PATH = Path(__file__).resolve().parent / "categories.yaml"
KINDS = ("事件", "部件")


class UnknownCategory(ValueError):
    """The (大类, 小类) pair is not in the catalog. Message in Chinese."""


@dataclass(frozen=True)
class Subcategory:
    kind: str        # 事件 / 部件
    category: str    # 大类
    name: str        # 小类
    urgent: bool = False
    sensor: bool = False


@dataclass(frozen=True)
class Catalog:
    items: tuple[Subcategory, ...]

    def categories(self, kind: str | None = None) -> list[str]:
        seen: dict[str, None] = {}
        for item in self.items:
            if kind is None or item.kind == kind:
                seen.setdefault(item.category)
        return list(seen)

    def subcategories(self, category: str, kind: str | None = None) -> list[Subcategory]:
        return [i for i in self.items if i.category == category and (kind is None or i.kind == kind)]

    def find(self, category: str, subcategory: str, kind: str | None = None) -> Subcategory:
        """The catalog entry; raises UnknownCategory (Chinese) when the pair does not exist."""
        category = (category or "").strip()
        subcategory = (subcategory or "").strip()
        for item in self.items:
            if item.category == category and item.name == subcategory and (kind is None or item.kind == kind):
                return item
        if not any(i.category == category for i in self.items):
            raise UnknownCategory(f"未知的大类「{category}」，可选：{'、'.join(self.categories())}")
        names = "、".join(i.name for i in self.subcategories(category, kind))
        raise UnknownCategory(f"大类「{category}」下没有小类「{subcategory}」，可选：{names}")

    def tree(self) -> dict[str, dict[str, list[str]]]:
        """{kind: {大类: [小类...]}} for pickers."""
        out: dict[str, dict[str, list[str]]] = {}
        for item in self.items:
            out.setdefault(item.kind, {}).setdefault(item.category, []).append(item.name)
        return out


def parse_catalog(data: dict) -> Catalog:
    """Validate the YAML structure; raise ValueError naming the offending entry."""
    if not isinstance(data, dict) or not data:
        raise ValueError("分类文件为空或格式错误")
    items: list[Subcategory] = []
    pairs: set[tuple[str, str]] = set()
    for kind, groups in data.items():
        if kind not in KINDS:
            raise ValueError(f"分类文件：未知的类型「{kind}」（应为 事件 或 部件）")
        for category, subs in (groups or {}).items():
            if not subs:
                raise ValueError(f"分类文件：{kind}/{category} 没有小类")
            names: set[str] = set()
            for sub in subs:
                entry = {"name": sub} if isinstance(sub, str) else dict(sub)
                name = str(entry.pop("name", "")).strip()
                if not name:
                    raise ValueError(f"分类文件：{kind}/{category} 有未命名的小类")
                if name in names:
                    raise ValueError(f"分类文件：{kind}/{category} 小类「{name}」重复")
                unknown = set(entry) - {"urgent", "sensor"}
                if unknown:
                    raise ValueError(f"分类文件：{kind}/{category}/{name} 有未知选项 {sorted(unknown)}")
                if (str(category), name) in pairs:
                    raise ValueError(f"分类文件：大类「{category}」小类「{name}」在事件与部件中重复")
                names.add(name)
                pairs.add((str(category), name))
                items.append(Subcategory(kind, str(category), name, bool(entry.get("urgent")),
                                         bool(entry.get("sensor"))))
    return Catalog(tuple(items))


@lru_cache(maxsize=1)
def get_catalog() -> Catalog:
    with open(CATALOG_PATH, encoding="utf-8") as fh:
        return parse_catalog(yaml.safe_load(fh))
