"""HJ 633-2012 / HJ 633-2026 AQI calculator.

Every expected value below is a literal worked out from the standards' tables, never by calling
the code under test. The breakpoint tables were typed again from the PDFs into a separate scratch
calculation (exact fractions), and the results were checked by hand against the formula
IAQI = (IAQI_hi - IAQI_lo) / (BP_hi - BP_lo) * (C - BP_lo) + IAQI_lo, rounded up. Worked examples:
  2026 NO2 24h 40.6 -> rounds to 41 -> 50 + 50/40*1 = 51.25 -> 52
  2026 CO 24h 2.06 -> rounds to 2.1 -> 50 + 25*0.1 = 52.5 -> 53
  2026 PM10 24h 350.6 -> 351 -> 200 + 100/70*1 = 201.43 -> 202
  2012 PM2.5 24h 35.6 (no pre-rounding) -> 50 + 50/40*0.6 = 50.75 -> 51
  2012 CO 24h 0.06 -> 25*0.06 = 1.5 -> 2

Cross-check against independent implementations on PyPI (installed only in a scratch folder, not in
requirements), sweeping every column from 0 to past its top in steps of 0.1 µg/m³ (CO 0.01 mg/m³):
- aqi-hub 0.3.3 (claims HJ 633-2026): agrees on the NO2, CO, O3 and PM columns at concentrations
  that are already integers (CO one decimal), except where its float arithmetic rounds an exact
  breakpoint value up one too far (CO 24h 2.2 -> it says 56, exactly 55; CO 1h 65.4 -> 219 vs 218).
  It disagrees: (1) off-integer values, because it skips HJ 633-2026 §4.2.2's GB/T 8170 rounding
  (0.1 µg/m³ -> it says 1, the standard rounds to 0 first -> 0); (2) its SO2 24h column is wrong
  (0/150/500/650/800 from the 1-hour column instead of 0/50/150/475/800), e.g. SO2 24h 100 -> it
  says 34, table 3 gives 75. We follow the standard in all three.
- aqi-hub 0.2.1 (its HJ 633-2012 release): the same SO2 24h error; float ceil artefacts (CO 24h
  0.28 -> 8, exactly 7; O3 1h 160.8 -> 52, exactly 51; PM10 352.1 -> 204, exactly 203); it gives
  PM 1-hour values an IAQI from the 24-hour column, which HJ 633-2012 table 4 does not (no 分指数
  column for PM 1-hour means) - we raise NotAssessed. SO2 1h/O3 8h above 800 agree (None there).
  Apart from these, every column agrees at every step.
- python-aqi 0.6.1 ("MEP" algorithm, 2012 tables): uses US-EPA-style segments (51-100, 101-150 …
  on concentration ranges starting at BP+1), truncates concentrations (CO to whole mg/m³) and
  rounds half to even instead of up, so it differs on 20-98% of integer inputs per column (CO 24h
  3.0 -> it says 51, the HJ formula gives 75). HJ 633-2012 §4.2 formula (1) and §6.2 are followed.
"""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import column

from standards.aqi import (
    GOOD_DAY_MAX_AQI, AQIResult, NotAssessed, daily_aqi, edition_for, edition_name, hourly_aqi, iaqi, is_good_day,
    level_of,
)

NOT_ASSESSED = "not assessed"  # HJ 633-2012 table 1 notes 2/3: value not assessed on this column

