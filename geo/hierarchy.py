"""Reads of the region tree for screens: one region, its children, its ancestors, a breadcrumb and a
picker tree. Each takes the `Viewer` it reads for (None = the system itself, e.g. the CLI) and
refuses codes outside the viewer's zone with PermissionDenied; unknown codes raise LookupError.
Messages are Chinese because screens show them as they are.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.boundary_checks import expected_level
from store.models import LEVELS, Region
from store.scope import Viewer, ensure_region_visible, is_within


def _check(code: str, viewer: Viewer | None) -> None:
    # Permission first: an out-of-zone user learns nothing about whether a code exists.
    if viewer is not None:
        ensure_region_visible(viewer, code)
    if not isinstance(code, str) or expected_level(code) not in LEVELS:
        raise LookupError(f"区划代码 {code!r} 格式不正确")


def get_region(session: Session, code: str, viewer: Viewer | None = None) -> Region:
    _check(code, viewer)
    region = session.get(Region, code)
    if region is None:
        raise LookupError(f"未找到区划 {code}")
    return region


def children(session: Session, code: str, viewer: Viewer | None = None) -> list[Region]:
    get_region(session, code, viewer)
    return list(session.scalars(select(Region).where(Region.parent_code == code).order_by(Region.code)))


def _chain_codes(region: Region) -> list[str]:
    """Codes above `region`, from the city down. Codes nest (GB/T 2260 + statistical division code),
    so they follow from the code itself; the database then says which exist."""
    code = region.code
    chain = [region.city_code] if region.level != "city" else []
    chain += [code[:n] for n in (6, 9, 12) if region.level != "district" and n < len(code)]
    return [c for c in dict.fromkeys(chain) if c != code]


def ancestors(session: Session, code: str, viewer: Viewer | None = None) -> list[Region]:
    """The regions above `code`, city first. For a viewer, only those inside their zone: a district
    officer's breadcrumb starts at their district."""
    region = get_region(session, code, viewer)
    wanted = _chain_codes(region)
    found = {r.code: r for r in session.scalars(select(Region).where(Region.code.in_(wanted)))} if wanted else {}
    rows = [found[c] for c in wanted if c in found]
    if viewer is not None:
        rows = [r for r in rows if is_within(r.code, viewer.zone_code)]
    return rows


def breadcrumb(session: Session, code: str, viewer: Viewer | None = None) -> list[dict]:
    """[{code, name, level}, …] from the top visible ancestor down to `code` itself."""
    rows = ancestors(session, code, viewer) + [get_region(session, code, viewer)]
    return [{"code": r.code, "name": r.name, "level": r.level} for r in rows]


def region_tree(session: Session, root_code: str | None = None, max_level: str = "community",
                viewer: Viewer | None = None) -> dict:
    """Nested {code, name, level, children: [...]} from `root_code` down to `max_level`, for a sidebar
    picker. Geometry is not loaded. `root_code` defaults to the viewer's zone."""
    if max_level not in LEVELS:
        raise ValueError(f"未知的级别 {max_level!r}，可选：{'、'.join(LEVELS)}")
    root_code = root_code or (viewer.zone_code if viewer else None)
    if not root_code:
        raise ValueError("需要指定根区划代码")
    root = get_region(session, root_code, viewer)
    depth = LEVELS.index(max_level)
    levels = [lv for lv in LEVELS[: depth + 1] if LEVELS.index(lv) > LEVELS.index(root.level)]
    stmt = select(Region.code, Region.parent_code, Region.name, Region.level).where(Region.level.in_(levels))
    stmt = stmt.where(Region.city_code == root.code) if root.level == "city" \
        else stmt.where(Region.code.like(root.code + "%"))
    node = {"code": root.code, "name": root.name, "level": root.level, "children": []}
    nodes = {root.code: node}
    rows = sorted(session.execute(stmt).all(), key=lambda r: (LEVELS.index(r.level), r.code))
    for r in rows:
        parent = nodes.get(r.parent_code)
        if parent is None:
            continue  # an orphan cannot be reached from the root; the import forbids it anyway
        child = {"code": r.code, "name": r.name, "level": r.level, "children": []}
        parent["children"].append(child)
        nodes[r.code] = child
    return node
