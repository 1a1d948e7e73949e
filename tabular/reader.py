"""read_table: an import file (CSV or Excel) checked against a column contract.

The header is the first non-blank row; headers match a column's label, key or aliases however they
are spaced or cased, full-width or not. Blank rows are skipped. Every bad cell becomes a `CellError`
in `Table.errors` (the row is still returned, with that value None and the key in `Row.bad`) so the
importer can add its own domain checks and report everything at once with `Table.raise_if_any`.
Problems with the file as a whole (unreadable, empty, too large, missing columns) raise
`TabularError` at once.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tabular import text as csvtext
from tabular import workbook
from tabular.columns import EDGES, BadValue, Column, Contract, as_text, header_key, is_blank
from tabular.errors import CellError, TabularError
from tabular.limits import Limits
from tabular.source import load, sniff


@dataclass
class Row:
    line: int
    values: dict[str, Any]                                  # contract key → value; None when blank or bad
    extra: dict[str, str] = field(default_factory=dict)     # other columns, with Contract.keep_extra
    bad: frozenset[str] = frozenset()                       # keys whose cell did not fit its type

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key)
        return default if value is None else value

    @property
    def ok(self) -> bool:
        return not self.bad


@dataclass
class Table:
    contract: Contract
    name: str
    format: str                      # "CSV" or "Excel"
    encoding: str | None = None      # CSV only: "UTF-8", "UTF-8（带 BOM）", "GBK", "GB18030", "UTF-16"
    delimiter: str = ","
    sheet: str | None = None         # Excel only: the worksheet read (the first)
    header_line: int = 1
    columns: list[str] = field(default_factory=list)         # contract keys the file has
    extra_columns: list[str] = field(default_factory=list)   # other headers (kept or ignored)
    rows: list[Row] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)

    @cached_property
    def _no_values(self) -> dict[str, None]:
        return dict.fromkeys(c.key for c in self.contract.columns)

    @property
    def ignored(self) -> list[str]:
        return [] if self.contract.keep_extra else self.extra_columns

    def describe(self) -> str:
        """Which reading of the file the line numbers refer to, e.g. "CSV，编码 GBK"."""
        if self.format == "Excel":
            return f"Excel，工作表「{self.sheet}」"
        sep = "" if self.delimiter == "," else f"，{csvtext.DELIMITERS[self.delimiter]}分隔"
        return f"CSV，编码 {self.encoding}{sep}"

    def raise_if_any(self, errors: Iterable[CellError] = (), what: str | None = None) -> None:
        """Raise one TabularError with the reader's and the importer's errors, if there are any."""
        every = [*self.errors, *errors]
        if every:
            raise TabularError(every, what or self.contract.what, self.describe())


def read_table(src, contract: Contract, *, name: str | None = None,  # noqa: ANN001
               limits: Limits | None = None, progress: Callable[[int, int], None] | None = None) -> Table:
    """Read `src` (a path, bytes, or an uploaded file; `name` gives bytes a file name) against
    `contract`. Raises TabularError for a file that cannot be read as a whole. `progress(line, lines)`
    follows the reading of a CSV (an Excel sheet's length is known only once it is read)."""
    limits = limits or Limits.from_settings()
    what = contract.what
    data, name = load(src, what, limits, name)
    lines = None
    if sniff(data, name, what) == "xlsx":
        title, grid = workbook.rows(data, what, limits)
        table = Table(contract, name, "Excel", sheet=title)
    else:
        text, encoding = csvtext.decode(data, what)
        del data
        table = Table(contract, name, "CSV", encoding=encoding, delimiter=csvtext.delimiter(text))
        csvtext.refuse_nul(text, what, table.describe())
        grid = csvtext.records(text, table.delimiter, what, table.describe(), limits.max_columns)
        lines = text.count("\n") + 1
    try:
        with closing(grid):
            _fill(table, grid, limits, progress if lines else None, lines or 0)
    except TabularError as exc:
        exc.source = exc.source or table.describe()
        raise
    return table


def _fill(table: Table, grid: Iterator[tuple[int, list]], limits: Limits,
          progress: Callable[[int, int], None] | None = None, lines: int = 0) -> None:
    what = table.contract.what
    for line, cells in grid:
        if not all(is_blank(c) for c in cells):
            break
    else:
        raise TabularError([CellError(0, "文件没有表头和数据")], what)
    table.header_line = line
    index, width = _map_header(table, line, cells)
    csv_file = table.format == "CSV"
    count = 0
    for line, cells in grid:
        if all(is_blank(c) for c in cells):
            continue
        count += 1
        if count > limits.max_rows:
            raise TabularError([CellError(line, f"数据超过 {limits.max_rows} 行（单次导入上限）：请拆分后分批导入")], what)
        table.rows.append(_row(table, line, cells, index, width, csv_file))
        if progress is not None and count % 2000 == 0:
            progress(line, lines)
    if progress is not None:
        progress(lines, lines)
    if not count:
        raise TabularError([CellError(0, "文件只有表头，没有数据行")], what)


def _map_header(table: Table, line: int, cells: list) -> tuple[list[tuple[int, Column | str]], int]:
    """[(cell position, Column or the extra header text)], and the header's width."""
    lookup = table.contract.lookup()
    found: dict[str, tuple[int, str]] = {}
    index: list[tuple[int, Column | str]] = []
    errors: list[CellError] = []
    width = max(i + 1 for i, c in enumerate(cells) if not is_blank(c))
    for i, cell in enumerate(cells[:width]):
        if is_blank(cell):
            continue
        shown = as_text(cell)
        col = lookup.get(header_key(shown))
        if col is None:
            table.extra_columns.append(shown)
            index.append((i, shown))
        elif col.key in found:
            errors.append(CellError(line, f"列「{found[col.key][1]}」和「{shown}」都表示“{col.label}”：请只保留一列"))
        else:
            found[col.key] = (i, shown)
            index.append((i, col))
    table.columns = [c.key for c in table.contract.columns if c.key in found]
    missing = [c.label for c in table.contract.columns if c.required and c.key not in found]
    if missing:
        actual = " | ".join(as_text(c) for c in cells[:width] if not is_blank(c))
        errors.append(CellError(line, f"表头缺少必需的列：{'、'.join(missing)}（文件的表头：{actual[:300]}）"))
    if errors:
        raise TabularError(errors, table.contract.what, table.describe())
    return index, width


def _row(table: Table, line: int, cells: list, index: list[tuple[int, Column | str]], width: int,
         csv_file: bool) -> Row:
    values: dict[str, Any] = dict(table._no_values)  # noqa: SLF001 - the reader's own table
    extra: dict[str, str] = {}
    bad: set[str] = set()
    n = len(cells)
    for i, target in index:
        cell = _cell(cells[i]) if i < n else None
        if target.__class__ is str:
            if table.contract.keep_extra:
                extra[target] = "" if cell is None else as_text(cell)
            continue
        if cell is None:
            if target.required:
                problem = "不能为空"
            else:
                continue
        elif cell.__class__ is workbook.FormulaCell:
            problem = cell.message()
        elif cell.__class__ is str and "\x00" in cell:
            problem = "含有空字符（NUL，\\x00），无法保存"
        else:
            try:
                values[target.key] = target.kind.parse(cell)
                continue
            except BadValue as exc:
                problem = exc.message
        table.errors.append(CellError(line, problem, target.label))
        bad.add(target.key)
    if csv_file and n > width and not all(is_blank(c) for c in cells[width:]):
        table.errors.append(CellError(line, f"比表头多出 {n - width} 个字段：字段内含分隔符（逗号）时须用英文双引号括起来"))
        bad.add("")  # the whole row: its fields may have shifted
    return Row(line, values, extra, frozenset(bad))


def _cell(cell: Any) -> Any:
    """The cell with spaces trimmed, or None when blank (the hot path: every cell of every row)."""
    if cell.__class__ is str:
        return cell.strip(EDGES) or None
    return None if is_blank(cell) else cell