# Each breakpoint B of table 3 (2026) / table 1 (2012): B - 0.6, B, B + 0.6 (CO: +-0.06), so the
# 2026 pre-rounding moves the neighbours to B - 1 and B + 1 (CO B -+ 0.1). Top rows: above the last
# breakpoint the IAQI stays 500 (SO2 1h: 200, O3 8h: 300 in 2026).
BREAKPOINTS_2026 = [
    ("SO2", "24h", [
        (0, 0), (0.6, 1),
        (49.4, 49), (50, 50), (50.6, 51),
        (149.4, 100), (150, 100), (150.6, 101),
        (474.4, 150), (475, 150), (475.6, 151),
        (799.4, 200), (800, 200), (800.6, 201),
        (1599.4, 300), (1600, 300), (1600.6, 301),
        (2099.4, 400), (2100, 400), (2100.6, 401),
        (2619.4, 500), (2620, 500), (2620.6, 500),
    ]),
    ("SO2", "1h", [
        (0, 0), (0.6, 1),
        (149.4, 50), (150, 50), (150.6, 51),
        (499.4, 100), (500, 100), (500.6, 101),
        (649.4, 150), (650, 150), (650.6, 151),
        (799.4, 200), (800, 200), (800.6, 200),
    ]),
    ("NO2", "24h", [
        (0, 0), (0.6, 2),
        (39.4, 49), (40, 50), (40.6, 52),
        (79.4, 99), (80, 100), (80.6, 101),
        (179.4, 150), (180, 150), (180.6, 151),
        (279.4, 200), (280, 200), (280.6, 201),
        (564.4, 300), (565, 300), (565.6, 301),
        (749.4, 400), (750, 400), (750.6, 401),
        (939.4, 500), (940, 500), (940.6, 500),
    ]),
    ("NO2", "1h", [
        (0, 0), (0.6, 1),
        (99.4, 50), (100, 50), (100.6, 51),
        (199.4, 100), (200, 100), (200.6, 101),
        (699.4, 150), (700, 150), (700.6, 151),
        (1199.4, 200), (1200, 200), (1200.6, 201),
        (2339.4, 300), (2340, 300), (2340.6, 301),
        (3089.4, 400), (3090, 400), (3090.6, 401),
        (3839.4, 500), (3840, 500), (3840.6, 500),
    ]),
    ("CO", "24h", [
        (0, 0), (0.06, 3),
        (1.94, 48), (2, 50), (2.06, 53),
        (3.94, 98), (4, 100), (4.06, 101),
        (13.94, 150), (14, 150), (14.06, 151),
        (23.94, 200), (24, 200), (24.06, 201),
        (35.94, 300), (36, 300), (36.06, 301),
        (47.94, 400), (48, 400), (48.06, 401),
        (59.94, 500), (60, 500), (60.06, 500),
    ]),
    ("CO", "1h", [
        (0, 0), (0.06, 1),
        (4.94, 49), (5, 50), (5.06, 51),
        (9.94, 99), (10, 100), (10.06, 101),
        (34.94, 150), (35, 150), (35.06, 151),
        (59.94, 200), (60, 200), (60.06, 201),
        (89.94, 300), (90, 300), (90.06, 301),
        (119.94, 400), (120, 400), (120.06, 401),
        (149.94, 500), (150, 500), (150.06, 500),
    ]),
    ("O3", "8h", [
        (0, 0), (0.6, 1),
        (99.4, 50), (100, 50), (100.6, 51),
        (159.4, 100), (160, 100), (160.6, 101),
        (214.4, 150), (215, 150), (215.6, 151),
        (264.4, 199), (265, 200), (265.6, 201),
        (799.4, 300), (800, 300), (800.6, 300),
    ]),
    ("O3", "1h", [
        (0, 0), (0.6, 1),
        (159.4, 50), (160, 50), (160.6, 52),
        (199.4, 99), (200, 100), (200.6, 101),
        (299.4, 150), (300, 150), (300.6, 151),
        (399.4, 200), (400, 200), (400.6, 201),
        (799.4, 300), (800, 300), (800.6, 301),
        (999.4, 400), (1000, 400), (1000.6, 401),
        (1199.4, 500), (1200, 500), (1200.6, 500),
    ]),
    ("PM10", "24h", [
        (0, 0), (0.6, 1),
        (49.4, 49), (50, 50), (50.6, 51),
        (119.4, 100), (120, 100), (120.6, 101),
        (249.4, 150), (250, 150), (250.6, 151),
        (349.4, 200), (350, 200), (350.6, 202),
        (419.4, 299), (420, 300), (420.6, 302),
        (499.4, 399), (500, 400), (500.6, 401),
        (599.4, 499), (600, 500), (600.6, 500),
    ]),
    ("PM2.5", "24h", [
        (0, 0), (0.6, 2),
        (34.4, 49), (35, 50), (35.6, 52),
        (59.4, 98), (60, 100), (60.6, 101),
        (114.4, 150), (115, 150), (115.6, 152),
        (149.4, 199), (150, 200), (150.6, 201),
        (249.4, 299), (250, 300), (250.6, 301),
        (349.4, 399), (350, 400), (350.6, 401),
        (499.4, 500), (500, 500), (500.6, 500),
    ]),
]
BREAKPOINTS_2012 = [
    ("SO2", "24h", [
        (0, 0), (0.6, 1),
        (49.4, 50), (50, 50), (50.6, 51),
        (149.4, 100), (150, 100), (150.6, 101),
        (474.4, 150), (475, 150), (475.6, 151),
        (799.4, 200), (800, 200), (800.6, 201),
        (1599.4, 300), (1600, 300), (1600.6, 301),
        (2099.4, 400), (2100, 400), (2100.6, 401),
        (2619.4, 500), (2620, 500), (2620.6, 500),
    ]),
    ("SO2", "1h", [
        (0, 0), (0.6, 1),
        (149.4, 50), (150, 50), (150.6, 51),
        (499.4, 100), (500, 100), (500.6, 101),
        (649.4, 150), (650, 150), (650.6, 151),
        (799.4, 200), (800, 200), (800.6, NOT_ASSESSED),
    ]),
    ("NO2", "24h", [
        (0, 0), (0.6, 1),
        (39.4, 50), (40, 50), (40.6, 51),
        (79.4, 100), (80, 100), (80.6, 101),
        (179.4, 150), (180, 150), (180.6, 151),
        (279.4, 200), (280, 200), (280.6, 201),
        (564.4, 300), (565, 300), (565.6, 301),
        (749.4, 400), (750, 400), (750.6, 401),
        (939.4, 500), (940, 500), (940.6, 500),
    ]),
    ("NO2", "1h", [
        (0, 0), (0.6, 1),
        (99.4, 50), (100, 50), (100.6, 51),
        (199.4, 100), (200, 100), (200.6, 101),
        (699.4, 150), (700, 150), (700.6, 151),
        (1199.4, 200), (1200, 200), (1200.6, 201),
        (2339.4, 300), (2340, 300), (2340.6, 301),
        (3089.4, 400), (3090, 400), (3090.6, 401),
        (3839.4, 500), (3840, 500), (3840.6, 500),
    ]),
    ("CO", "24h", [
        (0, 0), (0.06, 2),
        (1.94, 49), (2, 50), (2.06, 52),
        (3.94, 99), (4, 100), (4.06, 101),
        (13.94, 150), (14, 150), (14.06, 151),
        (23.94, 200), (24, 200), (24.06, 201),
        (35.94, 300), (36, 300), (36.06, 301),
        (47.94, 400), (48, 400), (48.06, 401),
        (59.94, 500), (60, 500), (60.06, 500),
    ]),
    ("CO", "1h", [
        (0, 0), (0.06, 1),
        (4.94, 50), (5, 50), (5.06, 51),
        (9.94, 100), (10, 100), (10.06, 101),
        (34.94, 150), (35, 150), (35.06, 151),
        (59.94, 200), (60, 200), (60.06, 201),
        (89.94, 300), (90, 300), (90.06, 301),
        (119.94, 400), (120, 400), (120.06, 401),
        (149.94, 500), (150, 500), (150.06, 500),
    ]),
    ("O3", "8h", [
        (0, 0), (0.6, 1),
        (99.4, 50), (100, 50), (100.6, 51),
        (159.4, 100), (160, 100), (160.6, 101),
        (214.4, 150), (215, 150), (215.6, 151),
        (264.4, 200), (265, 200), (265.6, 201),
        (799.4, 300), (800, 300), (800.6, NOT_ASSESSED),
    ]),
    ("O3", "1h", [
        (0, 0), (0.6, 1),
        (159.4, 50), (160, 50), (160.6, 51),
        (199.4, 100), (200, 100), (200.6, 101),
        (299.4, 150), (300, 150), (300.6, 151),
        (399.4, 200), (400, 200), (400.6, 201),
        (799.4, 300), (800, 300), (800.6, 301),
        (999.4, 400), (1000, 400), (1000.6, 401),
        (1199.4, 500), (1200, 500), (1200.6, 500),
    ]),
    ("PM10", "24h", [
        (0, 0), (0.6, 1),
        (49.4, 50), (50, 50), (50.6, 51),
        (149.4, 100), (150, 100), (150.6, 101),
        (249.4, 150), (250, 150), (250.6, 151),
        (349.4, 200), (350, 200), (350.6, 201),
        (419.4, 300), (420, 300), (420.6, 301),
        (499.4, 400), (500, 400), (500.6, 401),
        (599.4, 500), (600, 500), (600.6, 500),
    ]),
    ("PM2.5", "24h", [
        (0, 0), (0.6, 1),
        (34.4, 50), (35, 50), (35.6, 51),
        (74.4, 100), (75, 100), (75.6, 101),
        (114.4, 150), (115, 150), (115.6, 151),
        (149.4, 200), (150, 200), (150.6, 201),
        (249.4, 300), (250, 300), (250.6, 301),
        (349.4, 400), (350, 400), (350.6, 401),
        (499.4, 500), (500, 500), (500.6, 500),
    ]),
]


