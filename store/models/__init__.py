"""All tables. Each domain owns one module; importing this package registers them all on Base.metadata."""
from store.models.base import Base, RegionKeyed, UTCDateTime, utcnow
from store.models.regions import CODE_LENGTH, LEVEL_NAMES_ZH, LEVELS, Department, Region
from store.models.events import Event, EventDailyRollup, EventDistrictDaily, EventTransition
from store.models.sensors import (
    Alert,
    QuarantinedReading,
    Sensor,
    SensorDaily,
    SensorHourly,
    SensorLatest,
    SensorReading,
)
from store.models.emergency import Dispatch, Incident, IncidentLog, InventoryItem, Resource
from store.models.auth import AuditEntry, LoginAttempt, User
from store.models.stats import ExternalValue, Meta

__all__ = [
    "Base", "RegionKeyed", "UTCDateTime", "utcnow",
    "CODE_LENGTH", "LEVEL_NAMES_ZH", "LEVELS", "Department", "Region",
    "Event", "EventDailyRollup", "EventDistrictDaily", "EventTransition",
    "Alert", "QuarantinedReading", "Sensor", "SensorDaily", "SensorHourly", "SensorLatest", "SensorReading",
    "Dispatch", "Incident", "IncidentLog", "InventoryItem", "Resource",
    "AuditEntry", "LoginAttempt", "User",
    "ExternalValue", "Meta",
]
