"""The catalogue (指标库) as data: search and filter, one table row per indicator for display and export."""
from __future__ import annotations

import pandas as pd

from indicators.describe import summary_rows
from indicators.library import load_library
from indicators.schema import DOMAINS, Indicator


def search(text: str = "", domains: list[str] | tuple[str, ...] | None = None,
           library: dict[str, Indicator] | None = None) -> list[Indicator]:
    """Indicators whose id, name, description, owner or unit contain every word of `text`
    (case-insensitive), within `domains` (all when empty); ordered by domain, then file order."""
    lib = library if library is not None else load_library()
    words = [w.lower() for w in (text or "").split()]
    out = []
    for ind in lib.values():
        if domains and ind.domain not in domains:
            continue
        hay = " ".join((ind.id, ind.name, ind.description, ind.owner, ind.unit, ind.domain)).lower()
        if all(w in hay for w in words):
            out.append(ind)
    order = {d: i for i, d in enumerate(DOMAINS)}
    return sorted(out, key=lambda i: order.get(i.domain, 99))


def catalogue_frame(indicators: list[Indicator] | None = None) -> pd.DataFrame:
    """One row per indicator with every field of its definition in words (the Excel export)."""
    inds = indicators if indicators is not None else search()
    rows = [dict(summary_rows(ind)) for ind in inds]
    columns = [label for label, _ in summary_rows(inds[0])] if inds else ["编号", "名称"]
    return pd.DataFrame(rows, columns=columns)


def domain_counts(library: dict[str, Indicator] | None = None) -> dict[str, int]:
    lib = library if library is not None else load_library()
    return {d: sum(1 for i in lib.values() if i.domain == d) for d in DOMAINS}
