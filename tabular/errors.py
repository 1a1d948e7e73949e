"""The one error every import raises: each bad cell or row with its line number and a Chinese reason.

Importers check the whole file first, collect every problem (the reader's and their own domain
checks) and raise one `TabularError` before writing anything, so a person fixes the file in one go.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SHOWN = 1000  # lines printed by str(); `errors` always holds every one


@dataclass(frozen=True)
class CellError:
    """One problem. `line` is what the person sees: the CSV line where the record starts or the Excel
    row number (the header is usually 1); 0 means the file as a whole. `column` is the column's label."""

    line: int
    message: str
    column: str | None = None

    def __str__(self) -> str:
        where = f"第 {self.line} 行" if self.line else "文件"
        col = f"「{self.column}」" if self.column else ""
        return f"{where}{col}：{self.message}"


class TabularError(Exception):
    """Nothing was written; `errors` lists every problem found, ordered by line."""

    def __init__(self, errors: Iterable[CellError | str], what: str = "导入", source: str = "") -> None:
        self.errors: list[CellError] = sorted(
            (e if isinstance(e, CellError) else CellError(0, str(e)) for e in errors), key=lambda e: e.line)
        self.what = what
        self.source = source  # e.g. "CSV，编码 GBK": which reading of the file the lines refer to
        super().__init__(what)

    @property
    def bad_lines(self) -> int:
        return len({e.line for e in self.errors if e.line})

    def report(self, limit: int | None = SHOWN) -> str:
        src = f"（{self.source}）" if self.source else ""
        if len(self.errors) == 1 and not self.errors[0].line:
            return f"{self.what}失败{src}，未写入任何数据：{self.errors[0].message}"
        rows = f"{self.bad_lines} 行有错误，" if self.bad_lines else ""
        head = f"{self.what}失败{src}：{rows}共 {len(self.errors)} 处，未写入任何数据："
        shown = self.errors if limit is None else self.errors[:limit]
        more = len(self.errors) - len(shown)
        tail = f"\n  ……另有 {more} 处错误未列出" if more else ""
        return head + "".join(f"\n  {e}" for e in shown) + tail

    def __str__(self) -> str:
        return self.report()
