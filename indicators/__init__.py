"""The indicator library: definitions as data (indicators/library/*.yaml) and one engine that computes
any of them for any region level and period, within the viewer's zone.

    from indicators import load_library, compute, compute_children, series, compute_many

Exports resolve lazily (PEP 562), so importing a light submodule (`indicators.library`,
`indicators.status`) does not pull in the engine and pandas.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Result": "indicators.engine", "compute": "indicators.engine", "compute_children": "indicators.engine",
    "compute_children_many": "indicators.engine", "compute_many": "indicators.engine",
    "comparison_periods": "indicators.engine", "series": "indicators.engine",
    "LIBRARY_DIR": "indicators.library", "LibraryError": "indicators.library",
    "get_indicator": "indicators.library", "load_library": "indicators.library",
    "validate_library": "indicators.library",
    "DOMAINS": "indicators.schema", "Indicator": "indicators.schema",
    "STATUS_COLORS": "indicators.status", "STATUS_LABELS": "indicators.status", "bands": "indicators.status",
    "fmt_delta": "indicators.status", "fmt_value": "indicators.status", "status_of": "indicators.status",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):  # noqa: ANN202
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'indicators' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