def _cases(table, edition):
    for pollutant, averaging, pairs in table:
        for conc, expected in pairs:
            yield pytest.param(pollutant, averaging, conc, expected, edition,
                               id=f"{edition}-{pollutant}-{averaging}-{conc}")


@pytest.mark.parametrize(
    "pollutant,averaging,conc,expected,edition",
    [*_cases(BREAKPOINTS_2026, "2026"), *_cases(BREAKPOINTS_2012, "2012")],
)
def test_every_breakpoint_and_its_neighbours(pollutant, averaging, conc, expected, edition):
    if expected == NOT_ASSESSED:
        with pytest.raises(NotAssessed):
            iaqi(pollutant, conc, averaging, edition)
    else:
        assert iaqi(pollutant, conc, averaging, edition) == expected


def test_default_edition_is_2026():
    assert iaqi("PM2.5", 75, "24h") == 114  # 100 + 50/55*15 = 113.6 -> 114 (2012: 100)
    assert iaqi("PM2.5", 75, "24h", "2012") == 100


# --- rounding -------------------------------------------------------------------------------

@pytest.mark.parametrize("conc,expected", [
    (35.4, 50),      # -> 35
    (35.5, 52),      # half to even -> 36 -> 50 + 2*1
    (35.6, 52),      # -> 36
    (36.5, 52),      # half to even -> 36
    (34.5, 49),      # half to even -> 34 -> 50*34/35 = 48.57
    (35.50001, 52),  # more than half -> 36
    (34.50001, 50),  # -> 35
    (Decimal("35.5"), 52),
])
def test_2026_rounds_concentration_half_to_even(conc, expected):
    assert iaqi("PM2.5", conc, "24h", "2026") == expected


