"""The writes the 数据导入 screen (and the command line) trigger on boundaries, cities and base layers,
each in one transaction on the engine.

Who may import is decided by the caller (auth.roles sits beside geo, not below it). A check runs the
very same code as the import inside a transaction that is rolled back, so what a check says is exactly
what the import would do; problems come back in the result (`report.errors`, `Onboarding.ok`), not as
an exception.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from geo import basemap, cities
from geo.boundaries import ImportReport, import_boundaries
from geo.boundary_read import FieldMap
from store.db import session_scope

Progress = Callable[[int, int], None]


class _DryRun(Exception):
    """Raised at the end of a check to roll its transaction back."""

    def __init__(self, result) -> None:  # noqa: ANN001
        super().__init__("dry run")
        self.result = result


def import_boundary_file(engine: Engine, source: bytes | str | Path, crs: str | None = None, *, name: str,
                         encoding: str | None = None, check_only: bool = False, progress: Progress | None = None,
                         layer: str | None = None, fields: FieldMap | None = None) -> ImportReport:
    """Check (`check_only`: in a read-only transaction, nothing written) or import a boundary or grid
    file — GeoJSON, zipped Shapefile, GeoPackage, KML/KMZ: every feature or none."""
    with session_scope(engine, readonly=check_only) as session:
        return import_boundaries(session, source, crs, encoding=encoding, source_name=name, check_only=check_only,
                                 progress=progress, layer=layer, fields=fields)


def onboard_city(engine: Engine, code: str, *, name: str | None = None, province: str | None = None,
                 boundaries: list[cities.BoundaryFile] = (), population: int | None = None,
                 routing_file: str | None = None, calendar: dict | None = None, check: bool = False,
                 progress: Progress | None = None) -> cities.Onboarding:
    """Onboard city `code` from its own boundary files (geo.cities.onboard_city) in one transaction.
    `check`: do everything, report it, then roll back. A failure leaves the database as it was and
    comes back as `result.ok == False` with the reports (the failed one last) or `result.error`."""
    try:
        with session_scope(engine) as session:
            result = cities.onboard_city(session, code, name=name, province=province, boundaries=list(boundaries),
                                         population=population, routing_file=routing_file, calendar=calendar,
                                         progress=progress)
            if check:
                raise _DryRun(result)
    except _DryRun as dry:
        result = dry.result
        result.check_only = True
        for report in result.reports:
            report.check_only, report.boundary_version = True, None
    except cities.OnboardFailed as failed:
        result = failed.result
    except cities.CityError as exc:
        result = cities.Onboarding(code, name or "", "", error=str(exc))
    return result


def load_base_layer(engine: Engine, city_code: str, kind: str, source: bytes | str | Path, crs: str | None = None, *,
                    name: str | None = None, layer: str | None = None, encoding: str | None = None,
                    name_field: str | None = None, class_field: str | None = None, replace: bool = True,
                    check: bool = False, progress: Progress | None = None) -> basemap.LoadReport:
    """Load one base layer of a city (roads, water, buildings, places) from its GIS office's file and
    rebuild the vector tiles, in one transaction (`check`: everything, then rolled back)."""
    try:
        with session_scope(engine) as session:
            report = basemap.load_layer(session, city_code, kind, source, crs, name=name, layer=layer,
                                        encoding=encoding, name_field=name_field, class_field=class_field,
                                        replace=replace, progress=progress)
            if not report.ok or check:
                raise _DryRun(report)
    except _DryRun as dry:
        report = dry.result
        report.check_only = check
    return report
