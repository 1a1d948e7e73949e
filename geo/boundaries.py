"""Import administrative boundaries and grids (all-or-nothing, with a report of every bad feature and
every repair) and export them in our own GeoJSON format.

Any file a GIS office hands over goes through the same path: geo.boundary_read (GeoJSON, Shapefile,
GeoPackage, KML/KMZ; encodings; field mapping) → geo.boundary_checks (each feature, with honest
geometry repair from geo.boundary_repair; then parents, containment, sibling overlaps and gaps) →
one upsert. An import either writes every feature or nothing: all checks run first, in memory and
against the database, and only a clean file is written — inside the caller's transaction, so a
failure while writing rolls back too. Existing codes are updated (upsert) under the same rules.

Provinces (XX0000) may be imported too; a city is put under its province when that province is
loaded. A province created by `manage.py city add` (geo.cities) has no file of its own: its outline
is the union of its cities, redrawn whenever one of them changes.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import shapely
from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo import crs as crs_mod
from geo.boundary_checks import (
    MIN_INSIDE,
    Candidate,
    Repair,
    check_feature,
    children_gaps,
    projected_as_degrees,
    feature_code,
    inside_shares,
    parent_code_issue,
    sibling_overlaps,
)
from geo.boundary_read import FieldMap, Issue, read_source
from geo.geometry import from_text, from_texts, mapping_of, region_metrics
from geo.meta import bump_boundary_version
from store.db import session_scope
from store.models import Region
from store.region_codes import LEVEL_NAMES_ZH, LEVELS, ancestor_at, code_inside, level_or_none
from store.scope import Viewer, ensure_region_visible

_CHUNK = 500  # codes per IN (...) query; keeps statements well under backend parameter limits
# Region.source of a province whose outline is the union of its cities (no boundary file of its own).
DERIVED_PROVINCE = "由所辖市边界合并"

Progress = Callable[[int, int], None]


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
    format: str = ""
    layer: str | None = None
    repairs: list[Repair] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how the file was read (encoding, layer, CRS)
    check_only: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        """Every problem, one per line: '第N个要素：原因' (N counts from 1) or '文件：原因'."""
        return [issue.line() for issue in self.errors]

    def repair_lines(self) -> list[str]:
        """Every repair: '第N个要素（代码 名称）：问题（位于 经度, 纬度），已修复；面积变化 …'."""
        return [r.line() for r in self.repairs]

    def warning_lines(self) -> list[str]:
        """Set findings that do not stop the import: overlaps between siblings, gaps under a parent."""
        return [w.line() for w in self.warnings]

    def crs_text(self) -> str:
        if not self.crs:
            return ""
        return "WGS-84" if self.crs == "wgs84" else f"已由 {crs_mod.label(self.crs)} 转换为 WGS-84"

    def summary(self) -> str:
        if not self.ok:
            return (f"导入失败：{self.source} 有 {len(self.errors)} 处错误，未写入任何数据。"
                    "请修正以下问题后重新导入：")
        parts = [f"{LEVEL_NAMES_ZH[lv]} 新增 {self.created[lv]}、更新 {self.updated[lv]}"
                 for lv in LEVELS if self.created[lv] or self.updated[lv]]
        how = "；".join(x for x in (self.format, self.crs_text()) if x)
        enc = f"，按 {self.encoding} 编码读取" if self.encoding and self.encoding not in ("utf-8", "utf8") else ""
        fixed = f"自动修复 {len(self.repairs)} 个要素的几何（逐条列在下面）。" if self.repairs else ""
        warned = f"另有 {len(self.warnings)} 条重叠/空隙提示（不影响导入）。" if self.warnings else ""
        head = "检查通过（未写入任何数据），导入将：" if self.check_only else "导入成功："
        return (f"{head}{self.source} 共 {self.features} 个要素（{how}）{enc}；" + "；".join(parts) + "。"
                + fixed + warned)


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
                     issues: list[Issue]) -> tuple[set[str], list[Candidate]]:
    """Duplicates, parents, code consistency, containment. Returns the codes already in the database
    and the unique candidates (a city whose province is not loaded gets no parent)."""
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
            if c.parent_optional:
                c.parent_code = None  # the province is not loaded: the city stays at the top
            elif c.parent_code in all_codes:
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
        derived = in_db is not None and in_file is None and in_db.source == DERIVED_PROVINCE
        geom = in_file.geometry if in_file else (None if derived else from_text(in_db.geometry))
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
    return existing, unique


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


def _set_warnings(session: Session, unique: list[Candidate]) -> list[Issue]:
    """Overlaps between siblings and gaps between a parent and its children (file and database)."""
    by_parent: dict[str, list[Candidate]] = defaultdict(list)
    for c in unique:
        if c.parent_code:
            by_parent[c.parent_code].append(c)
    in_file = {c.code: c for c in unique}
    warnings: list[Issue] = []
    for parent_code in sorted(by_parent):
        kids = by_parent[parent_code]
        warnings.extend(sibling_overlaps(kids))
        if level_or_none(parent_code) == "province":
            continue  # a province outline is drawn at another scale (or is the union of its cities)
        parent = in_file.get(parent_code)
        if parent is not None:
            parent_geom, parent_index = parent.geometry, parent.index
        else:
            row = session.get(Region, parent_code)
            if row is None or not row.geometry:
                continue
            parent_geom, parent_index = from_text(row.geometry), None
        others = session.execute(select(Region.code, Region.geometry).where(
            Region.parent_code == parent_code, Region.geometry.is_not(None))).all()
        kept = [g for code, g in others if code not in in_file]
        geoms = [c.geometry for c in kids] + (list(from_texts(kept)) if kept else [])
        warnings.extend(children_gaps(parent_index, parent_code, parent_geom, geoms))
    return warnings


def _rows(cands: list[Candidate], source_label: str) -> list[dict]:
    rows = []
    for c in sorted(cands, key=lambda c: (LEVELS.index(c.level), c.code)):
        row = {"code": c.code, "parent_code": c.parent_code, "name": c.name, "level": c.level,
               "city_code": ancestor_at(c.code, "city") or c.code, "source": source_label,
               **region_metrics(c.geometry)}
        # Counts are written only when the file has them, so a DataV re-import keeps our figures.
        if c.population is not None:
            row["population"] = c.population
        if c.households is not None:
            row["households"] = c.households
        rows.append(row)
    return rows


def source_label(name: str, crs: str) -> str:
    conv = f"{crs_mod.LABELS.get(crs, crs)}→WGS-84" if crs != "wgs84" else "WGS-84"
    return f"{name[:70]} ({conv})"[:100]


def _resolve_crs(given: str | None, declared: str | None, fmt: str, notes: list[str], source: str = "",
                 dataset: str = "") -> tuple[str | None, str | None]:
    """(the CRS to read the file in, problem). The file's own declaration is used where it has one;
    a geographic declaration may be overridden with gcj02/bd09 (a .prj or a KML says WGS-84 even for
    Amap/Baidu coordinates, which no .prj can name); a projected one may not."""
    if given is None and declared is None:
        hint = ("DataV GeoAtlas、高德下载的文件为 gcj02，GPS/天地图为 wgs84" if fmt == "GeoJSON"
                else "如 --crs EPSG:4546（CGCS2000 3度带 中央经线 111°E）或 --crs wgs84")
        named = source + (f"（其中的 {dataset}）" if dataset and dataset != source else "")
        what = "GeoJSON 文件没有声明坐标系" if fmt == "GeoJSON" else f"{named or fmt}没有坐标系信息（缺少 .prj 文件）"
        return None, f"{what}，请用 --crs 指定（{hint}）"
    if given is None or declared is None or given == declared:
        return given or declared, None
    if declared == "wgs84" and not crs_mod.is_projected(given):
        notes.append(f"文件声明为 WGS-84 经纬度，按指定的 {crs_mod.label(given)} 读取")
        return given, None
    return None, (f"文件声明的坐标系为 {crs_mod.label(declared)}，与指定的 {crs_mod.label(given)} 不一致："
                  "投影坐标以文件自带的坐标系为准，请去掉 --crs 或改正")


def refresh_provinces(session: Session, codes: set[str]) -> None:
    """Put orphan cities under their (now loaded) province, and redraw provinces that have no
    boundary of their own as the union of their cities."""
    for code in sorted(codes):
        province = session.get(Region, code)
        if province is None:
            continue
        session.execute(update(Region).where(and_(Region.level == "city", Region.parent_code.is_(None),
                                                  code_inside(Region.code, code))).values(parent_code=code))
        if province.source != DERIVED_PROVINCE:
            continue
        texts = session.scalars(select(Region.geometry).where(
            Region.parent_code == code, Region.level == "city", Region.geometry.is_not(None))).all()
        if not texts:
            continue
        union = shapely.union_all(from_texts(list(texts)))
        for key, value in region_metrics(union).items():
            setattr(province, key, value)
        session.flush()


def import_boundaries(session: Session, source: bytes | str | Path, crs: str | None = None, *,
                      encoding: str | None = None, source_name: str | None = None, check_only: bool = False,
                      progress: Progress | None = None, layer: str | None = None,
                      fields: FieldMap | None = None) -> ImportReport:
    """Check every feature, then upsert all of them into `session`'s transaction, or none.

    `source` is a path, raw bytes (an upload: `source_name` is its file name, which tells the format)
    or GeoJSON text. `crs` is the system the coordinates are in when the file does not say (wgs84/
    cgcs2000, gcj02, bd09, or an EPSG code such as EPSG:4546); `encoding` names the attribute encoding
    when it cannot be detected; `layer` picks a GeoPackage layer or a file inside a zip; `fields` maps
    the file's attribute names. `check_only`: run every check and count what would be created or
    updated, write nothing. `progress(done, total)` is called as features are checked.
    """
    name = source_name or (source.name if isinstance(source, Path) else "上传的文件")
    report = ImportReport(source=name, check_only=check_only)
    fields = fields or FieldMap()
    try:
        given = crs_mod.parse_crs(crs) if crs else None
    except crs_mod.UnknownCRS as exc:
        report.errors.append(Issue(None, str(exc)))
        return report
    parsed = read_source(source, encoding, name=name, layer=layer, fields=fields)
    report.encoding, report.format, report.layer = parsed.encoding, parsed.format, parsed.layer
    report.features = len(parsed.features)
    report.notes.extend(parsed.notes)
    report.errors.extend(parsed.issues)
    if parsed.issues:
        return report
    report.crs, problem = _resolve_crs(given, parsed.crs, parsed.format, report.notes, name, parsed.dataset)
    if problem:
        report.errors.append(Issue(None, problem))
        return report
    geographic = not crs_mod.is_projected(report.crs)
    wrong = projected_as_degrees(parsed.features) if geographic else None
    if wrong:
        report.errors.append(wrong)
        return report

    cands: list[Candidate] = []
    all_codes: dict[str, int] = {}
    for feature in parsed.features:
        code = feature_code(feature)
        if code and code not in all_codes:
            all_codes[code] = feature.index
        cand, issues, fix = check_feature(feature, report.crs, geographic=geographic, fields=fields)
        report.errors.extend(issues)
        if cand:
            cands.append(cand)
        if fix:
            report.repairs.append(fix)
        if progress is not None:
            progress(feature.index, report.features)
    existing, unique = _check_relations(session, cands, all_codes, report.errors)
    if report.errors:
        report.errors.sort(key=lambda e: (e.index or 0))
        return report
    report.warnings = _set_warnings(session, unique)

    rows = _rows(unique, source_label(name, report.crs))
    new = [r for r in rows if r["code"] not in existing]
    old = [r for r in rows if r["code"] in existing]
    report.created.update(r["level"] for r in new)
    report.updated.update(r["level"] for r in old)
    if check_only:  # the counts say what an import would do; nothing is written
        return report
    if new:
        session.execute(insert(Region), new)
    if old:
        session.execute(update(Region), old)
    provinces = {ancestor_at(r["code"], "province") for r in rows if r["level"] in ("province", "city")}
    refresh_provinces(session, {p for p in provinces if p})
    report.boundary_version = bump_boundary_version(session)
    return report


def import_file(engine: Engine, path: str | Path, crs: str | None = None, *, encoding: str | None = None,
                layer: str | None = None, fields: FieldMap | None = None, check_only: bool = False,
                progress: Progress | None = None) -> ImportReport:
    """Import one file in its own transaction (`check_only`: a read-only one, nothing written)."""
    with session_scope(engine, readonly=check_only) as session:
        return import_boundaries(session, Path(path), crs, encoding=encoding, layer=layer, fields=fields,
                                 check_only=check_only, progress=progress)


def subtree_query(root: Region):
    """SELECT of a region and everything below it."""
    return select(Region).where(code_inside(Region.code, root.code))


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
