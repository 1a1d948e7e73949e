"""What the 应急指挥 page does, one transaction each: open an incident (map point, sensor alert, grid
event), confirm a dispatch, move a unit, release, change level, close, add a note.

Each function takes the engine and the acting Viewer, runs the domain rule (emergency.incidents,
emergency.dispatch, emergency.resources — which check the capability, the scope and the expected state)
inside one `session_scope`, and returns plain values. On any error the transaction is rolled back, so
nothing is left half-written; the error (Chinese message) reaches the caller.
"""
from __future__ import annotations

from collections.abc import Callable

from emergency import dispatch, importer, incidents, resources
from store.db import session_scope
from store.scope import PermissionDenied, Viewer

# Errors a commander's action may end with; their messages are Chinese and meant for the screen.
ACTION_ERRORS = (ValueError, PermissionDenied, resources.StaleState, dispatch.DispatchConflict,
                 incidents.AlreadyOpened)


def open_incident(engine, actor: Viewer, *, incident_type: str, level: str, lon: float, lat: float,  # noqa: ANN001
                  title: str | None = None, crs: str = "wgs84") -> int:
    """Open an incident at a point (e.g. a map click); returns its id."""
    with session_scope(engine) as s:
        return incidents.open_incident(s, incident_type=incident_type, level=level, lon=lon, lat=lat, title=title,
                                       crs=crs, actor=actor).id


def open_from_alert(engine, actor: Viewer, alert_id: int, *, incident_type: str | None = None,  # noqa: ANN001
                    level: str | None = None) -> int:
    """Open the incident a sensor alert proposes (type and level may be overridden); returns its id."""
    with session_scope(engine) as s:
        return incidents.open_from_alert(s, alert_id, actor, incident_type=incident_type, level=level).id


def open_from_event(engine, actor: Viewer, event_id: int, *, incident_type: str, level: str) -> int:  # noqa: ANN001
    """Escalate an urgent grid event to an incident at its location; returns the incident's id."""
    with session_scope(engine) as s:
        return incidents.open_from_event(s, event_id, actor, incident_type=incident_type, level=level).id


def confirm_dispatch(engine, actor: Viewer, incident_id: int,  # noqa: ANN001
                     selection: dispatch.Selection) -> dispatch.ConfirmResult:
    """Reserve every selected unit and stock quantity for the incident, or nothing (DispatchConflict)."""
    with session_scope(engine) as s:
        return dispatch.confirm(s, incident_id, selection, actor)


def release(engine, actor: Viewer, incident_id: int,  # noqa: ANN001
            used: dict[int, int] | None = None) -> dispatch.ReleaseResult:
    """Release the incident's active dispatches; `used[dispatch_id]` is the stock actually consumed."""
    with session_scope(engine) as s:
        return dispatch.release(s, incident_id, actor, used=used)


def advance_resource(engine, actor: Viewer, resource_id: str, to_status: str, *,  # noqa: ANN001
                     expected_status: str | None = None, version: int | None = None) -> resources.Move:
    """Move one unit along the status table (出发, 到达现场, 归队待命, 停用 …) from the state the user saw."""
    with session_scope(engine) as s:
        return resources.advance(s, resource_id, to_status, actor, expected_status=expected_status, version=version)


def change_level(engine, actor: Viewer, incident_id: int, level: str, reason: str = "") -> None:  # noqa: ANN001
    with session_scope(engine) as s:
        incidents.change_level(s, incident_id, level, actor, reason)


def close_incident(engine, actor: Viewer, incident_id: int, summary: str = "") -> None:  # noqa: ANN001
    with session_scope(engine) as s:
        incidents.close_incident(s, incident_id, actor, summary)


def add_note(engine, actor: Viewer, incident_id: int, message: str) -> None:  # noqa: ANN001
    with session_scope(engine) as s:
        incidents.add_note(s, incident_id, actor, message)


# -- 数据导入: resource and stock files (all rows or none; TabularError lists every bad row) ----------------

def import_resources(engine, actor: Viewer, src, *, name: str, crs: str = "wgs84",  # noqa: ANN001
                     check_only: bool = False,
                     progress: Callable[[int, int], None] | None = None) -> importer.ImportSummary:
    """Check (`check_only`: read-only, nothing written) or import a resource file."""
    with session_scope(engine, readonly=check_only) as s:
        return importer.import_resources(s, src, crs=crs, actor=actor, name=name, check_only=check_only,
                                         progress=progress)


def import_inventory(engine, actor: Viewer, src, *, name: str, check_only: bool = False,  # noqa: ANN001
                     progress: Callable[[int, int], None] | None = None) -> importer.ImportSummary:
    """Check (`check_only`: read-only, nothing written) or import a warehouse stock file."""
    with session_scope(engine, readonly=check_only) as s:
        return importer.import_inventory(s, src, actor=actor, name=name, check_only=check_only,
                                         progress=progress)
