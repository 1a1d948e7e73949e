"""Upload safety for photo uploads and every importer: size limit, type by content, safe file names.

The declared name and browser MIME type are never trusted: the type is decided from the first bytes
(magic numbers) and, for images, by Pillow actually parsing the header (a renamed script is not a
JPEG). Containers (xlsx, zip) are checked for decompression bombs before anyone opens them.
"""
from __future__ import annotations

import io
import re
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import settings

# Kind → accepted formats. Callers pass one or more kinds (or formats) they accept.
KINDS: dict[str, frozenset[str]] = {
    "image": frozenset({"jpeg", "png", "webp"}),
    "table": frozenset({"xlsx", "csv"}),
    "geodata": frozenset({"geojson", "zip", "gpkg"}),
    "document": frozenset({"pdf"}),
}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "xlsx": ".xlsx", "csv": ".csv",
              "geojson": ".geojson", "zip": ".zip", "gpkg": ".gpkg", "pdf": ".pdf"}
FORMAT_NAMES = {"jpeg": "JPEG 图片", "png": "PNG 图片", "webp": "WebP 图片", "xlsx": "Excel (.xlsx)",
                "csv": "CSV 文本", "geojson": "GeoJSON", "zip": "ZIP 压缩包", "gpkg": "GeoPackage", "pdf": "PDF"}
MAX_IMAGE_PIXELS = 50_000_000      # a 50-megapixel photo is plenty; larger is likely a pixel bomb
MAX_UNZIPPED_FACTOR = 20          # a container may unpack to at most 20 × the upload limit
MAX_ZIP_ENTRIES = 10_000
_NAME_MAX = 100
_UNSAFE_NAME_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


class UploadRejected(ValueError):
    """The upload was refused; the message (Chinese) says why."""


@dataclass(frozen=True)
class CheckedUpload:
    format: str          # jpeg / png / webp / xlsx / csv / geojson / zip / gpkg / pdf
    safe_name: str       # sanitised original name, with the extension of the detected format
    size: int            # bytes


def max_bytes() -> int:
    return int(float(settings.get_settings()["app"].get("upload_max_mb", 10)) * 1024 * 1024)


def sanitize_filename(name: str | None, fallback: str = "file") -> str:
    """A file name safe to show and store: no directories, no control or reserved characters, no
    leading dots, at most 100 characters (extension kept). Chinese characters stay."""
    text = unicodedata.normalize("NFKC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]        # drop any client-side directory
    text = _UNSAFE_NAME_CHARS.sub("_", text)
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    text = re.sub(r"\s+", " ", text).strip(" .")
    text = text.lstrip(".")
    if not text or set(text) <= {"_", "."}:
        text = fallback
    stem, dot, ext = text.rpartition(".")
    if dot and 0 < len(ext) <= 10 and stem:
        ext = "." + ext.lower()
        text = stem[: _NAME_MAX - len(ext)].rstrip(" .") + ext
    else:
        text = text[:_NAME_MAX]
    return text


def _sniff(data: bytes) -> str | None:
    """Format from the leading bytes (and, for text, from decodability)."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"PK\x03\x04"):
        return "zip"  # refined to xlsx by _zip_kind
    if b"\x00" in data[:8192]:
        return None  # binary of a kind we do not accept
    return "text"


def _decode_text(data: bytes) -> str | None:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _check_zip(data: bytes, limit: int) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                raise UploadRejected(f"压缩包内文件过多（{len(infos)} 个）")
            total = sum(i.file_size for i in infos)
            names = {i.filename for i in infos}
    except zipfile.BadZipFile as exc:
        raise UploadRejected("文件已损坏：不是有效的压缩包") from exc
    if total > limit * MAX_UNZIPPED_FACTOR:
        raise UploadRejected("压缩包解压后体积异常（疑似压缩炸弹），已拒绝")
    if any(n.startswith("/") or ".." in n.replace("\\", "/").split("/") for n in names):
        raise UploadRejected("压缩包含有不安全的路径")
    if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
        return "xlsx"
    return "zip"


def _check_image(data: bytes, fmt: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            actual = (img.format or "").lower()
            if width * height > MAX_IMAGE_PIXELS:
                raise UploadRejected(f"图片像素过大（{width}×{height}）")
            img.verify()
    except UploadRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UploadRejected("图片文件已损坏或格式不正确") from exc
    if actual != fmt:
        raise UploadRejected("图片内容与格式不符")


def _text_format(data: bytes, allowed: frozenset[str]) -> str | None:
    text = _decode_text(data)
    if text is None:
        raise UploadRejected("文本文件编码无法识别（请使用 UTF-8 或 GBK）")
    stripped = text.lstrip()
    if "geojson" in allowed and stripped.startswith("{"):
        return "geojson"
    if "csv" in allowed:
        return "csv"
    return None


def _allowed_formats(accept: tuple[str, ...]) -> frozenset[str]:
    out: set[str] = set()
    for item in accept:
        if item in KINDS:
            out |= KINDS[item]
        elif item in EXTENSIONS:
            out.add(item)
        else:
            raise ValueError(f"unknown upload kind or format {item!r}")
    return frozenset(out)


def check_upload(data: bytes, filename: str | None, *accept: str, max_size: int | None = None) -> CheckedUpload:
    """Check an upload against the size limit and the accepted kinds/formats ("image", "table",
    "geodata", "document", or formats like "csv"). Returns the detected format and a safe name, or
    raises UploadRejected with a Chinese message."""
    allowed = _allowed_formats(accept or ("image",))
    limit = max_size if max_size is not None else max_bytes()
    size = len(data)
    if size == 0:
        raise UploadRejected("文件为空")
    if size > limit:
        raise UploadRejected(f"文件过大：{size / 1048576:.1f} MB，上限 {limit / 1048576:.0f} MB")
    fmt = _sniff(data)
    if fmt == "zip":
        fmt = _check_zip(data, limit)
    elif fmt == "text":
        fmt = _text_format(data, allowed)
    accepted = "、".join(FORMAT_NAMES[f] for f in sorted(allowed))
    if fmt is None or fmt not in allowed:
        raise UploadRejected(f"文件类型不支持，仅接受：{accepted}")
    if fmt in KINDS["image"]:
        _check_image(data, fmt)
    stem = sanitize_filename(filename).rsplit(".", 1)[0] if filename else "file"
    return CheckedUpload(format=fmt, safe_name=sanitize_filename(stem + EXTENSIONS[fmt]), size=size)


def upload_root() -> Path:
    root = Path(settings.get_settings()["app"].get("upload_dir", "data/uploads"))
    return root if root.is_absolute() else settings.ROOT / root


def save_upload(data: bytes, checked: CheckedUpload, subdir: str) -> str:
    """Store checked bytes under the upload directory with a fresh unique name; returns the path
    relative to the upload root (what a row should store). The original name never becomes a
    path: only the sanitised name follows the random prefix."""
    sub = sanitize_filename(subdir, fallback="misc")
    root = upload_root().resolve()
    target_dir = (root / sub).resolve()
    if root not in target_dir.parents and target_dir != root:
        raise UploadRejected("上传目录无效")
    target_dir.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex[:12]}_{checked.safe_name}"
    path = target_dir / name
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic: a reader never sees half a file
    return f"{sub}/{name}"
