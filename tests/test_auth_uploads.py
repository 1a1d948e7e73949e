"""Upload safety: size limit from config, type decided by content (magic bytes + Pillow), zip bombs,
file-name sanitising, and storing under the upload directory only."""
from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook
from PIL import Image

import settings
from auth.uploads import UploadRejected, check_upload, max_bytes, sanitize_filename, save_upload
from tests.test_auth_support import auth_test_settings  # noqa: F401


def _image(fmt: str, size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(buf, format=fmt)
    return buf.getvalue()


def _xlsx() -> bytes:
    wb = Workbook()
    wb.active.append(["区划代码", "数值"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("fmt, pil", [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")])
def test_real_images_are_accepted_with_the_detected_extension(fmt, pil):
    checked = check_upload(_image(pil), "现场照片.PNG", "image")
    assert checked.format == fmt
    assert checked.safe_name == "现场照片" + {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}[fmt]


@pytest.mark.parametrize("data, name", [
    (b"<?php system($_GET['c']); ?>", "photo.jpg"),              # a script renamed to .jpg
    (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100, "photo.png"),  # a Windows executable
    (b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 10, "photo.jpg"),  # JPEG magic, broken body
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "photo.svg"),
])
def test_disguised_or_broken_files_are_refused(data, name):
    with pytest.raises(UploadRejected) as exc:
        check_upload(data, name, "image")
    assert any(word in str(exc.value) for word in ("不支持", "损坏", "不符"))


def test_type_must_be_one_the_caller_accepts():
    with pytest.raises(UploadRejected, match="仅接受"):
        check_upload(_image("PNG"), "a.png", "table")
    assert check_upload(_xlsx(), "统计.xlsx", "table").format == "xlsx"
    assert check_upload("区划代码,数值\n440902,1\n".encode("gb18030"), "stats.csv", "table").format == "csv"
    assert check_upload(b'{"type": "FeatureCollection", "features": []}', "b.json", "geodata").format == "geojson"
    assert check_upload(_zip({"a.shp": b"x" * 100, "a.dbf": b"y"}), "shp.zip", "geodata").format == "zip"
    assert check_upload(b"%PDF-1.7\n...", "x.pdf", "document").format == "pdf"
    with pytest.raises(ValueError):
        check_upload(b"x", "x", "executable")


def test_size_limit_comes_from_config(monkeypatch):
    assert max_bytes() == 10 * 1024 * 1024
    monkeypatch.setenv("CITYOPS_APP_UPLOAD_MAX_MB", "1")
    settings.reload_settings()
    with pytest.raises(UploadRejected, match="文件过大.*上限 1 MB"):
        check_upload(b"a,b\n" * 300_000, "big.csv", "table")
    with pytest.raises(UploadRejected, match="文件为空"):
        check_upload(b"", "empty.csv", "table")


def test_zip_bombs_and_unsafe_paths_are_refused():
    bomb = _zip({"huge.csv": b"0" * (250 * 1024 * 1024)})  # compresses to a few hundred KB
    assert len(bomb) < max_bytes()
    with pytest.raises(UploadRejected, match="压缩炸弹"):
        check_upload(bomb, "bomb.zip", "geodata")
    with pytest.raises(UploadRejected, match="不安全的路径"):
        check_upload(_zip({"../../etc/cron.d/x": b"x"}), "evil.zip", "geodata")
    with pytest.raises(UploadRejected, match="不是有效的压缩包"):
        check_upload(b"PK\x03\x04garbage", "x.zip", "geodata")


def test_pixel_bomb_is_refused():
    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, format="PNG")  # 81 megapixels, tiny file
    with pytest.raises(UploadRejected, match="像素过大"):
        check_upload(buf.getvalue(), "x.png", "image")


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\张三\\桌面\\井盖.JPG", "井盖.jpg"),
    (".bashrc", "bashrc"),
    ("a<b>c:d|e?f*.png", "a_b_c_d_e_f_.png"),
    ("x\x00y\n.png", "x_y_.png"),
    ("", "file"),
    ("...", "file"),
    ("ｆｕｌｌ　ｗｉｄｔｈ．ｐｎｇ", "full width.png"),
    ("a" * 300 + ".jpeg", "a" * 95 + ".jpeg"),
])
def test_sanitize_filename(name, expected):
    assert sanitize_filename(name) == expected


def test_save_upload_stays_inside_the_upload_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYOPS_APP_UPLOAD_DIR", f'"{tmp_path / "uploads"}"')
    settings.reload_settings()
    data = _image("PNG")
    checked = check_upload(data, "../../井盖.png", "image")
    rel = save_upload(data, checked, "../events/../../x")
    stored = tmp_path / "uploads" / rel
    assert stored.read_bytes() == data
    assert stored.resolve().is_relative_to((tmp_path / "uploads").resolve())
    assert rel.endswith("_井盖.png") and ".." not in rel
    assert not list((tmp_path / "uploads").rglob("*.part"))
