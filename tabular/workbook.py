"""Excel (.xlsx/.xlsm) files: the first worksheet's rows, read as values.

Cells are read as the values Excel last calculated and saved (never the formula text, and nothing is
ever evaluated or run — macros included). A formula cell whose file holds no saved result (files
written by scripts) or whose result is an Excel error (#REF!, #DIV/0!…) becomes a `FormulaCell`, which
the reader reports instead of treating it as blank.

A zip bomb is stopped before openpyxl opens the file: the decompressed sizes the zip declares are
summed against `Limits.max_unzipped_bytes`, and Python's zipfile never inflates an entry beyond its
declared size (a lying entry fails its CRC check). XML entity expansion is bounded by expat (≥ 2.4).
"""
from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

from tabular.errors import CellError, TabularError
from tabular.limits import Limits, mib

MAX_ENTRIES = 10_000  # a workbook has dozens of parts
EXCEL_ERRORS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
                          "#SPILL!", "#CALC!"})
_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f\b")


@dataclass(frozen=True)
class FormulaCell:
    """A formula without a usable saved value: `cached` is None (never calculated) or an Excel error."""

    formula: str
    cached: str | None

    def message(self) -> str:
        formula = self.formula if len(self.formula) <= 40 else self.formula[:40] + "…"
        if self.cached is None:
            return (f"是公式（{formula}），但文件中没有保存计算结果：请用 Excel 打开并保存后再导入，"
                    "或复制后“选择性粘贴 → 数值”")
        return f"公式（{formula}）的结果是错误值 {self.cached}：请修正公式或改为数值"


def _fail(message: str, what: str) -> TabularError:
    return TabularError([CellError(0, message)], what)


def check_archive(data: bytes, what: str, limits: Limits) -> bool:
    """Refuse what is not a readable, reasonably sized workbook; True when a worksheet has formulas."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ENTRIES:
                raise _fail(f"压缩包内有 {len(infos)} 个文件，不是正常的 Excel 工作簿", what)
            total = sum(i.file_size for i in infos)
            if total > limits.max_unzipped_bytes:
                raise _fail(f"工作簿解压后有 {mib(total)}，超过上限 {mib(limits.max_unzipped_bytes)}"
                            "（数据过多，或是压缩炸弹）：请拆分后分批导入", what)
            names = {i.filename for i in infos}
            if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
                raise _fail("文件是 zip 压缩包（或 Word 等其他 Office 文档），不是 Excel 工作簿", what)
            if any(i.flag_bits & 0x1 for i in infos):
                raise _fail("工作簿已加密：请取消密码后另存为 .xlsx 再导入", what)
            return any(_has_formula(zf, i) for i in infos
                       if i.filename.startswith("xl/worksheets/") and i.filename.endswith(".xml"))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise _fail("Excel 文件已损坏，无法解压：请重新导出或另存为 .xlsx", what) from exc


def _has_formula(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    tail = b""
    with zf.open(info) as fh:
        while chunk := fh.read(1 << 20):
            if _FORMULA_TAG.search(tail + chunk):
                return True
            tail = chunk[-16:]
    return False


def rows(data: bytes, what: str, limits: Limits) -> tuple[str, Iterator[tuple[int, list]]]:
    """(sheet title, rows as (Excel row number, cells)) of the first worksheet."""
    has_formulas = check_archive(data, what, limits)
    stack = ExitStack()
    try:
        values = _first_sheet(data, stack, data_only=True, what=what)
        formulas = _first_sheet(data, stack, data_only=False, what=what) if has_formulas else None
    except BaseException:
        stack.close()
        raise
    return values.title, _iterate(values, formulas, stack, what, limits)


def _first_sheet(data: bytes, stack: ExitStack, *, data_only: bool, what: str):  # noqa: ANN202
    # openpyxl takes a fifth of a second to import; only Excel files need it, and every manage.py
    # command imports tabular for its error type.
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=data_only, keep_links=False)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a damaged workbook
        raise _fail("Excel 文件已损坏或格式不正确，无法打开：请重新导出或另存为 .xlsx", what) from exc
    stack.callback(wb.close)
    if not wb.worksheets:
        raise _fail("工作簿中没有工作表", what)
    ws = wb.worksheets[0]
    # The declared dimension is written by whatever made the file: it may claim a million rows of
    # formatting, or only "A1". Read the rows the sheet really holds instead.
    ws.reset_dimensions()
    return ws


def _iterate(values, formulas, stack: ExitStack, what: str,  # noqa: ANN001
             limits: Limits) -> Iterator[tuple[int, list]]:
    # Columns past the cap are never read (bounded work per row, whatever the sheet claims); a table
    # wider than the cap has a value in the column right after it (headers are contiguous), and is refused.
    width = limits.max_columns + 1
    line = 0
    with stack:
        try:
            value_rows = values.iter_rows(max_col=width, values_only=True)
            formula_rows = formulas.iter_rows(max_col=width, values_only=True) if formulas is not None else None
            for line, cells in enumerate(value_rows, start=1):
                cells = list(cells)
                if formula_rows is not None:
                    _mark_formulas(cells, next(formula_rows, ()))
                if cells[-1] is not None:
                    raise TabularError([CellError(line, f"超过 {limits.max_columns} 列（导入上限）")], what)
                yield line, cells[:-1]
        except TabularError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged sheet surfaces as XML, zip or value errors
            raise TabularError([CellError(line + 1, "Excel 文件已损坏，读到这一行时出错：请重新导出或另存为 .xlsx")],
                               what) from exc


def _mark_formulas(cells: list, formula_cells: tuple) -> None:
    for i, f in enumerate(formula_cells[:len(cells)]):
        if f is not None and not isinstance(f, (str, int, float, bool)) and hasattr(f, "ref"):
            f = getattr(f, "text", None) or f"={f.ref}"  # an array or data-table formula object
        if not (isinstance(f, str) and f.startswith("=")):
            continue
        value = cells[i]
        if value is None or (isinstance(value, str) and value in EXCEL_ERRORS):
            cells[i] = FormulaCell(f, value)
