"""Decode and parse a boundary file into a list of GeoJSON features, or say in Chinese why not.

Only file-level problems are found here (encoding, JSON syntax, not a FeatureCollection, empty,
a projected CRS declared in the file). Each feature is judged later, in boundary_checks.
"""
from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Issue:
    """One problem. `index` is the 1-based feature number, None for the file as a whole."""

    index: int | None
    message: str

    def line(self) -> str:
        return f"第{self.index}个要素：{self.message}" if self.index else f"文件：{self.message}"


@dataclass
class ParsedFile:
    features: list
    encoding: str  # what the text was decoded as
    issues: list[Issue]


# Geographic CRSs a file may declare (old-style GeoJSON "crs" member). Anything else is projected.
_GEOGRAPHIC_CRS = re.compile(r"(CRS84|EPSG:+4326|EPSG:+4490|EPSG:+4610|EPSG:+4214)\b", re.I)


def _decode(raw: bytes, encoding: str | None) -> tuple[str | None, str, Issue | None]:
    """Text, the encoding used, or an issue. UTF-8 is required unless the caller names another
    encoding: guessing GBK silently would turn a mis-saved file into wrong names without a word."""
    if raw.startswith(codecs.BOM_UTF16_LE) or raw.startswith(codecs.BOM_UTF16_BE):
        return None, "utf-16", Issue(None, "是 UTF-16 编码，请另存为 UTF-8 后重新导入")
    if encoding:
        try:
            return raw.decode(encoding), encoding, None
        except LookupError:
            return None, encoding, Issue(None, f"未知的文件编码 {encoding!r}")
        except UnicodeDecodeError as exc:
            return None, encoding, Issue(None, f"文件无法按 {encoding} 解码（第 {exc.start + 1} 字节）")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return raw.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError as exc:
        try:
            raw.decode("gb18030")
        except UnicodeDecodeError:
            return None, "unknown", Issue(
                None, f"不是 UTF-8 编码（第 {exc.start + 1} 字节无法解码），请另存为 UTF-8 后重新导入")
        return None, "gbk", Issue(
            None, "不是 UTF-8 编码，看起来是 GBK/GB18030 编码（常见于 Windows 中文版软件导出的文件）。"
                  "请另存为 UTF-8 后重新导入，或加参数 --encoding gbk 明确按 GBK 读取")


_JSON_STRING = re.compile(r'"(?:\\.|[^"\\])*"')


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


def _declared_crs_issue(doc: dict) -> Issue | None:
    crs = doc.get("crs")
    if not crs:
        return None
    name = str((crs.get("properties") or {}).get("name", "")) if isinstance(crs, dict) else str(crs)
    if _GEOGRAPHIC_CRS.search(name):
        return None
    return Issue(None, f"声明的坐标系为 {name or crs!r}，不是经纬度坐标。"
                       "本系统只接受经纬度（wgs84/cgcs2000、gcj02、bd09），请先转换为经纬度")


def parse_text(text: str, encoding: str = "utf-8") -> ParsedFile:
    if not text.strip():
        return ParsedFile([], encoding, [Issue(None, "内容为空")])
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return ParsedFile([], encoding, [_json_issue(text, exc)])
    if not isinstance(doc, dict):
        return ParsedFile([], encoding, [Issue(None, "不是 GeoJSON：顶层应为 FeatureCollection 对象")])
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
        return ParsedFile([], encoding, [Issue(None, f"不是 GeoJSON FeatureCollection：{why}")])
    features = doc.get("features")
    if not isinstance(features, list):
        return ParsedFile([], encoding, [Issue(None, "不是 GeoJSON：features 字段缺失或不是数组")])
    issues = [i for i in [_declared_crs_issue(doc)] if i]
    if not features:
        issues.append(Issue(None, "FeatureCollection 中没有任何要素（空文件）"))
    return ParsedFile(features, encoding, issues)


def read_source(source: bytes | str | Path, encoding: str | None = None) -> ParsedFile:
    """`source` is a path, raw bytes, or already-decoded text."""
    if isinstance(source, Path):
        try:
            raw = source.read_bytes()
        except OSError as exc:
            return ParsedFile([], "", [Issue(None, f"无法读取文件 {source}：{exc.strerror or exc}")])
    elif isinstance(source, str):
        return parse_text(source)
    else:
        raw = source
    text, used, issue = _decode(raw, encoding)
    if issue:
        return ParsedFile([], used, [issue])
    return parse_text(text, used)
