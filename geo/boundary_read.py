"""Read a boundary, grid or base-layer file into features (attributes + geometry in the file's own
coordinate system), or say in Chinese why not. Every format goes through GDAL (pyogrio), so there is
one reading path and no hand-written parser:

- GeoJSON (DataV GeoAtlas and our own export), as a file, bytes or text;
- ESRI Shapefile, unzipped (the .shp beside its .dbf/.shx/.prj/.cpg) or as a .zip;
- GeoPackage (a layer is chosen by `layer`, or the only polygon layer);
- KML / KMZ (奥维互动地图, Google Earth): every folder's placemarks, in order.

GeoJSON text is also parsed with the json module first, only to say precisely what is wrong with a
broken file (cut short, not a FeatureCollection, a declared "crs" member) — GDAL's own messages are
English and vague.

Attribute encodings: a Shapefile's .cpg (or its DBF header) is honoured; otherwise UTF-8 is tried, then
GB18030 (a superset of GBK), and the report says which was used. Only file-level problems are found
here; each feature is judged later, in boundary_checks.
"""
from __future__ import annotations

import codecs
import json
import math
import re
import tempfile
import tomllib
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from geo import crs as crs_mod

# Zip members bigger than this in total are refused before extraction (a zip bomb stops here).
MAX_UNZIPPED_BYTES = 2 * 1024 ** 3
_VECTOR_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".kml", ".kmz")
FORMAT_NAMES = {".shp": "Shapefile", ".gpkg": "GeoPackage", ".geojson": "GeoJSON", ".json": "GeoJSON",
                ".kml": "KML", ".kmz": "KMZ", ".zip": "Shapefile（zip）"}
_POLYGONAL_TYPES = ("Polygon", "MultiPolygon", "Polygon Z", "MultiPolygon Z", "3D Polygon", "3D MultiPolygon",
                    "Unknown", "GeometryCollection", "3D GeometryCollection")


@dataclass(frozen=True)
class Issue:
    """One problem. `index` is the 1-based feature number, None for the file as a whole."""

    index: int | None
    message: str

    def line(self) -> str:
        return f"第{self.index}个要素：{self.message}" if self.index else f"文件：{self.message}"


@dataclass(frozen=True)
class FieldMap:
    """Which attribute holds what. None = the defaults: code ← code/adcode, name ← name,
    parent ← parent_code/parent/acroutes (DataV), level ← level, population, households. Names match
    case-insensitively when no exact match exists (DBF field names are often upper case)."""

    code: str | None = None
    name: str | None = None
    parent: str | None = None
    level: str | None = None
    population: str | None = None
    households: str | None = None
    klass: str | None = None  # base layers: the feature's class (road grade, water type)

    KEYS = ("code", "name", "parent", "level", "population", "households", "klass")
    OPTIONS = {"code": "--code-field", "name": "--name-field", "parent": "--parent-field",
               "level": "--level-field", "population": "--population-field", "households": "--households-field",
               "klass": "--class-field"}

    @classmethod
    def from_file(cls, path: str | Path) -> FieldMap:
        """A mapping file: TOML with a [fields] table, e.g. `code = "XZQDM"`. ValueError (Chinese)."""
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"字段对应文件 {path} 无法读取：{exc}") from None
        table = raw.get("fields", raw)
        unknown = [k for k in table if k not in cls.KEYS]
        if unknown or not all(isinstance(v, str) and v for v in table.values()):
            raise ValueError(f"字段对应文件 {path} 的 [fields] 只能有 {', '.join(cls.KEYS)}，值为字段名"
                             + (f"（多余：{', '.join(unknown)}）" if unknown else ""))
        return cls(**table)

    def merged(self, other: FieldMap) -> FieldMap:
        """`other`'s fields where set, else ours (command-line flags over a mapping file)."""
        return FieldMap(**{k: getattr(other, k) or getattr(self, k) for k in self.KEYS})

    @property
    def declared(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in self.KEYS if getattr(self, k)}


@dataclass
class SourceFeature:
    index: int  # 1-based, in file order
    props: dict  # canonical keys (FieldMap.KEYS) → plain Python values, None when absent
    geometry: Any  # shapely geometry in the file's coordinates, or None
    problem: str | None = None  # a structural problem found while reading this feature


