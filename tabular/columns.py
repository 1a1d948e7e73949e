"""A column contract: which columns an import file has, their names in Chinese and English, and the
type of each cell. Types turn one non-blank cell (text from a CSV; text, number or date from Excel)
into a value, or raise `BadValue` with a Chinese reason. An importer may define its own type: any
object with `parse(cell)`.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import Any, Protocol

_INVISIBLE = re.compile(r"[\s\u200b-\u200d\u2060\ufeff]+")
EDGES = " \t\r\n\u3000\u00a0\u200b\u200c\u200d\u2060\ufeff"
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y%m%d%H%M%S", "%Y%m%d",
                "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日%H:%M", "%Y年%m月%d日")


class BadValue(Exception):
    """A cell that does not fit its column; the message is the Chinese reason."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else "格式不正确"


class Kind(Protocol):
    def parse(self, cell: Any) -> Any: ...


def header_key(text: Any) -> str:
    """How headers and choice words compare: full-width forms folded (NFKC: "ＩＤ" = "ID",
    "（" = "("), every space (full-width too) and invisible character removed, case ignored."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", str(text))).casefold()


def is_blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip(EDGES)) \
        or (isinstance(cell, float) and math.isnan(cell))


def as_text(cell: Any) -> str:
    """A cell as text, trimmed of spaces (full-width and invisible ones too). Excel stores ids and phone
    numbers as numbers, so 13812341234.0 is "13812341234"."""
    if cell.__class__ is str:
        return cell.strip(EDGES)
    if isinstance(cell, bool):
        return "是" if cell else "否"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime):
        return cell.isoformat(sep=" ", timespec="seconds") if cell.time() != time() or cell.tzinfo else \
            cell.date().isoformat()
    if isinstance(cell, (date, time)):
        return cell.isoformat()
    return str(cell).strip(EDGES)


def _show(cell: Any) -> str:
    text = as_text(cell)
    return text if len(text) <= 40 else text[:40] + "…"


@dataclass(frozen=True)
class Text:
    max_length: int | None = None

    def parse(self, cell: Any) -> str:
        text = as_text(cell)
        if self.max_length is not None and len(text) > self.max_length:
            raise BadValue(f"不能超过 {self.max_length} 个字符（实际 {len(text)} 个）")
        return text


def _range_words(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" {lo:g}～{hi:g} 之间的"
    if lo is not None:
        return f"不小于 {lo:g} 的"
    if hi is not None:
        return f"不大于 {hi:g} 的"
    return ""


@dataclass(frozen=True)
class Int:
    minimum: int | None = None
    maximum: int | None = None

    def parse(self, cell: Any) -> int:
        value: Any = None
        if isinstance(cell, int) and not isinstance(cell, bool):
            value = cell
        elif isinstance(cell, float) and cell.is_integer():
            value = int(cell)
        elif isinstance(cell, str):
            text = cell.replace(",", "")
            try:
                value = int(text)
            except ValueError:
                try:
                    number = float(text)
                    value = int(number) if number.is_integer() else None
                except (ValueError, OverflowError):
                    value = None
        if value is None or (self.minimum is not None and value < self.minimum) \
                or (self.maximum is not None and value > self.maximum):
            raise BadValue(f"应为{_range_words(self.minimum, self.maximum)}整数，收到“{_show(cell)}”")
        return value


@dataclass(frozen=True)
class Float:
    minimum: float | None = None
    maximum: float | None = None
    thousands: bool = False  # accept "1,234.5" (statistics tables); off where a comma would be a typo

    def parse(self, cell: Any) -> float:
        if isinstance(cell, bool) or not isinstance(cell, (int, float, str)):
            raise BadValue(f"「{_show(cell)}」不是数字")
        if isinstance(cell, str):
            text = cell.replace(",", "").replace("，", "") if self.thousands else cell
            try:
                value = float(text)
            except ValueError:
                raise BadValue(f"「{_show(cell)}」不是数字") from None
        else:
            value = float(cell)
        if not math.isfinite(value):
            raise BadValue(f"「{_show(cell)}」不是有效数字")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise BadValue(f"应为{_range_words(self.minimum, self.maximum)}数，收到 {value:g}")
        return value


@dataclass(frozen=True)
class DateTime:
    """An aware datetime. Text may carry a zone ("2026-11-25T10:00:00+08:00", "...Z"); a time without
    one (and every Excel date, which has none) is read in `assume_tz`, or refused when that is None —
    for data where guessing the zone would misplace it. `hint` is added to that refusal."""

    assume_tz: tzinfo | None = None
    hint: str = ""

    def parse(self, cell: Any) -> datetime:
        if isinstance(cell, datetime):
            value = cell
        elif isinstance(cell, date):
            value = datetime(cell.year, cell.month, cell.day)
        elif isinstance(cell, str):
            value = self._from_text(cell)
        elif isinstance(cell, (int, float)) and not isinstance(cell, bool):
            raise BadValue(f"「{_show(cell)}」是数字，不是时间：请把该列设为日期格式，或写成 2026-11-20 09:30")
        else:
            raise BadValue(f"无法识别的时间「{_show(cell)}」（应如 2026-11-20 09:30）")
        if value.tzinfo is None or value.utcoffset() is None:
            if self.assume_tz is None:
                raise BadValue(f"时间「{_show(cell)}」没有时区（如 +08:00）" + (f"：{self.hint}" if self.hint else ""))
            value = value.replace(tzinfo=self.assume_tz)
        return value

    @staticmethod
    def _from_text(text: str) -> datetime:
        normal = re.sub(r"\s+", " ", text.replace("/", "-"))
        try:
            return datetime.fromisoformat(normal)
        except ValueError:
            pass
        for fmt in TIME_FORMATS:  # also the unpadded forms Excel writes in a Chinese locale: 2026/1/5 9:30
            try:
                return datetime.strptime(normal, fmt)
            except ValueError:
                continue
        raise BadValue(f"无法识别的时间「{_show(text)}」（应如 2026-11-20 09:30）")


@dataclass(frozen=True)
class Choice:
    """One of a closed list. `choices` maps each accepted word (Chinese or English; compared like
    headers) to the stored value; `describe` says what is allowed, for the message."""

    choices: Mapping[str, Any]
    describe: str = ""
    _lookup: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lookup", {header_key(k): v for k, v in self.choices.items()})

    def parse(self, cell: Any) -> Any:
        key = header_key(as_text(cell))
        if key in self._lookup:
            return self._lookup[key]
        allowed = self.describe or "、".join(dict.fromkeys(str(k) for k in self.choices))
        space = " " if allowed[:1].isascii() else ""
        raise BadValue(f"应为{space}{allowed}，收到“{_show(cell)}”")


YES_NO = Choice({"是": True, "否": False, "1": True, "0": False, "true": True, "false": False, "yes": True,
                 "no": False, "y": True, "n": False, "t": True, "f": False, "启用": True, "停用": False},
                "是/否")


@dataclass(frozen=True)
class Column:
    """`key` is the field the importer reads; `label` names the column in messages and is accepted as
    a header, as are `aliases`. A required column must be in the header and no cell of it blank."""

    key: str
    label: str
    kind: Kind = Text()
    required: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def headers(self) -> tuple[str, ...]:
        return (self.label, self.key, *self.aliases)


@dataclass(frozen=True)
class Contract:
    """The columns of one kind of import file. `what` names the import in reports ("资源导入").
    Columns not in the contract are listed in `Table.ignored`, or with `keep_extra` kept as text in
    `Row.extra` (a wide layout whose other columns are metrics)."""

    what: str
    columns: tuple[Column, ...]
    keep_extra: bool = False

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for col in self.columns:
            for h in col.headers:
                other = seen.setdefault(header_key(h), col.key)
                if other != col.key:
                    raise ValueError(f"header {h!r} is claimed by both {other!r} and {col.key!r}")

    def lookup(self) -> dict[str, Column]:
        return {header_key(h): col for col in self.columns for h in col.headers}

    def label(self, key: str) -> str:
        return next((c.label for c in self.columns if c.key == key), key)
