"""Integer ids typed by a user or carried in the URL (?case=…, ?incident=…): one parser, so that
`?case=99999999999999999999`, `?case=²` or `?case=-1` get a Chinese message instead of an
OverflowError or a database error box."""
from __future__ import annotations

import unicodedata

import streamlit as st

# Ids are INTEGER columns: PostgreSQL's integer is 32-bit, so anything larger can name no row.
MAX_ID = 2**31 - 1


def parse_id(text: str | None, label: str = "编号", *, minimum: int = 1,
             maximum: int = MAX_ID) -> tuple[int | None, str | None]:
    """(value, None) for a valid id, (None, Chinese message) for a bad one, (None, None) for empty.
    Full-width digits (IME input) count; a leading "#" is allowed."""
    raw = unicodedata.normalize("NFKC", str(text or "")).strip().lstrip("#").strip()
    if not raw:
        return None, None
    if not (raw.isascii() and raw.isdigit()):
        return None, f"{label}应为数字"
    if len(raw) > len(str(maximum)) or not minimum <= int(raw) <= maximum:
        return None, f"{label}超出范围（{minimum}–{maximum}）"
    return int(raw), None


def int_param(name: str, label: str = "编号", *, minimum: int = 1, maximum: int = MAX_ID) -> int | None:
    """The integer query parameter `name`, or None when absent or invalid (with a warning saying why)."""
    value, problem = parse_id(st.query_params.get(name), label, minimum=minimum, maximum=maximum)
    if problem:
        st.warning(f"链接中的{problem}，已忽略")
    return value