@dataclass
class ParsedFile:
    features: list[SourceFeature]
    encoding: str  # what the attributes were decoded as
    issues: list[Issue]
    crs: str | None = None  # canonical CRS the file declares (geo.crs.parse_crs), None when it declares none
    format: str = ""
    layer: str | None = None
    fields: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how encoding and layer were chosen
    dataset: str = ""  # the file actually read (inside a zip: the member's name)

    @classmethod
    def failed(cls, message: str, encoding: str = "", fmt: str = "") -> ParsedFile:
        return cls([], encoding, [Issue(None, message)], format=fmt)


# -- GeoJSON text: precise messages for broken files ---------------------------------------------------

_JSON_STRING = re.compile(r'"(?:\\.|[^"\\])*"')


def _decode(raw: bytes, encoding: str | None) -> tuple[str | None, str, Issue | None, str | None]:
    """(text, encoding used, issue, note). UTF-8 first, then GB18030 (a superset of GBK) with a note
    saying so, unless the caller names the encoding."""
    if raw.startswith(codecs.BOM_UTF16_LE) or raw.startswith(codecs.BOM_UTF16_BE):
        return None, "utf-16", Issue(None, "是 UTF-16 编码，请另存为 UTF-8 后重新导入"), None
    if encoding:
        try:
            return raw.decode(encoding), encoding, None, None
        except LookupError:
            return None, encoding, Issue(None, f"未知的文件编码 {encoding!r}"), None
        except UnicodeDecodeError as exc:
            return None, encoding, Issue(None, f"文件无法按 {encoding} 解码（第 {exc.start + 1} 字节）"), None
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return raw.decode("utf-8"), "utf-8", None, None
    except UnicodeDecodeError as exc:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            return None, "unknown", Issue(
                None, f"既不是 UTF-8 也不是 GBK/GB18030 编码（第 {exc.start + 1} 字节无法解码），"
                      "请另存为 UTF-8 后重新导入"), None
        return text, "gb18030", None, "文件不是 UTF-8 编码，已按 GBK/GB18030 读取（常见于 Windows 中文版软件导出的文件）"


def _looks_truncated(text: str, exc: json.JSONDecodeError) -> bool:
    """The text stops inside a string or with brackets still open: it was cut short, as opposed to
    being malformed in the middle."""
    if exc.pos >= len(text.rstrip()):
        return True
    bare = _JSON_STRING.sub("", text)
    if bare.count('"') % 2:
        return True
    return bare.count("{") > bare.count("}") or bare.count("[") > bare.count("]")


def _json_issue(text: str, exc: json.JSONDecodeError) -> Issue:
    where = f"第 {exc.lineno} 行第 {exc.colno} 列"
    if _looks_truncated(text, exc):
        return Issue(None, f"JSON 不完整（解析到{where}出错）：文件可能在下载或复制时被截断")
    return Issue(None, f"不是有效的 JSON：{where}有语法错误（{exc.msg}）")


def _geojson_doc(text: str) -> tuple[dict | None, Issue | None]:
    if not text.strip():
        return None, Issue(None, "内容为空")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, _json_issue(text, exc)
    if not isinstance(doc, dict):
        return None, Issue(None, "不是 GeoJSON：顶层应为 FeatureCollection 对象")
    kind = doc.get("type")
    if kind != "FeatureCollection":
        if kind == "Feature":
            why = "是单个 Feature，请放入 FeatureCollection 中"
        elif kind in ("Polygon", "MultiPolygon", "Point", "LineString", "GeometryCollection"):
            why = f"只有一个 {kind} 几何，没有属性（区划代码、名称），应为 FeatureCollection"
        elif kind is None:
            why = "缺少 type 字段，应为 FeatureCollection"
        else:
            why = f"type 为 {kind!r}，应为 FeatureCollection"
        return None, Issue(None, f"不是 GeoJSON FeatureCollection：{why}")
    features = doc.get("features")
    if not isinstance(features, list):
        return None, Issue(None, "不是 GeoJSON：features 字段缺失或不是数组")
    if not features:
        return None, Issue(None, "FeatureCollection 中没有任何要素（空文件）")
    bad = [i for i, f in enumerate(features, start=1) if not isinstance(f, dict) or f.get("type") != "Feature"]
    if bad:
        shown = "、".join(f"第{i}个" for i in bad[:10]) + ("…" if len(bad) > 10 else "")
        return None, Issue(None, f"{shown}要素不是 GeoJSON Feature 对象")
    return doc, None


