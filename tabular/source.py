"""Getting the bytes of an import file (a path, bytes, or an uploaded file object) and deciding from
its content — not its name — whether it is a CSV text or an Excel workbook."""
from __future__ import annotations

from pathlib import Path

from tabular.errors import CellError, TabularError
from tabular.limits import Limits, mib

TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
# Signatures of files people pick by mistake; anything else that is not a zip is tried as text.
OTHER_FORMATS = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "旧版 .xls 或加密的 Excel 文件：请在 Excel 中另存为 .xlsx（不加密）或 CSV 后再导入"),
    (b"%PDF-", "PDF 文件"),
    (b"\x89PNG", "PNG 图片"),
    (b"\xff\xd8\xff", "JPEG 图片"),
    (b"GIF8", "GIF 图片"),
    (b"\x1f\x8b", "gzip 压缩文件"),
    (b"Rar!", "RAR 压缩文件"),
    (b"7z\xbc\xaf", "7z 压缩文件"),
    (b"SQLite format 3", "SQLite 数据库"),
)


def fail(what: str, message: str, line: int = 0) -> TabularError:
    return TabularError([CellError(line, message)], what)


def load(src, what: str, limits: Limits, name: str | None = None) -> tuple[bytes, str]:  # noqa: ANN001
    """(content, file name) of a path, bytes, or a file-like object (e.g. a Streamlit upload)."""
    if isinstance(src, (str, Path)):
        path = Path(src)
        if not path.is_file():
            raise fail(what, f"文件不存在：{path}")
        if path.stat().st_size > limits.max_bytes:
            raise fail(what, f"文件有 {mib(path.stat().st_size)}，超过单次导入上限 {mib(limits.max_bytes)}：请拆分后分批导入")
        return path.read_bytes(), name or path.name
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    elif hasattr(src, "getvalue"):
        data = bytes(src.getvalue())
    elif hasattr(src, "read"):
        data = bytes(src.read(limits.max_bytes + 1))
    else:
        raise fail(what, "无法读取导入文件")
    if len(data) > limits.max_bytes:
        raise fail(what, f"文件超过单次导入上限 {mib(limits.max_bytes)}：请拆分后分批导入")
    return data, name or str(getattr(src, "name", "") or "")


def sniff(data: bytes, name: str, what: str) -> str:
    """"csv" or "xlsx"; a file of another kind is refused with what it appears to be."""
    suffix = Path(name).suffix.lower() if name else ""
    if suffix == ".xls":
        raise fail(what, "不支持旧版 .xls 文件：请在 Excel 中另存为 .xlsx 或 CSV 后再导入")
    if suffix and suffix not in TEXT_SUFFIXES + EXCEL_SUFFIXES:
        raise fail(what, f"不支持的文件类型「{suffix}」：请使用 .csv 或 .xlsx 文件")
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise fail(what, "文件是空的")
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    for magic, label in OTHER_FORMATS:
        if data.startswith(magic):
            raise fail(what, label if "：" in label else f"文件内容是 {label}，不是 CSV 或 Excel 表格")
    if suffix in EXCEL_SUFFIXES:
        raise fail(what, f"文件扩展名是 {suffix}，但内容不是 Excel 工作簿（文件可能已损坏，或是改了扩展名的其他文件）")
    return "csv"
