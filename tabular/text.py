"""CSV files: which encoding, and the records with the line a person sees each one start on.

Encodings, tried in this order and named in the report: a BOM decides (UTF-8 with BOM, as Excel's
"CSV UTF-8" writes; UTF-16, as Excel's "Unicode 文本" writes); otherwise strict UTF-8, then GBK (what
Excel on a Chinese Windows writes), then GB18030 (GBK's superset, for rarer characters). Each of
these decodes strictly, so the first that succeeds is the right one for any real Chinese text; no
statistical guessing is needed for this closed list.

NUL characters are refused, not stripped: PostgreSQL cannot store them, and in a CSV they mean a
damaged file or a wrong encoding, where silently dropping them could change an id.
"""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator

from tabular.errors import CellError, TabularError

DELIMITERS = {",": "逗号", "\t": "制表符", ";": "分号"}


def decode(data: bytes, what: str) -> tuple[str, str]:
    """(text, encoding label)."""
    if data.startswith(codecs.BOM_UTF8):
        candidates = (("utf-8-sig", "UTF-8（带 BOM）"),)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = (("utf-16", "UTF-16"),)
    else:
        candidates = (("utf-8", "UTF-8"), ("gbk", "GBK"), ("gb18030", "GB18030"))
    furthest = 0  # the encoding that read furthest is the likeliest one: its first bad byte is the one to show
    for codec, label in candidates:
        try:
            return data.decode(codec), label
        except UnicodeDecodeError as exc:
            furthest = max(furthest, exc.start)
    line = data[:furthest].count(b"\n") + 1
    raise TabularError([CellError(line, "有无法识别的字符：文件不是 UTF-8、GBK 或 GB18030 编码的文本。"
                                        "请在 Excel 中“另存为 → CSV UTF-8（逗号分隔）”后再导入")], what)


def refuse_nul(text: str, what: str, source: str) -> None:
    """Every line holding a NUL, or one message when there are so many the file is not text at all."""
    count = text.count("\x00")
    if not count:
        return
    if count > len(text) // 10:
        raise TabularError([CellError(0, "文件含有大量空字符（NUL）：不是文本表格，或是不带 BOM 的 UTF-16 文本。"
                                         "请另存为 CSV UTF-8 或 .xlsx 后再导入")], what, source)
    lines = sorted({text.count("\n", 0, i) + 1 for i in _positions(text, "\x00")})
    raise TabularError([CellError(n, "含有空字符（NUL，\\x00），无法保存：文件可能已损坏，请检查该行") for n in lines],
                       what, source)


def _positions(text: str, char: str) -> Iterator[int]:
    i = text.find(char)
    while i != -1:
        yield i
        i = text.find(char, i + 1)


def delimiter(text: str) -> str:
    """Comma, unless the first line has more tabs (Excel's "Unicode 文本") or semicolons."""
    first = text.lstrip("\r\n").split("\n", 1)[0]
    return max(DELIMITERS, key=lambda d: (first.count(d), d == ","))


def records(text: str, sep: str, what: str, source: str, max_columns: int) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, fields). A quoted field may span lines; the person looks for the
    record where it starts."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    start = 1
    try:
        for fields in reader:
            if len(fields) > max_columns:
                raise TabularError([CellError(start, f"有 {len(fields)} 列，超过上限 {max_columns} 列")], what, source)
            yield start, fields
            start = reader.line_num + 1
    except csv.Error as exc:
        raise TabularError([CellError(start, _csv_message(exc))], what, source) from None


def _csv_message(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return (f"从这一行开始的一个字段超过 {csv.field_size_limit()} 个字符（CSV 字段上限）。"
                "通常是引号未配对：某个字段以英文双引号 \" 开头却没有结束的引号，后面的内容都被当成了这个字段")
    if "new-line character" in text:
        return "字段中有未加引号的换行符：含换行的字段须用英文双引号括起来"
    return "CSV 格式错误，请检查引号和分隔符"
