"""Text from outside shown as text (DESIGN.md "Text from outside is data"): case titles, descriptions,
addresses, reporter and user names, notes, region/department/resource/sensor names from imports, alert
messages, and every message that quotes them (a refusal naming the bad value, a success naming a unit).

Streamlit renders as Markdown the body of st.markdown/caption/info/success/warning/error/toast, widget,
button and metric labels, tab and expander titles, page-link labels and radio/pills options — with its
own extensions on top of GitHub Markdown: colour and badge directives (`:red[…]`), `:material/…:`
icons, emoji short codes and `$…$` LaTeX. A title such as `![图](http://host/t.png)` would make every
browser that shows it fetch from that host. So outside text goes into those places only through
`md()` / `md_block()` (or the show functions below, which escape a whole message):

- every ASCII punctuation character gets a backslash. CommonMark allows the escape on any ASCII
  punctuation and the escaped character is then literal text for every construct — links, images,
  emphasis, code, raw HTML, headings, lists, block quotes, tables, autolinks — and Streamlit's
  directive, icon, emoji and math passes (they look for the unescaped `:`/`$`) skip it too;
- leading blanks of a line are made non-breaking, so they never start an indented code block;
- line breaks stay line breaks (`md_block`) or become spaces (`md`, for one-line places).

Elements that never interpret Markdown need nothing: st.text, st.code, dataframe/table cells and
selectbox/multiselect options. st.html bodies take `html()` instead.
"""
from __future__ import annotations

import html as _html
import re

import streamlit as st

# Every ASCII punctuation character: ! " # $ % & ' ( ) * + , - . / : ; < = > ? @ [ \ ] ^ _ ` { | } ~
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_LEADING_BLANKS = re.compile(r"^[ \t]+")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def _escape_line(line: str) -> str:
    line = _PUNCTUATION.sub(r"\\\1", line)
    return _LEADING_BLANKS.sub(lambda m: "\u00a0" * len(m.group(0).expandtabs(4)), line)


def md(value: object) -> str:
    """`value` (None → "") as inline Markdown that shows exactly its characters, on one line."""
    if value is None:
        return ""
    return _escape_line(" ".join(_LINE_BREAKS.split(str(value))))


def md_block(value: object) -> str:
    """`value` as Markdown that shows exactly its characters, keeping its line breaks (a hard break per
    line; an empty line still separates paragraphs)."""
    if value is None:
        return ""
    return "  \n".join(_escape_line(line) for line in _LINE_BREAKS.split(str(value)))


def html(value: object) -> str:
    """`value` for an st.html body or attribute: &, <, >, " and ' as character references."""
    return "" if value is None else _html.escape(str(value), quote=True)


# -- a whole message that may quote outside text, shown as text ---------------------------------------
def caption(text: object) -> None:
    st.caption(md_block(text))


def info(text: object, **kw) -> None:  # noqa: ANN003 - icon=, width= as st.info
    st.info(md_block(text), **kw)


def success(text: object, **kw) -> None:  # noqa: ANN003
    st.success(md_block(text), **kw)


def warning(text: object, **kw) -> None:  # noqa: ANN003
    st.warning(md_block(text), **kw)


def error(text: object, **kw) -> None:  # noqa: ANN003
    st.error(md_block(text), **kw)


def toast(text: object, **kw) -> None:  # noqa: ANN003
    st.toast(md_block(text), **kw)


SHOW = {"caption": caption, "info": info, "success": success, "warning": warning, "error": error, "toast": toast}


def show(kind: str, text: object, **kw) -> None:  # noqa: ANN003
    """One of the above by name ("success", "error"…), for flash messages kept between reruns."""
    SHOW[kind](text, **kw)
