"""Query results as pandas frames.

pandas builds a frame from SQLAlchemy `Row` objects through its slow generic-sequence path: about 15×
slower than from plain tuples (22 ms against 1.5 ms for the 3k grids of a tenth-scale city, and every
overview builds several such frames). Every frame made from query rows goes through here.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Iterable, Sequence

import pandas as pd


def rows_frame(rows: Iterable[Sequence], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A frame from result rows (Row objects or tuples), in column order. Rows of dicts are not rows of
    a query: they must go to pd.DataFrame itself (a dict turned into a tuple would be its keys)."""
    data = rows if isinstance(rows, list) else list(rows)
    if data and isinstance(data[0], Mapping):
        raise TypeError("rows_frame takes query rows, not dicts")
    data = [tuple(r) for r in data]
    if columns is None:
        return pd.DataFrame(data)
    return pd.DataFrame(data, columns=list(columns)) if data else pd.DataFrame(columns=list(columns))