@pytest.mark.parametrize("conc,expected", [
    (35.4, 51),  # 50 + 1.25*0.4 = 50.5 -> 51: no pre-rounding, IAQI rounded up
    (35.5, 51),  # 50.625
    (35.6, 51),  # 50.75
    (34.5, 50),  # 50*34.5/35 = 49.29
])
def test_2012_does_not_round_concentration(conc, expected):
    assert iaqi("PM2.5", conc, "24h", "2012") == expected


@pytest.mark.parametrize("conc,expected_2026,expected_2012", [
    (2.05, 50, 52),  # 2026: -> 2.0 (half to even); 2012: 50 + 25*0.05 = 51.25
    (2.15, 55, 54),  # 2026: -> 2.2 -> 55;            2012: 53.75
    (2.25, 55, 57),  # 2026: -> 2.2;                   2012: 56.25
    (2.35, 60, 59),  # 2026: -> 2.4 -> 60;             2012: 58.75
])
def test_co_rounds_to_one_decimal(conc, expected_2026, expected_2012):
    assert iaqi("CO", conc, "24h", "2026") == expected_2026
    assert iaqi("CO", conc, "24h", "2012") == expected_2012


@pytest.mark.parametrize("pollutant,averaging,conc,edition,expected", [
    ("CO", "24h", 2.2, "2026", 55),     # 50 + 25*0.2 is exactly 55 (float arithmetic gives 55.000…01)
    ("CO", "1h", 65.4, "2026", 218),    # 200 + 100/30*5.4 = 218 exactly
    ("CO", "24h", 0.28, "2012", 7),     # 25*0.28 = 7 exactly
    ("O3", "1h", 160.8, "2012", 51),    # 50 + 50/40*0.8 = 51 exactly
    ("PM10", "24h", 352.1, "2012", 203),  # 200 + 100/70*2.1 = 203 exactly
    ("O3", "8h", 215, "2026", 150),     # 100 + 50/55*55
])
def test_exact_arithmetic_never_rounds_an_exact_value_up(pollutant, averaging, conc, edition, expected):
    assert iaqi(pollutant, conc, averaging, edition) == expected


