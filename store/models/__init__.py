"""All tables. Each domain owns one module; importing this package registers them all on Base.metadata."""
from store.models.base import Base, RegionKeyed, UTCDateTime, utcnow
from store.models.regions import CODE_LENGTH, LEVEL_NAMES_ZH, LEVELS, Department, Region
from store.models.events import (Event, EventDailyRollup, EventDepartmentDaily, EventDistrictDaily,
                                 EventGridMonthly, EventGridMonthTotal, EventStatusCohort, EventTransition)
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
from store.models.auth import AuditEntry, LoginAttempt, PasswordHistory, RecoveryCode, User
from store.models.security import AuditArchive, LoginBlockWindow
from store.models.stats import ExternalValue, Meta
from store.models.addresses import StandardAddress
from store.models.open311 import ApiCallWindow, ApiKey, Open311Token
from store.models.supervision import Escalation, Hotspot, Supervision
from store.models.outbox import ExchangeDestination, ExchangeTask, Message, OutboxDelivery, OutboxRecord
from store.models.cities import BasemapFeature, BasemapTile, City

__all__ = [
    "Base", "RegionKeyed", "UTCDateTime", "utcnow",
    "CODE_LENGTH", "LEVEL_NAMES_ZH", "LEVELS", "Department", "Region",
    "Event", "EventDailyRollup", "EventDepartmentDaily", "EventDistrictDaily", "EventGridMonthly",
    "EventGridMonthTotal", "EventStatusCohort", "EventTransition",
    "Alert", "QuarantinedReading", "Sensor", "SensorDaily", "SensorHourly", "SensorLatest", "SensorReading",
    "Dispatch", "Incident", "IncidentLog", "InventoryItem", "Resource",
    "AuditEntry", "LoginAttempt", "PasswordHistory", "RecoveryCode", "User",
    "AuditArchive", "LoginBlockWindow",
    "ExternalValue", "Meta",
    "StandardAddress",
    "ApiCallWindow", "ApiKey", "Open311Token",
    "Escalation", "Hotspot", "Supervision",
    "ExchangeDestination", "ExchangeTask", "Message", "OutboxDelivery", "OutboxRecord",
    "BasemapFeature", "BasemapTile", "City",
]
