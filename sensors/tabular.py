"""Reading CSV/Excel import files into rows that remember their line number, and the all-or-nothing
error report every importer shares.

CSV: UTF-8 (with or without BOM) or GB18030 (what Excel on a Chinese Windows saves). Excel: the first
sheet. Line numbers are those a person sees in the file: the header is line 1, the first data row 2.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"第 {self.line} 行：{self.message}" if self.line else self.message


@dataclass
class ImportFailed(Exception):
    """Nothing was written; `errors` lists every bad row."""

    errors: list[RowError] = field(default_factory=list)
    what: str = "导入"

    def __str__(self) -> str:
        head = f"{self.what}失败，共 {len(self.errors)} 处错误，未写入任何数据："
        shown = "\n".join(f"  {e}" for e in self.errors[:200])
        more = f"\n  ……另有 {len(self.errors) - 200} 处错误" if len(self.errors) > 200 else ""
        return f"{head}\n{shown}{more}"


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ImportFailed([RowError(0, "文件编码无法识别：请另存为 UTF-8 或 GBK 编码的 CSV")])


def _clean(value) -> str:  # noqa: ANN001 - anything a spreadsheet cell holds
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_rows(path: str | Path, aliases: dict[str, str] | None = None) -> tuple[list[str], list[tuple[int, dict]]]:
    """(header, [(line, {column: text})]) with header names mapped through `aliases` (Chinese → code).
    Blank lines are skipped."""
    path = Path(path)
    if not path.exists():
        raise ImportFailed([RowError(0, f"文件不存在：{path}")])
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a bad file
            raise ImportFailed([RowError(0, f"无法读取 Excel 文件：{exc}")]) from exc
        sheet = wb.worksheets[0]
        table = [[_clean(c) for c in row] for row in sheet.iter_rows(values_only=True)]
        wb.close()
    elif suffix in (".csv", ".txt"):
        text = _decode(path.read_bytes())
        table = [[_clean(c) for c in row] for row in csv.reader(io.StringIO(text))]
    else:
        raise ImportFailed([RowError(0, f"不支持的文件类型 {suffix or '（无扩展名）'}：请使用 .csv 或 .xlsx")])
    if not table or not any(table[0]):
        raise ImportFailed([RowError(1, "文件为空或缺少表头")])
    aliases = aliases or {}
    header = [aliases.get(h, aliases.get(h.lower(), h)) for h in table[0]]
    rows = []
    for index, cells in enumerate(table[1:], start=2):
        if not any(cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        rows.append((index, {h: cells[i] for i, h in enumerate(header) if h}))
    return header, rows


def parse_float(text: str) -> float | None:
    """A finite number, or None when the text is not one."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value