# --- special rules --------------------------------------------------------------------------

@pytest.mark.parametrize("conc", [800.4, 801, 1000, 5000])
def test_2026_so2_1h_above_800_counts_200(conc):
    assert iaqi("SO2", conc, "1h", "2026") == 200


@pytest.mark.parametrize("conc", [800.6, 801, 2000])
def test_2026_o3_8h_above_800_counts_300(conc):
    assert iaqi("O3", conc, "8h", "2026") == 300


def test_2012_so2_1h_above_800_is_not_assessed():
    with pytest.raises(NotAssessed) as info:
        iaqi("SO2", 800.1, "1h", "2012")
    assert info.value.instead == ("SO2", "24h")
    assert not isinstance(info.value, ValueError)
    assert iaqi("SO2", 800, "1h", "2012") == 200


def test_2012_o3_8h_above_800_is_not_assessed():
    with pytest.raises(NotAssessed) as info:
        iaqi("O3", 800.1, "8h", "2012")
    assert info.value.instead == ("O3", "1h")


def test_pm_1h_uses_daily_column_in_2026_only():
    assert iaqi("PM2.5", 80, "1h", "2026") == 119   # 100 + 50/55*20 = 118.2
    assert iaqi("PM10", 130, "1h", "2026") == 104   # 100 + 50/130*10 = 103.8
    # HJ 633-2012 table 4: PM 1-hour means are reported without a sub-index.
    with pytest.raises(NotAssessed) as info:
        iaqi("PM2.5", 80, "1h", "2012")
    assert info.value.instead == ("PM2.5", "24h")


def test_beyond_the_table_is_capped_at_500_and_flagged():
    assert iaqi("PM2.5", 600, "24h", "2026") == 500
    assert iaqi("PM2.5", 600, "24h", "2012") == 500
    assert iaqi("CO", 60.04, "24h", "2026") == 500  # -> 60.0: on the top row, not beyond
    r = daily_aqi({"SO2": 10, "NO2": 30, "CO": 0.8, "O3": 120, "PM10": 650, "PM2.5": 600})
    assert r.aqi == 500 and r.beyond_scale == ["PM10", "PM2.5"] and r.primary == ["PM10", "PM2.5"]
    assert (r.level, r.category, r.color) == (6, "严重污染", "#7E0023")
    r = daily_aqi({"SO2": 10, "NO2": 30, "CO": 0.8, "O3": 120, "PM10": 600, "PM2.5": 500.4})
    assert r.aqi == 500 and r.beyond_scale == []


# --- daily and hourly reports ---------------------------------------------------------------

DAY = {"SO2": 10, "NO2": 30, "CO": 0.8, "O3": 120, "PM10": 60, "PM2.5": 40}


