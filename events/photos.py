"""Case photos: checked (JPEG/PNG by magic bytes, decodable, size limit), stored under [app].upload_dir
with generated names, and removed again if the transaction that referenced them rolls back.

The client's file name is never used as a path: files are named <event>-<random>.<ext> from the
detected type; the original name is kept (sanitised) in the metadata for display only.
"""
from __future__ import annotations

import io
import re
import secrets
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

import settings

MAGIC = {b"\xff\xd8\xff": ("jpg", "image/jpeg", "JPEG"), b"\x89PNG\r\n\x1a\n": ("png", "image/png", "PNG")}


class PhotoError(ValueError):
    """A photo was refused; the message names the file and the reason (Chinese)."""


def max_photos() -> int:
    return int(settings.get_settings().get("events", {}).get("max_photos", 3))


def max_photo_mb() -> float:
    return float(settings.get_settings()["app"].get("upload_max_mb", 10))


def photo_rules() -> str:
    """The rules as a form states them next to the upload field, e.g. "JPEG/PNG，每张不超过 10 MB，最多 3 张"."""
    return f"JPEG/PNG，每张不超过 {max_photo_mb():g} MB，最多 {max_photos()} 张"


def upload_root() -> Path:
    root = Path(settings.get_settings()["app"].get("upload_dir", "data/uploads"))
    return root if root.is_absolute() else settings.ROOT / root


def sanitize_name(name: str) -> str:
    """A display-safe file name: no directories, no control or shell-special characters, ≤ 80 chars."""
    name = unicodedata.normalize("NFKC", str(name or "")).replace("\\", "/").split("/")[-1]
    name = re.sub(r"[\x00-\x1f\x7f<>:\"|?*'`$;&]", "", name).strip(" .")
    return name[:80] or "photo"


def _read(item) -> tuple[str, bytes]:  # noqa: ANN001 - (name, bytes) or an uploaded-file object
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return str(item[0]), bytes(item[1])
    if hasattr(item, "getvalue"):
        return str(getattr(item, "name", "photo")), bytes(item.getvalue())
    if hasattr(item, "read"):
        return str(getattr(item, "name", "photo")), bytes(item.read())
    raise PhotoError("照片格式无法识别")


def check_photo(name: str, data: bytes) -> tuple[str, str]:
    """(extension, mime) for an acceptable photo; PhotoError otherwise."""
    shown = sanitize_name(name)
    limit_mb = max_photo_mb()
    if not data:
        raise PhotoError(f"照片「{shown}」是空文件")
    if len(data) > limit_mb * 1024 * 1024:
        raise PhotoError(f"照片「{shown}」大小 {len(data) / 1048576:.1f} MB，超过上限 {limit_mb:g} MB")
    for magic, (ext, mime, pil_format) in MAGIC.items():
        if data.startswith(magic):
            break
    else:
        raise PhotoError(f"照片「{shown}」不是 JPEG 或 PNG 图片")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != pil_format:
                raise PhotoError(f"照片「{shown}」内容与格式不符")
            img.verify()  # decodes structure; catches truncated or forged files
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise PhotoError(f"照片「{shown}」已损坏或无法解码") from exc
    return ext, mime


def photo_problems(items) -> list[str]:  # noqa: ANN001 - as store_photos
    """Why `items` would be refused, one Chinese line per problem (empty: all fine), without storing
    anything: a form says so as soon as the files are chosen, before anything is submitted."""
    items = list(items or [])
    out = [f"最多上传 {max_photos()} 张照片，已选 {len(items)} 张"] if len(items) > max_photos() else []
    for item in items:
        try:
            check_photo(*_read(item))
        except PhotoError as exc:
            out.append(str(exc))
    return out


def store_photos(session: Session, items, *, event_id: int | None) -> list[dict]:  # noqa: ANN001
    """Check every photo first, then write them all; register removal on rollback of `session`.
    Returns metadata dicts {file, name, size, type, at} (file is relative to the upload root)."""
    items = list(items or [])
    if len(items) > max_photos():
        raise PhotoError(f"最多上传 {max_photos()} 张照片，收到 {len(items)} 张")
    checked = []
    for item in items:
        name, data = _read(item)
        ext, mime = check_photo(name, data)
        checked.append((name, data, ext, mime))
    now = datetime.now(timezone.utc)
    folder = Path("events") / f"{now:%Y}" / f"{now:%m}"
    (upload_root() / folder).mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    out: list[dict] = []
    try:
        for name, data, ext, mime in checked:
            rel = folder / f"{event_id or 'new'}-{secrets.token_hex(8)}.{ext}"
            path = upload_root() / rel
            with open(path, "xb") as fh:  # "x": never overwrite an existing file
                fh.write(data)
            written.append(path)
            out.append({"file": rel.as_posix(), "name": sanitize_name(name), "size": len(data), "type": mime,
                        "at": now.isoformat()})
    except OSError as exc:
        _remove(written)
        raise PhotoError(f"照片保存失败：{exc}") from exc
    _remove_on_rollback(session, written)
    return out


def _remove(paths: list[Path]) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _remove_on_rollback(session: Session, paths: list[Path]) -> None:
    """Files belong to the transaction that references them: delete them if it rolls back. Both
    listeners fire once; whichever comes first settles the files' fate."""
    settled = {"done": False}

    def on_commit(_session) -> None:  # noqa: ANN001
        settled["done"] = True

    def on_rollback(_session, previous_transaction) -> None:  # noqa: ANN001
        if previous_transaction.parent is None and not settled["done"]:  # the outermost transaction
            settled["done"] = True
            _remove(paths)

    sa_event.listen(session, "after_commit", on_commit, once=True)
    sa_event.listen(session, "after_soft_rollback", on_rollback)


def photo_path(meta: dict) -> Path | None:
    """Absolute path of a stored photo, refusing anything that escapes the upload root."""
    root = upload_root().resolve()
    path = (root / str(meta.get("file", ""))).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path
