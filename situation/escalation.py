"""What a commander may turn into an emergency incident: sensor alerts that propose one, and urgent grid
cases still open and not yet escalated. It joins two domains' facts (sensors' alerts, events' cases) to
emergency's incidents, so it lives here, above the side-by-side domains; each fact is read through its
own domain's read face, so the viewer's scope is applied where the data is read.
"""
from __future__ import annotations

import pandas as pd

from emergency import catalog
from emergency.views import EmergencyViews
from events.views import EventViews
from sensors.views import SensorViews
from store.period import local_tz
from store.scope import ReadFace

PROPOSAL_COLUMNS = ["id", "message", "opened", "severity", "proposed_type", "type", "level", "title", "grid_code"]
EVENT_COLUMNS = ["id", "title", "category", "subcategory", "reported_at", "grid_code"]


def _local(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True).dt.tz_convert(local_tz()).dt.strftime("%m-%d %H:%M")


class EscalationViews(ReadFace):
    """Sensor alert proposals and escalatable grid events, in the viewer's zone (`region` narrows)."""

    def alert_proposals(self, region: str | None = None, *, limit: int = 100) -> pd.DataFrame:
        """Open sensor alerts that propose an incident and have none yet, newest first, with the proposed
        type mapped to an incident type (None when it maps to none)."""
        rows = SensorViews(self.session, self.viewer).incident_proposals(region, limit)
        frame = pd.DataFrame([{"id": r["id"], "message": r["message"], "opened": r["opened_at"],
                               "severity": r["severity"], "proposed_type": r["incident_type"],
                               "type": catalog.canonical_type(r["incident_type"]), "level": r["level"],
                               "title": r["title"], "grid_code": r["grid_code"]} for r in rows],
                             columns=PROPOSAL_COLUMNS)
        if len(frame):
            frame["opened"] = _local(frame["opened"])
        return frame

    def escalatable_events(self, region: str | None = None, *, limit: int = 50) -> pd.DataFrame:
        """Urgent grid cases still open and not yet escalated, newest first."""
        escalated = EmergencyViews(self.session, self.viewer).escalated_event_ids(region)
        rows = EventViews(self.session, self.viewer).urgent_open(region, limit, exclude_ids=escalated)
        frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
        if len(frame):
            frame["reported"] = _local(frame["reported_at"])
        return frame
