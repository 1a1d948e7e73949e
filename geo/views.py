"""The geo read face: the region tree as a viewer may see it (one region, its children, its
ancestors, a breadcrumb, a picker tree, the regions a map of a scope draws).

Regions are not region-keyed fact rows (a region has one code of its own level, not the city …
grid columns of store.models.RegionKeyed), so `ReadFace.scoped` does not apply. Every read here
starts instead from `_regions()`, a SELECT on `regions` restricted by
`store.region_codes.code_inside(Region.code, viewer.zone_code)`: the viewer's zone and everything
under it. There are no department rows in the tree, so department staff see their zone's tree.

Errors: a malformed code raises LookupError("… 格式不正确"), a code outside the viewer's zone
PermissionDenied (before any lookup, so a viewer cannot probe which codes exist elsewhere), an
unknown code LookupError("未找到区划 …"). Messages are Chinese: screens show them as they are.

Nobody reads the tree "as the system" (without a viewer) today; the importers and the CLI query
the regions table for their own purposes (geo.boundaries, geo.cli).
"""
from __future__ import annotations

from sqlalchemy import Select, func, select

from store import region_codes
from store.models import LEVELS, Region
from store.scope import ReadFace


# Region.source of the demo generator's streets, communities and grids (geo.demo_city).
GENERATED_SOURCE = "generated"


def coverage_note(coverage: dict) -> str | None:
    """A Chinese note for a map of the region `coverage` describes (RegionViews.boundary_coverage):
    where only district boundaries exist, say so and where more come from; generated levels are
    marked as demo data. None when there is nothing to say."""
    level, levels, generated = coverage["level"], coverage["levels"], coverage["generated"]
    if level in ("city", "district") and not any(levels.get(lv) for lv in ("street", "community", "grid")):
        what = "本市" if level == "city" else "本区县"
        return (f"{what}只有{'区县' if level == 'city' else '区县本身的'}边界（DataV 等公开数据到区县为止）："
                "街道、社区、网格可在「数据导入」中从本市网格化管理中心的文件导入。")
    fake = [region_codes.LEVEL_NAMES_ZH[lv] for lv in ("street", "community", "grid") if generated.get(lv)]
    if fake:
        return f"演示数据：{'、'.join(fake)}为程序生成的示意划分，不是真实区划。"
    return None


class RegionViews(ReadFace):
    """Reads of the region tree, restricted to the viewer's zone. `region` defaults to the zone."""

    def _regions(self, *columns) -> Select:  # noqa: ANN002 - mapped columns
        """SELECT `columns` (default: Region) FROM regions inside the viewer's zone."""
        return select(*(columns or (Region,))).where(
            region_codes.code_inside(Region.code, self.viewer.zone_code))

    def _code(self, region: str | None) -> str:
        """`region` (default the zone) after the format and zone checks, format first: a malformed
        code says nothing about which regions exist."""
        if region is not None and region_codes.level_or_none(region) is None:
            raise LookupError(f"区划代码 {region!r} 格式不正确")
        return self.region(region)

    def get_region(self, region: str | None = None) -> Region:
        code = self._code(region)
        found = self.session.scalars(self._regions().where(Region.code == code)).first()
        if found is None:
            raise LookupError(f"未找到区划 {code}")
        return found

    def children(self, region: str | None = None) -> list[Region]:
        code = self.get_region(region).code
        return list(self.session.scalars(
            self._regions().where(Region.parent_code == code).order_by(Region.code)))

    def drawn_regions(self, region: str | None = None) -> list[Region]:
        """What a map of `region` draws: its children, or the region itself when it has none (a grid)."""
        return self.children(region) or [self.get_region(region)]

    def ancestors(self, region: str | None = None) -> list[Region]:
        """The regions above `region` inside the viewer's zone, the top first: a district officer's
        breadcrumb starts at their district."""
        code = self.get_region(region).code
        wanted = region_codes.ancestors(code)
        if not wanted:
            return []
        found = {r.code: r for r in self.session.scalars(self._regions().where(Region.code.in_(wanted)))}
        return [found[c] for c in wanted if c in found]

    def breadcrumb(self, region: str | None = None) -> list[dict]:
        """[{code, name, level}, …] from the top visible ancestor down to `region` itself."""
        rows = [*self.ancestors(region), self.get_region(region)]
        return [{"code": r.code, "name": r.name, "level": r.level} for r in rows]

    def boundary_coverage(self, region: str | None = None) -> dict:
        """Which levels exist under `region` and which of them are generated (the demo's streets,
        communities and grids): {"code", "level", "levels": {level: count}, "generated": {level: count}}.
        Screens turn it into a note (geo.views.coverage_note) where only district boundaries exist."""
        root = self.get_region(region)
        rows = self.session.execute(
            self._regions(Region.level, Region.source, func.count()).where(
                region_codes.code_inside(Region.code, root.code), Region.code != root.code)
            .group_by(Region.level, Region.source)).all()
        levels: dict[str, int] = {}
        generated: dict[str, int] = {}
        for level, source, n in rows:
            levels[level] = levels.get(level, 0) + int(n)
            if source == GENERATED_SOURCE:
                generated[level] = generated.get(level, 0) + int(n)
        return {"code": root.code, "level": root.level, "levels": levels, "generated": generated}

    def region_tree(self, region: str | None = None, *, max_level: str = "community") -> dict:
        """Nested {code, name, level, children: [...]} from `region` down to `max_level`, for a
        sidebar picker. Geometry is not loaded."""
        if max_level not in LEVELS:
            raise ValueError(f"未知的级别 {max_level!r}，可选：{'、'.join(LEVELS)}")
        root = self.get_region(region)
        depth = LEVELS.index(max_level)
        levels = [lv for lv in LEVELS[: depth + 1] if region_codes.depth(lv) > region_codes.depth(root.level)]
        stmt = self._regions(Region.code, Region.parent_code, Region.name, Region.level).where(
            Region.level.in_(levels), region_codes.code_inside(Region.code, root.code))
        node = {"code": root.code, "name": root.name, "level": root.level, "children": []}
        nodes = {root.code: node}
        rows = sorted(self.session.execute(stmt).all(), key=lambda r: (LEVELS.index(r.level), r.code))
        for r in rows:
            parent = nodes.get(r.parent_code)
            if parent is None:
                continue  # an orphan cannot be reached from the root; the import forbids it anyway
            child = {"code": r.code, "name": r.name, "level": r.level, "children": []}
            parent["children"].append(child)
            nodes[r.code] = child
        return node
