"""The emergency vocabulary: incident types and levels, resource kinds, statuses, travel speeds.

Kinds and speeds come from `[emergency].speeds_kmh` in config.toml, so a city adds a kind of team by
configuration. Everything shown to users is Chinese; the stored status codes are English.
"""
from __future__ import annotations

import settings

INCIDENT_TYPES = ("内涝", "火灾", "危化品泄漏", "地质灾害", "台风", "公共卫生", "大气污染", "水污染")
# Names other modules (sensor alert rules, hotline categories) use for the same incident types.
TYPE_ALIASES = {
    "洪涝灾害": "内涝", "洪涝": "内涝", "城市内涝": "内涝", "暴雨内涝": "内涝",
    "森林火灾": "火灾", "危险化学品泄漏": "危化品泄漏", "危险化学品事故": "危化品泄漏",
    "突发公共卫生事件": "公共卫生", "空气污染": "大气污染", "突发水污染": "水污染",
}
# Highest first (DOMAIN.md §8).
LEVELS = ("I", "II", "III", "IV")
LEVEL_NAMES = {"I": "I级（特别重大）", "II": "II级（重大）", "III": "III级（较大）", "IV": "IV级（一般）"}

INCIDENT_STATUSES = {"open": "已开设", "responding": "处置中", "closed": "已关闭"}

RESOURCE_STATUSES = {
    "available": "待命",
    "dispatched": "已调派",
    "en_route": "出动途中",
    "on_site": "到达现场",
    "returning": "返回途中",
    "out_of_service": "停用",
}
# Statuses of a unit out on a task (between confirmation and 归队).
BUSY_STATUSES = ("dispatched", "en_route", "on_site", "returning")

# Warehouses hold stock; they are drawn on, never dispatched as a unit.
WAREHOUSE = "物资储备库"
SHELTER = "应急避难场所"
FIRE_STATION = "消防站"
MEDICAL = "医疗救护"

# Stock items the demo uses and plans mention, with their usual unit.
ITEM_UNITS = {
    "沙袋": "袋", "帐篷": "顶", "救生衣": "件", "饮用水": "箱", "折叠床": "张", "发电机": "台",
    "防护服": "套", "吸附棉": "包", "口罩": "个", "消毒液": "桶", "棉被": "床", "方便食品": "箱",
}


def canonical_type(name: str | None) -> str | None:
    """Our incident type for `name` (itself or an alias), None when unknown."""
    if name in INCIDENT_TYPES:
        return name
    return TYPE_ALIASES.get(name or "")


def speeds_kmh() -> dict[str, float]:
    return {k: float(v) for k, v in settings.get_settings()["emergency"]["speeds_kmh"].items()}


def resource_kinds() -> tuple[str, ...]:
    """Every configured kind, in config order."""
    return tuple(speeds_kmh())


def unit_kinds() -> tuple[str, ...]:
    """Kinds that are dispatched as a unit (everything except warehouses)."""
    return tuple(k for k in resource_kinds() if k != WAREHOUSE)


def speed_kmh(kind: str) -> float:
    speeds = speeds_kmh()
    if kind not in speeds:
        raise KeyError(f"未配置资源类型“{kind}”的行进速度（config.toml [emergency].speeds_kmh）")
    return speeds[kind]


def radius_km(kind: str) -> float | None:
    """Service radius norm for the kinds coverage looks at (None for other kinds)."""
    cfg = settings.get_settings()["emergency"]
    key = {FIRE_STATION: "fire_station_radius_km", MEDICAL: "medical_radius_km", SHELTER: "shelter_radius_km"}.get(kind)
    return None if key is None else float(cfg[key])


def shelter_m2_per_person() -> float:
    return float(settings.get_settings()["emergency"]["shelter_m2_per_person"])


def ring_km() -> list[float]:
    return [float(v) for v in settings.get_settings()["emergency"].get("map", {}).get("ring_km", [3, 5, 10])]


def status_label(status: str) -> str:
    return RESOURCE_STATUSES.get(status, status)
