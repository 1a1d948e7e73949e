"""Import administrative boundaries (all-or-nothing, with a report of every bad feature) and export
them in our own GeoJSON format.

An import either writes every feature or nothing: all checks run first, in memory and against the
database, and only a clean file is written — inside the caller's transaction, so a failure while
writing rolls back too. Existing codes are updated (upsert) under the same rules.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo import crs as crs_mod
from geo.boundary_checks import (
    LEVEL_ZH,
    MIN_INSIDE,
    Candidate,
    check_feature,
    feature_code,
    inside_shares,
    parent_code_issue,
)
from geo.boundary_read import Issue, read_source
from geo.geometry import from_text, mapping_of, region_metrics
from geo.meta import bump_boundary_version
from store.db import session_scope
from store.models import LEVELS, Region
from store.scope import Viewer, ensure_region_visible

_CHUNK = 500  # codes per IN (...) query; keeps statements well under backend parameter limits


@dataclass
class ImportReport:
    source: str
    crs: str | None = None
    encoding: str | None = None
    features: int = 0
    errors: list[Issue] = field(default_factory=list)
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    boundary_version: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        """Every problem, one per line: '第N个要素：原因' (N counts from 1) or '文件：原因'."""
        return [issue.line() for issue in self.errors]

    def summary(self) -> str:
        if not self.ok:
            return (f"导入失败：{self.source} 有 {len(self.errors)} 处错误，未写入任何数据。"
                    "请修正以下问题后重新导入：")
        parts = [f"{LEVEL_ZH[lv]} 新增 {self.created[lv]}、更新 {self.updated[lv]}"
                 for lv in LEVELS if self.created[lv] or self.updated[lv]]
        label = crs_mod.LABELS.get(self.crs or "", self.crs)
        conv = "（已由 " + label + " 转换为 WGS-84）" if self.crs and self.crs != "wgs84" else "（WGS-84）"
        enc = f"，按 {self.encoding} 编码读取" if self.encoding and self.encoding != "utf-8" else ""
        return f"导入成功：{self.source} 共 {self.features} 个要素{conv}{enc}；" + "；".join(parts) + "。"


def _chunks(items: list, size: int = _CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _load(session: Session, codes: set[str]) -> dict[str, Region]:
    found: dict[str, Region] = {}
    for part in _chunks(sorted(codes)):
        for row in session.scalars(select(Region).where(Region.code.in_(part))):
            found[row.code] = row
    return found


def _existing_codes(session: Session, codes: list[str]) -> set[str]:
    found: set[str] = set()
    for part in _chunks(sorted(codes)):
        found.update(session.scalars(select(Region.code).where(Region.code.in_(part))))
    return found


def _check_relations(session: Session, cands: list[Candidate], all_codes: dict[str, int],
                     issues: list[Issue]) -> set[str]:
    """Duplicates, parents, code consistency, containment. Returns codes already in the database."""
    first: dict[str, Candidate] = {}
    unique: list[Candidate] = []
    for c in cands:
        if c.code in first:
            issues.append(Issue(c.index, f"区划代码 {c.code} 与第{first[c.code].index}个要素重复"))
        else:
            first[c.code] = c
            unique.append(c)

    outside_file = {c.parent_code for c in unique if c.parent_code and c.parent_code not in first}
    db_parents = _load(session, outside_file)
    pairs: list[tuple[Candidate, str, str, object]] = []  # (child, parent code, parent name, parent geom)
    for c in unique:
        if c.parent_code is None:
            continue
        in_file = first.get(c.parent_code)
        in_db = db_parents.get(c.parent_code)
        if in_file is None and in_db is None:
            if c.parent_code in all_codes:
                issues.append(Issue(c.index, f"上级 {c.parent_code}（第{all_codes[c.parent_code]}个要素）本身有错误，"
                                             "请先修正上级"))
            else:
                how = "" if c.declared_parent else "（按代码推断）"
                issues.append(Issue(c.index, f"上级区划 {c.parent_code}{how}既不在本文件中，也不在数据库中"))
            continue
        parent_level = in_file.level if in_file else in_db.level
        problem = parent_code_issue(c, parent_level)
        if problem:
            issues.append(Issue(c.index, problem))
            continue
        geom = in_file.geometry if in_file else from_text(in_db.geometry)
        if geom is not None:
            pairs.append((c, c.parent_code, in_file.name if in_file else in_db.name, geom))

    if pairs:
        shares = inside_shares([p[0].geometry for p in pairs], [p[3] for p in pairs])
        for (c, pcode, pname, _), share in zip(pairs, shares):
            if share < MIN_INSIDE:
                issues.append(Issue(c.index, f"只有 {share:.1%} 的面积位于上级 {pcode}（{pname}）之内，"
                                             f"至少应为 {MIN_INSIDE:.0%}：可能放错了上级，或坐标系不对"))

    existing = _existing_codes(session, list(first))
    _check_kept_children(session, [first[code] for code in sorted(existing)], set(first), issues)
    return existing


def _check_kept_children(session: Session, updated: list[Candidate], in_file: set[str],
                         issues: list[Issue]) -> None:
    """A new boundary for an existing region must still hold the children it keeps in the database."""
    by_code = {c.code: c for c in updated}
    kids: list[Region] = []
    for part in _chunks(sorted(by_code)):
        kids.extend(session.scalars(select(Region).where(Region.parent_code.in_(part))))
    kids = [k for k in kids if k.code not in in_file and k.geometry]
    if not kids:
        return
    shares = inside_shares([from_text(k.geometry) for k in kids], [by_code[k.parent_code].geometry for k in kids])
    for kid, share in zip(kids, shares):
        if share < MIN_INSIDE:
            parent = by_code[kid.parent_code]
            issues.append(Issue(parent.index, f"更新后，数据库中已有的下级 {kid.code}（{kid.name}）只有 {share:.1%} "
                                              f"的面积位于新边界之内，至少应为 {MIN_INSIDE:.0%}"))


def _rows(cands: list[Candidate], source_label: str) -> list[dict]:
    rows = []
    for c in sorted(cands, key=lambda c: (LEVELS.index(c.level), c.code)):
        row = {"code": c.code, "parent_code": c.parent_code, "name": c.name, "level": c.level,
               "city_code": c.code[:4] + "00", "source": source_label, **region_metrics(c.geometry)}
        # Counts are written only when the file has them, so a DataV re-import keeps our figures.
        if c.population is not None:
            row["population"] = c.population
        if c.households is not None:
            row["households"] = c.households
        rows.append(row)
    return rows


def source_label(name: str, crs: str) -> str:
    conv = f"{crs_mod.LABELS[crs]}→WGS-84" if crs != "wgs84" else "WGS-84"
    return f"{name[:70]} ({conv})"


def import_boundaries(session: Session, source: bytes | str | Path, crs: str, *,
                      encoding: str | None = None, source_name: str | None = None) -> ImportReport:
    """Check every feature, then upsert all of them into `session`'s transaction, or none.

    `source` is a path, raw bytes or decoded text; `crs` the system its coordinates are in
    (wgs84/cgcs2000, gcj02, bd09). `encoding` names a non-UTF-8 encoding explicitly (e.g. 'gbk').
    """
    name = source_name or (source.name if isinstance(source, Path) else "上传的文件")
    report = ImportReport(source=name)
    try:
        report.crs = crs_mod.normalize_crs(crs)
    except crs_mod.UnknownCRS as exc:
        report.errors.append(Issue(None, str(exc)))
        return report
    parsed = read_source(source, encoding)
    report.encoding = parsed.encoding
    report.features = len(parsed.features)
    report.errors.extend(parsed.issues)
    if parsed.issues:
        return report

    cands: list[Candidate] = []
    all_codes: dict[str, int] = {}
    for i, feature in enumerate(parsed.features, start=1):
        code = feature_code(feature)
        if code and code not in all_codes:
            all_codes[code] = i
        cand, issues = check_feature(i, feature, report.crs)
        report.errors.extend(issues)
        if cand:
            cands.append(cand)
    existing = _check_relations(session, cands, all_codes, report.errors)
    if report.errors:
        report.errors.sort(key=lambda e: (e.index or 0))
        return report

    rows = _rows(cands, source_label(name, report.crs))
    new = [r for r in rows if r["code"] not in existing]
    old = [r for r in rows if r["code"] in existing]
    if new:
        session.execute(insert(Region), new)
    if old:
        session.execute(update(Region), old)
    report.created.update(r["level"] for r in new)
    report.updated.update(r["level"] for r in old)
    report.boundary_version = bump_boundary_version(session)
    return report


def import_file(engine: Engine, path: str | Path, crs: str, *, encoding: str | None = None) -> ImportReport:
    """Import one file in its own transaction."""
    with session_scope(engine) as session:
        return import_boundaries(session, Path(path), crs, encoding=encoding)


def subtree_query(root: Region):
    """SELECT of a region and everything below it. A city's descendants share its city_code; below
    that, codes extend their parent's code."""
    stmt = select(Region)
    if root.level == "city":
        return stmt.where(Region.city_code == root.code)
    return stmt.where(Region.code.like(root.code + "%"))


def export_geojson(session: Session, root_code: str, viewer: Viewer | None = None) -> dict:
    """A region and all its descendants as a FeatureCollection in our own format (WGS-84)."""
    if viewer is not None:
        ensure_region_visible(viewer, root_code)
    root = session.get(Region, root_code)
    if root is None:
        raise LookupError(f"未找到区划代码 {root_code}")
    regions = session.scalars(subtree_query(root)).all()
    regions = sorted(regions, key=lambda r: (LEVELS.index(r.level) if r.level in LEVELS else 9, r.code))
    features = []
    for r in regions:
        props = {"code": r.code, "parent_code": r.parent_code, "name": r.name, "level": r.level,
                 "population": r.population, "households": r.households, "area_km2": r.area_km2,
                 "source": r.source}
        features.append({"type": "Feature", "properties": props, "geometry": mapping_of(r.geometry)})
    return {"type": "FeatureCollection", "name": f"{root.name}（{root.code}）行政区划边界",
            "features": features}
