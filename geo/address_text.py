"""Chinese address text: one normal form for matching, and the pieces of an address.

What people type differs from the standard address in ways that are not typos, and these are folded
before any fuzzy comparison:
- width and spacing: "油城五路 １２ 号" = "油城五路12号" (NFKC, spaces and punctuation removed);
- numerals: "十二号" = "12号", "三栋" = "3栋" (only before a unit word: "油城五路" keeps its 五);
- unit words: 幢/座/号楼/栋楼 (after a number) = 栋, "3-2-501" = "3栋"; "12#" = "12号"; 单元/层/楼/室
  and what follows are dropped (a case is placed at the building, not the flat or floor);
- prefixes: 中国, the province and the city (with or without 省/市) are dropped;
- the words around a place: 附近/旁边/对面/门口/一带/路段/处 at the end are dropped.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
           "九": 9}
_CN_NUMBER = "零〇一二两三四五六七八九十百千"
# A Chinese numeral directly before a unit word is a number: 十二号 → 12号, 三栋 → 3栋.
_CN_BEFORE_UNIT = re.compile(rf"([{_CN_NUMBER}]+)(?=号|栋|幢|座|单元|层|室|弄|巷)")
_DROP = re.compile(r"[\s\u3000,，.。;；:：!！?？\"'“”‘’()（）\[\]【】<>《》]+")
_BUILDING_WORDS = re.compile(r"(\d+)(?:号楼|栋楼|幢|座|栋)")
_HASH = re.compile(r"(\d+)#")
_TRIPLE = re.compile(r"(\d+)-\d+-\d+")  # 3-2-501: building 3, entrance 2, flat 501
_FLAT = re.compile(r"(?:\d+单元|\d+层|\d+楼|\d+室|\d+房).*$")
_TAIL = re.compile(r"(附近|旁边|旁|对面|门口|门前|周边|一带|路段|处|这边|那边)+$")
_NUMBER = re.compile(r"^(\d+(?:-\d+)?)号?")
_BUILDING = re.compile(r"(\d+)栋")
# "A与B交叉口" and its variants: the words that end it, and those that join the two roads (which may also
# occur inside a road's name — 坑和路 — so every place they occur is a candidate split).
CROSSING = re.compile(r"^(?P<body>.+?)(?:的)?(?:交叉口|交叉路口|十字路口|丁字路口|交汇处|交汇|交界处|交界|交口|路口|交叉)$")
JOINER = re.compile(r"与|和|跟|及|同|、|/|交")


def crossing_splits(text: str) -> list[tuple[str, str]]:
    """Every (A, B) a crossing text could name, in reading order; [] when it does not name a crossing."""
    m = CROSSING.match(text)
    if not m:
        return []
    body = m.group("body")
    return [(body[:j.start()], body[j.end():]) for j in JOINER.finditer(body) if j.start() and j.end() < len(body)]


def chinese_number(text: str) -> int:
    """十二 → 12, 一百零五 → 105, 三 → 3, 二五 → 25 (digit by digit when there is no 十/百/千)."""
    if not any(ch in "十百千" for ch in text):
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch in _DIGITS:
            current = _DIGITS[ch]
        else:
            unit = {"十": 10, "百": 100, "千": 1000}[ch]
            total += (current or 1) * unit
            current = 0
    return total + current


def fold(text: str) -> str:
    """The comparable form of any address text (see the module docstring); "" for nothing usable."""
    t = unicodedata.normalize("NFKC", str(text or ""))
    t = _DROP.sub("", t)
    t = _CN_BEFORE_UNIT.sub(lambda m: str(chinese_number(m.group(1))), t)
    t = _HASH.sub(r"\1号", t)
    t = _BUILDING_WORDS.sub(r"\1栋", t)
    t = _TRIPLE.sub(r"\1栋", t)
    t = _FLAT.sub("", t)
    return _TAIL.sub("", t)


def strip_prefixes(text: str, prefixes: tuple[str, ...]) -> str:
    """Drop any of `prefixes` (longest first) from the start, repeatedly: "中国广东省茂名市…" → "…"."""
    ordered = sorted({p for p in prefixes if p}, key=len, reverse=True)
    changed = True
    while changed and text:
        changed = False
        for p in ordered:
            if text.startswith(p) and len(text) > len(p):
                text = text[len(p):]
                changed = True
                break
    return text


def short_name(name: str) -> str:
    """The name without its kind: 茂南区 → 茂南, 金山街道 → 金山, 荔园社区 → 荔园 (two characters at least)."""
    for suffix in ("街道办事处", "街道", "社区", "自治县", "新区", "区", "县", "市", "镇", "乡", "村"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class Tail:
    """What follows the road (or compound) in an address: door number, building."""

    number: str | None
    building: str | None
    rest: str


def split_tail(text: str) -> Tail:
    """"12号3栋" → number 12, building 3; "3栋" → building 3; "12" → number 12."""
    number = building = None
    m = _NUMBER.match(text)
    if m and not text[m.end(1):].startswith("栋"):
        number = m.group(1)
        text = text[m.end():]
    b = _BUILDING.search(text)
    if b:
        building = b.group(1)
        text = text[: b.start()] + text[b.end():]
    return Tail(number, building, text)


def number_value(number: str | None) -> int | None:
    """The main door number as an integer ("12-1" → 12), for "nearest number on the same side"."""
    if not number:
        return None
    head = number.split("-", 1)[0]
    return int(head) if head.isdigit() else None