def test_daily_2026():
    r = daily_aqi(DAY)
    # SO2 10; NO2 50/40*30 = 37.5; CO 25*0.8 = 20; O3 50 + 50/60*20 = 66.7;
    # PM10 50 + 50/70*10 = 57.1; PM2.5 50 + 2*5 = 60
    assert r.iaqi == {"SO2": 10, "NO2": 38, "CO": 20, "O3": 67, "PM10": 58, "PM2.5": 60}
    assert r.aqi == 67 and r.primary == ["O3"] and r.exceeding == []
    assert (r.level, r.category, r.color, r.edition) == (2, "良", "#FFFF00", "2026")
    assert r.missing == []
    assert isinstance(r, AQIResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.aqi = 1  # type: ignore[misc]


def test_daily_2012_same_data():
    r = daily_aqi(DAY, edition="2012")
    # PM10 50 + 0.5*10 = 55; PM2.5 50 + 1.25*5 = 56.25
    assert r.iaqi == {"SO2": 10, "NO2": 38, "CO": 20, "O3": 67, "PM10": 55, "PM2.5": 57}
    assert r.aqi == 67 and r.edition == "2012"
    assert r.missing == ["O3_1h"]  # 2012 has a seventh item; no NA rule, so the AQI still stands


def test_pm25_75_exceeds_under_2026_only():
    data = {"SO2": 5, "NO2": 20, "CO": 0.5, "O3": 80, "PM10": 100, "PM2.5": 75}
    r = daily_aqi(data, "2026")
    # NO2 25; CO 12.5; O3 40; PM10 50 + 50/70*50 = 85.7; PM2.5 113.6
    assert r.iaqi == {"SO2": 5, "NO2": 25, "CO": 13, "O3": 40, "PM10": 86, "PM2.5": 114}
    assert (r.aqi, r.primary, r.exceeding) == (114, ["PM2.5"], ["PM2.5"])
    assert (r.level, r.category, r.color) == (3, "轻度污染", "#FF7E00")
    r = daily_aqi(data, "2012")
    assert r.iaqi == {"SO2": 5, "NO2": 25, "CO": 13, "O3": 40, "PM10": 75, "PM2.5": 100}
    assert (r.aqi, r.primary, r.exceeding, r.level) == (100, ["PM2.5"], [], 2)


def test_2026_daily_o3_8h_above_800():
    r = daily_aqi({**DAY, "O3": 850})
    assert r.iaqi["O3"] == 300 and r.aqi == 300
    assert (r.level, r.category, r.color) == (5, "重度污染", "#99004C")


def test_2012_daily_o3_8h_above_800_uses_1h_iaqi():
    r = daily_aqi({**DAY, "O3": 850, "O3_1h": 900}, "2012")
    # O3 1h 900: 300 + 100/200*100 = 350 stands in for the 8-hour IAQI
    assert r.iaqi["O3"] == 350 and r.iaqi["O3_1h"] == 350
    assert r.aqi == 350 and r.primary == ["O3"] and r.exceeding == ["O3"]
    assert (r.level, r.category, r.color) == (6, "严重污染", "#7E0023")
    r = daily_aqi({**DAY, "O3": 850}, "2012")  # no 1-hour value to stand in: O3 is missing
    assert "O3" not in r.iaqi and r.missing == ["O3", "O3_1h"]
    assert r.aqi == 57 and r.primary == ["PM2.5"]  # 2012 PM2.5 40: 50 + 1.25*5 = 56.25


HOUR = {"SO2": 20, "NO2": 50, "CO": 1.0, "O3": 100, "PM10": 130, "PM2.5": 80,
        "O3_8h": 90, "PM10_24h": 100, "PM2.5_24h": 70}


def test_hourly_2026():
    r = hourly_aqi(HOUR)
    # SO2 50/150*20 = 6.7; NO2 50/100*50 = 25; CO 10*1.0; O3 50/160*100 = 31.25;
    # PM10 1h on the daily column 103.8; PM2.5 118.2. The 2012-only keys are ignored.
    assert r.iaqi == {"SO2": 7, "NO2": 25, "CO": 10, "O3": 32, "PM10": 104, "PM2.5": 119}
    assert (r.aqi, r.primary, r.exceeding, r.level) == (119, ["PM2.5"], ["PM10", "PM2.5"], 3)


def test_hourly_2012_nine_items():
    r = hourly_aqi(HOUR, "2012")
    # O3_8h 50/100*90 = 45; PM10_24h 50 + 0.5*50 = 75; PM2.5_24h 50 + 1.25*35 = 93.75.
    # PM10/PM2.5 1-hour means carry no IAQI in 2012.
    assert r.iaqi == {"SO2": 7, "NO2": 25, "CO": 10, "O3": 32, "O3_8h": 45,
                      "PM10_24h": 75, "PM2.5_24h": 94}
    assert (r.aqi, r.primary, r.exceeding, r.level) == (94, ["PM2.5"], [], 2)


def test_hourly_so2_above_800():
    r = hourly_aqi({**HOUR, "SO2": 900})
    assert r.iaqi["SO2"] == 200 and r.aqi == 200 and r.primary == ["SO2"]
    r = hourly_aqi({**HOUR, "SO2": 900, "SO2_24h": 200}, "2012")
    assert r.iaqi["SO2"] == 108  # SO2 24h 200: 100 + 50/325*50 = 107.7
    assert r.aqi == 108 and r.primary == ["SO2"] and r.exceeding == ["SO2"]
    r = hourly_aqi({**HOUR, "SO2": 900}, "2012")  # no 24-hour value: SO2 is missing
    assert "SO2" not in r.iaqi and r.missing == ["SO2"] and r.aqi == 94


def test_hourly_2012_o3_8h_above_800_uses_o3_1h():
    r = hourly_aqi({**HOUR, "O3": 700, "O3_8h": 850}, "2012")
    # O3 1h 700: 200 + 100/400*300 = 275
    assert r.iaqi["O3"] == 275 and r.iaqi["O3_8h"] == 275 and r.primary == ["O3"]


# --- missing data (HJ 633-2026 §5.3.1) ------------------------------------------------------

@pytest.mark.parametrize("pm25", [None, float("nan"), "absent"])
def test_missing_item_with_aqi_at_most_100_is_na(pm25):
    data = dict(DAY)
    if pm25 == "absent":
        del data["PM2.5"]
    else:
        data["PM2.5"] = pm25
    r = daily_aqi(data)
    assert r.aqi is None and r.level is None and r.category is None and r.color is None
    assert r.primary == [] and r.missing == ["PM2.5"]
    assert r.iaqi == {"SO2": 10, "NO2": 38, "CO": 20, "O3": 67, "PM10": 58}


def test_missing_item_boundary_100_and_101():
    data = {"SO2": 10, "NO2": 30, "CO": 0.8, "O3": 120, "PM10": 120}
    assert daily_aqi(data).aqi is None                    # PM10 120 -> 100: NA
    r = daily_aqi({**data, "PM10": 121})                  # 100 + 50/130 = 100.4 -> 101
    assert (r.aqi, r.level, r.primary) == (101, 3, ["PM10"])


def test_missing_item_with_aqi_above_100_is_published():
    r = daily_aqi({"SO2": 10, "NO2": 30, "CO": 0.8, "O3": 250, "PM10": 60})
    # O3 8h 250: 150 + 50/50*35 = 185
    assert (r.aqi, r.primary, r.level, r.category, r.color) == (185, ["O3"], 4, "中度污染", "#FF0000")
    assert r.missing == ["PM2.5"]


def test_item_outside_monitoring_plan_does_not_trigger_na():
    data = {k: v for k, v in DAY.items() if k != "CO"}
    assert daily_aqi(data).aqi is None
    r = daily_aqi(data, not_monitored=["CO"])
    assert r.aqi == 67 and r.missing == []


def test_2012_has_no_na_rule_and_all_missing_gives_none():
    data = {k: v for k, v in DAY.items() if k != "PM2.5"}
    assert daily_aqi(data, "2012").aqi == 67
    r = daily_aqi({})
    assert r.aqi is None and r.iaqi == {} and r.level is None
    assert hourly_aqi({"SO2": None}, "2012").aqi is None


# --- primary pollutant ----------------------------------------------------------------------

def test_primary_ties_list_all():
    r = daily_aqi({"SO2": 5, "NO2": 20, "CO": 0.5, "O3": 80, "PM10": 120, "PM2.5": 60})
    assert r.aqi == 100 and r.primary == ["PM10", "PM2.5"] and r.exceeding == []
    r = hourly_aqi({"SO2": 5, "NO2": 200, "CO": 0.5, "O3": 200, "PM10": 10, "PM2.5": 10})
    assert r.aqi == 100 and r.primary == ["NO2", "O3"]


def test_no_primary_at_or_below_50():
    r = daily_aqi({"SO2": 50, "NO2": 40, "CO": 2, "O3": 100, "PM10": 50, "PM2.5": 35})
    assert r.aqi == 50 and r.primary == [] and (r.level, r.category, r.color) == (1, "优", "#00E400")
    r = daily_aqi({"SO2": 50, "NO2": 40, "CO": 2.06, "O3": 100, "PM10": 50, "PM2.5": 35})
    assert r.aqi == 53 and r.primary == ["CO"]  # CO 2.06 -> 2.1 -> 52.5


# --- levels ---------------------------------------------------------------------------------

@pytest.mark.parametrize("aqi,expected", [
    (0, (1, "优", "#00E400")), (50, (1, "优", "#00E400")),
    (51, (2, "良", "#FFFF00")), (100, (2, "良", "#FFFF00")),
    (101, (3, "轻度污染", "#FF7E00")), (150, (3, "轻度污染", "#FF7E00")),
    (151, (4, "中度污染", "#FF0000")), (200, (4, "中度污染", "#FF0000")),
    (201, (5, "重度污染", "#99004C")), (300, (5, "重度污染", "#99004C")),
    (301, (6, "严重污染", "#7E0023")), (500, (6, "严重污染", "#7E0023")),
])
def test_level_of(aqi, expected):
    assert level_of(aqi) == expected
    assert level_of(aqi, "2012") == expected


@pytest.mark.parametrize("edition", ["2012", "2026"])
def test_good_day_bound_is_the_end_of_level_2(edition):
    assert level_of(GOOD_DAY_MAX_AQI, edition)[:2] == (2, "良")
    assert level_of(GOOD_DAY_MAX_AQI + 1, edition)[0] == 3


def test_is_good_day_on_numbers_series_and_sql():
    assert is_good_day(0) and is_good_day(100) and not is_good_day(101)
    assert not is_good_day(None) and not is_good_day(float("nan"))
    flags = is_good_day(pd.Series([50, 100, 101, np.nan]))
    assert flags.tolist() == [True, True, False, False]
    assert str(is_good_day(column("value"))) == "value <= :value_1"


# --- edition by date ------------------------------------------------------------------------

SHANGHAI = timezone(timedelta(hours=8))


@pytest.mark.parametrize("when,expected", [
    (date(2026, 2, 28), "2012"),
    (date(2026, 3, 1), "2026"),
    (date(2020, 6, 1), "2012"),
    (date(2013, 1, 1), "2012"),       # before nationwide adoption: still the 2012 edition
    (date(2031, 1, 1), "2026"),
    (datetime(2026, 2, 28, 23, 59, 59), "2012"),   # naive = local time
    (datetime(2026, 3, 1, 0, 0), "2026"),
    (datetime(2026, 2, 28, 15, 59, 59, tzinfo=timezone.utc), "2012"),  # 23:59:59 in Shanghai
    (datetime(2026, 2, 28, 16, 0, tzinfo=timezone.utc), "2026"),       # 00:00 on 1 March there
    (datetime(2026, 3, 1, 0, 30, tzinfo=SHANGHAI), "2026"),
])
def test_edition_for_date(when, expected):
    assert edition_for(when) == expected
    assert edition_for(when, "auto") == expected
    assert edition_for(when, None) == expected


def test_edition_name():
    assert [edition_name(e) for e in ("2012", "2026", None, "x")] == ["HJ 633-2012", "HJ 633-2026", "—", "x"]


def test_edition_override():
    assert edition_for(date(2020, 1, 1), "2026") == "2026"
    assert edition_for(date(2027, 1, 1), "2012") == "2012"
    with pytest.raises(ValueError):
        edition_for(date(2027, 1, 1), "2019")
    with pytest.raises(ValueError):
        edition_for("2026-03-01")  # type: ignore[arg-type]


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("PM25", 10, "24h"),        # unknown pollutant
    ("SO2", 10, "8h"),          # no such column
    ("O3", 10, "24h"),
    ("PM2.5", 10, "1d"),
    ("SO2", -0.1, "24h"),       # negative
    ("SO2", float("nan"), "24h"),
    ("SO2", float("inf"), "24h"),
    ("SO2", None, "24h"),
    ("SO2", "12", "24h"),
    ("SO2", True, "24h"),
])
def test_iaqi_rejects_bad_input(args):
    with pytest.raises(ValueError):
        iaqi(*args)


def test_reports_reject_unknown_names_and_negative_values():
    with pytest.raises(ValueError, match="PM25"):
        daily_aqi({"PM25": 10})
    with pytest.raises(ValueError):
        daily_aqi({"PM10_24h": 10})  # an hourly-only key
    with pytest.raises(ValueError):
        hourly_aqi({"SO2": -1})
    with pytest.raises(ValueError):
        daily_aqi(DAY, edition="2019")
    with pytest.raises(ValueError):
        iaqi("SO2", 10, "24h", edition="2012a")
    with pytest.raises(ValueError):
        level_of(-1)