def _declared_geojson_crs(doc: dict) -> tuple[str | None, Issue | None]:
    """The old-style GeoJSON "crs" member, if any (RFC 7946 files declare none: WGS-84 is implied, but
    DataV files are GCJ-02 all the same, so an undeclared GeoJSON needs the caller's --crs)."""
    member = doc.get("crs")
    if not member:
        return None, None
    name = str((member.get("properties") or {}).get("name", "")) if isinstance(member, dict) else str(member)
    name = re.sub(r"^urn:ogc:def:crs:(EPSG)::?", r"\1:", name.strip(), flags=re.I)
    if re.fullmatch(r"(urn:ogc:def:crs:)?OGC:?1\.3:?CRS84", name, flags=re.I) or name.upper() == "CRS84":
        return "wgs84", None
    try:
        return crs_mod.parse_crs(name), None
    except crs_mod.UnknownCRS:
        return None, Issue(None, f"声明的坐标系 {name!r} 无法识别，请去掉 crs 字段并用 --crs 指定")


# -- container handling: zip, temporary files -----------------------------------------------------------

def _member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its author wrote it: zips made on Chinese Windows store GBK names without
    the UTF-8 flag, which Python reads as CP437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _extract(archive: Path, target: Path, label: str) -> str | None:
    """Extract `archive` into `target` (names made safe). Returns a Chinese problem, or None."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            if sum(i.file_size for i in infos) > MAX_UNZIPPED_BYTES:
                return f"压缩包 {label} 解压后超过 {MAX_UNZIPPED_BYTES // 1024 ** 3} GB，请拆分后导入"
            for info in infos:
                parts = [p for p in PurePosixPath(_member_name(info).replace("\\", "/")).parts
                         if p not in ("", ".", "..", "/")]
                if not parts:
                    continue
                out = target.joinpath(*parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        return f"压缩包 {label} 不完整或已损坏（{exc}）：可能在下载或复制时被截断，请重新获取原文件"
    except (OSError, ValueError) as exc:  # CRC errors surface as these while reading a cut member
        return f"压缩包 {label} 无法解压（{exc}）：可能在下载或复制时被截断，请重新获取原文件"
    return None


def _pick_member(folder: Path, label: str, layer: str | None) -> tuple[Path | None, str | None]:
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _VECTOR_SUFFIXES and p.is_file()
                   and not p.name.startswith("._"))
    if layer and len(found) > 1:
        named = [p for p in found if p.stem == layer]
        if len(named) == 1:
            return named[0], None
    if not found:
        return None, f"压缩包 {label} 中没有 Shapefile（.shp）、GeoPackage、GeoJSON 或 KML 文件"
    if len(found) > 1:
        names = "、".join(p.name for p in found[:12])
        return None, f"压缩包 {label} 中有多个数据文件（{names}），请用 --layer 指定其中一个（不带扩展名）"
    return found[0], None


def _sniff(raw: bytes) -> str:
    head = raw[:512].lstrip()
    if raw.startswith(b"PK\x03\x04") or raw.startswith(b"PK\x05\x06"):
        return ".zip"
    if raw.startswith(b"SQLite format 3\x00"):
        return ".gpkg"
    if head.startswith(b"<?xml") or b"<kml" in head[:400]:
        return ".kml"
    return ".geojson"


@contextmanager
def _on_disk(source: bytes | Path, name: str, layer: str | None) -> Iterator[tuple[Path | None, str | None]]:
    """(path of the dataset to open, problem): a zip is extracted, bytes are written to a temporary
    file named like the upload, so GDAL sees the usual layout."""
    with tempfile.TemporaryDirectory(prefix="cityops-import-") as tmp:
        tmp_dir = Path(tmp)
        if isinstance(source, Path):
            path = source
        else:
            suffix = Path(name).suffix.lower()
            if suffix not in (*_VECTOR_SUFFIXES, ".zip"):
                suffix = _sniff(source)
            path = tmp_dir / f"upload{suffix}"
            path.write_bytes(source)
        if path.suffix.lower() in (".zip", ".kmz"):  # a KMZ is a zip holding doc.kml (and its images)
            unpacked = tmp_dir / "unzipped"
            problem = _extract(path, unpacked, name)
            if problem:
                yield None, problem
                return
            yield _pick_member(unpacked, name, layer)
            return
        yield path, None


# -- reading through GDAL ------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """A value from a GeoDataFrame cell as plain Python (None for missing)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and math.isnan(value) else value
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _lookup(columns: list[str], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    lower = {c.lower(): c for c in columns}
    return lower.get(wanted.lower())


_DEFAULTS = {"code": ("code", "adcode"), "name": ("name",), "parent": ("parent_code", "parent", "acroutes"),
             "level": ("level",), "population": ("population",), "households": ("households",),
             "klass": ("class", "fclass", "highway", "type")}


def _resolve_fields(columns: list[str], fields: FieldMap, required: tuple[str, ...] = ("code", "name")
                    ) -> tuple[dict[str, list[str]], list[str]]:
    """key → source columns to try in order; problems for declared fields that do not exist."""
    problems = []
    chosen: dict[str, list[str]] = {}
    shown = "、".join(columns) or "（无）"
    for key in FieldMap.KEYS:
        declared = getattr(fields, key)
        if declared:
            col = _lookup(columns, declared)
            if col is None:
                problems.append(f"没有字段 {declared}（{FieldMap.OPTIONS[key]}）；文件中的字段有：{shown}")
            else:
                chosen[key] = [col]
        else:
            chosen[key] = [c for c in (_lookup(columns, d) for d in _DEFAULTS[key]) if c]
    if not problems:
        missing = [(k, label) for k, label in (("code", "区划代码字段（code 或 adcode）"), ("name", "名称字段（name）"))
                   if k in required and not chosen[k]]
        if missing:
            flags = "、".join(FieldMap.OPTIONS[k] for k, _ in missing)
            problems.append(f"没有{'和'.join(label for _, label in missing)}；文件中的字段有：{shown}。"
                            f"请用 {flags} 指定所在的字段，如 {FieldMap.OPTIONS[missing[0][0]]} "
                            f"{columns[0] if columns else 'XZQDM'}")
    return chosen, problems


def _parent_value(value: Any, column: str) -> Any:
    """DataV's parent is {"adcode": …} (or its JSON text); acroutes lists the ancestors, the parent last."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, dict):
        return value.get("adcode", value.get("code"))
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _canonical(row: dict, chosen: dict[str, list[str]]) -> dict:
    out = {}
    for key, columns in chosen.items():
        value = None
        for col in columns:
            value = _plain(row.get(col))
            if key == "parent":
                value = _parent_value(value, col)
            if value not in (None, ""):
                break
        out[key] = value
    return out


def _layers(path: Path) -> list[tuple[str, str]]:
    return [(str(n), str(t)) for n, t in pyogrio.list_layers(path)]


def _read_layer(path: Path, layer: str | None, encoding: str | None):  # noqa: ANN202 - GeoDataFrame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's notes on odd values: we judge them ourselves
        return pyogrio.read_dataframe(path, layer=layer, encoding=encoding)


def _shapefile_encoding(path: Path, layer: str | None) -> tuple[list[str | None], str | None]:
    """Encodings to try, in order, and a note on why. GDAL honours a .cpg (and a DBF header's code
    page) itself; without either it would read Latin-1, which garbles every Chinese name."""
    cpg = next((p for p in path.parent.glob(path.stem + ".*") if p.suffix.lower() == ".cpg"), None)
    declared = str(pyogrio.read_info(path, layer=layer).get("encoding") or "")
    if cpg is not None:
        named = cpg.read_text(encoding="ascii", errors="replace").strip()[:40]
        return [None], f"属性按 .cpg 文件声明的 {named} 编码读取"
    if declared and declared.upper() not in ("ISO-8859-1", "LATIN1", ""):
        return [None], "属性按 DBF 文件头声明的代码页读取"
    return ["UTF-8", "GB18030"], None


def _read_frame(path: Path, fmt: str, layer: str | None, encoding: str | None):  # noqa: ANN202
    """(GeoDataFrame | None, encoding used, notes, layer used, issue)."""
    notes: list[str] = []
    suffix = path.suffix.lower()
    if suffix == ".shp":
        missing = [ext for ext in (".dbf", ".shx") if not any(
            p.suffix.lower() == ext for p in path.parent.glob(path.stem + ".*"))]
        if ".dbf" in missing:
            return None, "", notes, None, f"{path.name} 缺少同名的 .dbf 属性表文件（Shapefile 至少需要 .shp、.shx、.dbf）"
        if ".shx" in missing:
            return None, "", notes, None, f"{path.name} 缺少同名的 .shx 索引文件（Shapefile 至少需要 .shp、.shx、.dbf）"
    layers = _layers(path)
    if suffix in (".kml", ".kmz") and layer is None:
        frames = []
        for name, _ in layers:
            frames.append(_read_layer(path, name, None))
        frame = pd.concat(frames, ignore_index=True) if frames else None
        if len(layers) > 1:
            notes.append(f"KML 的 {len(layers)} 个文件夹按顺序合并读取")
        return frame, "utf-8", notes, None, None if frame is not None else "KML 中没有任何要素"
    if layer is not None and layer not in [n for n, _ in layers]:
        return None, "", notes, None, f"没有名为 {layer} 的图层；文件中的图层有：{'、'.join(n for n, _ in layers)}"
    if layer is None and len(layers) > 1:
        polygonal = [n for n, t in layers if t in _POLYGONAL_TYPES]
        if len(polygonal) != 1:
            names = "、".join(f"{n}（{t}）" for n, t in layers)
            return None, "", notes, None, f"{fmt} 中有多个图层：{names}。请用 --layer 指定要导入的图层"
        layer = polygonal[0]
        notes.append(f"读取唯一的面图层 {layer}")
    tries: list[str | None] = [encoding] if encoding else [None]
    if suffix == ".shp" and not encoding:
        tries, note = _shapefile_encoding(path, layer)
        if note:
            notes.append(note)
    last: Exception | None = None
    for enc in tries:
        try:
            frame = _read_layer(path, layer, enc)
        except UnicodeDecodeError as exc:
            last = exc
            continue
        used = (enc or "utf-8").lower()
        if suffix == ".shp" and len(tries) > 1:
            notes.append("属性表未声明编码（无 .cpg），按 UTF-8 读取" if enc == "UTF-8"
                         else "属性表未声明编码（无 .cpg），不是 UTF-8，已按 GBK/GB18030 读取")
        return frame, used, notes, layer, None
    return None, "", notes, layer, f"属性表既不是 UTF-8 也不是 GBK/GB18030 编码（{last}），请用 --encoding 指定"


def _declared_crs(path: Path, layer: str | None, fmt: str) -> tuple[str | None, str | None]:
    """(canonical CRS the dataset declares, problem)."""
    suffix = path.suffix.lower()
    if suffix in (".kml", ".kmz"):
        return "wgs84", None  # KML is longitude/latitude on WGS-84 by definition
    try:
        raw = pyogrio.read_info(path, layer=layer).get("crs")
    except (DataSourceError, DataLayerError):
        return None, None
    if not raw:
        return None, None
    try:
        return crs_mod.parse_crs(raw), None
    except crs_mod.UnknownCRS:
        return None, f"{fmt} 声明的坐标系无法识别（{str(raw)[:80]}），请用 --crs 指定 EPSG 代码"


def _features(frame, fields: FieldMap, json_features: list | None, required: tuple[str, ...]  # noqa: ANN001
              ) -> tuple[list[SourceFeature], list[str], list[str]]:
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    chosen, problems = _resolve_fields(columns, fields, required)
    if problems:
        return [], columns, problems
    records = frame.drop(columns=frame.geometry.name).to_dict("records")
    geoms = frame.geometry.array
    out = []
    for i, (row, geom) in enumerate(zip(records, geoms), start=1):
        problem = None
        if geom is not None and shapely.get_coordinate_dimension(geom) > 2:
            geom = shapely.force_2d(geom)
        if geom is None and json_features is not None and json_features[i - 1].get("geometry") is not None:
            problem = "几何结构不合法：坐标无法解析"
        out.append(SourceFeature(i, _canonical(row, chosen), geom, problem))
    return out, columns, []


def read_source(source: bytes | str | Path, encoding: str | None = None, *, name: str | None = None,
                layer: str | None = None, fields: FieldMap | None = None,
                required: tuple[str, ...] = ("code", "name")) -> ParsedFile:
    """`source` is a path, raw bytes (an upload; `name` says what it was called), or GeoJSON text.
    `required`: the attributes the file must have (a boundary file: its code and name)."""
    fields = fields or FieldMap()
    label = name or (source.name if isinstance(source, Path) else "上传的文件")
    if isinstance(source, Path) and not source.exists():
        return ParsedFile.failed(f"找不到文件 {source}")
    if isinstance(source, Path) and source.is_dir():
        shp = sorted(source.glob("*.shp"))
        if len(shp) != 1:
            return ParsedFile.failed(f"{source} 是文件夹：请指定其中的 .shp 文件")
        source = shp[0]
    suffix = source.suffix.lower() if isinstance(source, Path) else (
        ".geojson" if isinstance(source, str) else Path(label).suffix.lower())
    if isinstance(source, bytes) and suffix not in (*_VECTOR_SUFFIXES, ".zip"):
        suffix = _sniff(source)
    if isinstance(source, Path) and suffix not in (*_VECTOR_SUFFIXES, ".zip"):
        return ParsedFile.failed(f"不支持的文件类型 {source.suffix or '（无扩展名）'}：可导入 GeoJSON（.geojson/.json）、"
                                 "Shapefile（.shp 或 .zip）、GeoPackage（.gpkg）、KML/KMZ")

    if suffix in (".geojson", ".json"):
        return _read_geojson(source, encoding, label, fields, required)
    try:
        with _on_disk(source, label, layer) as (path, problem):
            if problem:
                return ParsedFile.failed(problem, fmt=FORMAT_NAMES.get(suffix, ""))
            if path.suffix.lower() in (".geojson", ".json"):
                return _read_geojson(path, encoding, label, fields, required)
            inner_layer = None if path.stem == layer and Path(label).suffix.lower() == ".zip" else layer
            return _read_dataset(path, encoding, label, inner_layer, fields, required)
    except (DataSourceError, DataLayerError) as exc:
        return ParsedFile.failed(f"{label} 无法读取（{_gdal_reason(exc)}）：文件可能不完整或不是所说的格式",
                                 fmt=FORMAT_NAMES.get(suffix, ""))


def _gdal_reason(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _read_dataset(path: Path, encoding: str | None, label: str, layer: str | None, fields: FieldMap,
                  required: tuple[str, ...]) -> ParsedFile:
    fmt = FORMAT_NAMES.get(path.suffix.lower(), path.suffix)
    frame, used, notes, layer, problem = _read_frame(path, fmt, layer, encoding)
    if problem:
        return ParsedFile([], used, [Issue(None, problem)], format=fmt, layer=layer, notes=notes)
    declared, crs_problem = _declared_crs(path, layer, fmt)
    issues = [Issue(None, crs_problem)] if crs_problem else []
    if frame is None or frame.empty:
        issues.append(Issue(None, f"{fmt} 中没有任何要素（空文件）"))
        return ParsedFile([], used, issues, crs=declared, format=fmt, layer=layer, notes=notes)
    features, columns, problems = _features(frame, fields, None, required)
    issues += [Issue(None, p) for p in problems]
    return ParsedFile(features, used, issues, crs=declared, format=fmt, layer=layer, fields=columns, notes=notes,
                      dataset=path.name)


def _read_geojson(source: bytes | str | Path, encoding: str | None, label: str, fields: FieldMap,
                  required: tuple[str, ...]) -> ParsedFile:
    fmt = "GeoJSON"
    notes: list[str] = []
    if isinstance(source, str):
        text, used = source, "utf-8"
    else:
        if isinstance(source, Path):
            try:
                raw = source.read_bytes()
            except OSError as exc:
                return ParsedFile.failed(f"无法读取文件 {source}：{exc.strerror or exc}", fmt=fmt)
        else:
            raw = source
        text, used, issue, note = _decode(raw, encoding)
        if issue:
            return ParsedFile([], used, [issue], format=fmt)
        if note:
            notes.append(note)
    doc, issue = _geojson_doc(text)
    if issue:
        return ParsedFile([], used, [issue], format=fmt, notes=notes)
    declared, crs_issue = _declared_geojson_crs(doc)
    issues = [crs_issue] if crs_issue else []
    try:
        frame = _read_layer(text.encode("utf-8"), None, None)
    except (DataSourceError, DataLayerError) as exc:
        return ParsedFile([], used, [Issue(None, f"GeoJSON 无法读取（{_gdal_reason(exc)}）")], format=fmt, notes=notes)
    if len(frame) != len(doc["features"]):
        return ParsedFile([], used, [Issue(None, f"GeoJSON 有 {len(doc['features'])} 个要素，只能读出 {len(frame)} 个："
                                                 "请检查文件结构")], format=fmt, notes=notes)
    features, columns, problems = _features(frame, fields, doc["features"], required)
    issues += [Issue(None, p) for p in problems]
    return ParsedFile(features, used, issues, crs=declared, format=fmt, fields=columns, notes=notes)
