"""Plausible, unique Chinese place names for the generated levels of the demo city.

Two syllables drawn from characters common in South-China place names (山、塘、岭、垌…), plus the
suffix of the unit's kind (街道/镇, 社区/村). Names are unique across the whole city, so a name alone
identifies a unit in lists and on the map.
"""
from __future__ import annotations

import numpy as np

_FIRST = list(dict.fromkeys("金银石新东西南北上下大长高白黄青红龙凤马鹤沙平安和福华兴盛永宝文德良林荔榕竹松梅桂莲荷云"
              "山水河江湖塘坡岭岗田坑桥潭湾港城官罗仁义礼智信忠孝乐康泰春秋丰"))
_SECOND = list(dict.fromkeys("山水江河湖塘坡岭岗洞田坑桥潭湾头尾口门园平安和福华兴盛丰宁富美源溪林"
                             "岸洲垌埇寨围圩坝阳光明冲北南东西"))


class NamePool:
    """Draws names without repeats. Deterministic for a given generator state."""

    def __init__(self, rng: np.random.Generator, reserved: set[str] | None = None):
        self._rng = rng
        self._used: set[str] = set()
        self._stems: set[str] = set()
        for name in reserved or ():
            self._used.add(name)

    def stem(self) -> str:
        for _ in range(10_000):
            a = _FIRST[int(self._rng.integers(len(_FIRST)))]
            b = _SECOND[int(self._rng.integers(len(_SECOND)))]
            if a != b and a + b not in self._stems:
                self._stems.add(a + b)
                return a + b
        # The pools hold thousands of pairs; only a city far above the "city" scale gets here.
        n = len(self._stems)
        self._stems.add(f"新{n}")
        return f"新{n}"

    def take(self, suffix: str) -> str:
        while True:
            name = self.stem() + suffix
            if name not in self._used:
                self._used.add(name)
                return name
