"""geo.crs against published reference points and an independent library — never against itself
(except for round trips, which check the inverse against the forward transform)."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import crs

DATA = Path(__file__).parent / "data" / "geo"
XCHECK_DIR = Path("/tmp/xcheck-geo")


# Published in the README/test of wandergis/coordtransform (the most widely used JS implementation):
# input (116.404, 39.915) — Beijing, near Tiananmen.
PUBLISHED = {
    "wgs84togcj02": (116.41024449916938, 39.91640428150164),
    "gcj02tobd09": (116.41036949371029, 39.92133699351021),
    # Its inverses are the one-step approximations (metre-level), so they bound ours loosely.
    "bd09togcj02": (116.39762729119315, 39.90865673957631),
    "gcj02towgs84": (116.39775550083061, 39.91359571849836),
}


def test_published_forward_points_exact():
    assert crs.from_wgs84(116.404, 39.915, "gcj02") == pytest.approx(PUBLISHED["wgs84togcj02"], abs=1e-12)
    lon, lat = crs.gcj02_to_bd09(116.404, 39.915)
    assert (float(lon), float(lat)) == pytest.approx(PUBLISHED["gcj02tobd09"], abs=1e-12)


def test_published_inverse_points_within_approximation():
    # The published inverses are first-order: they differ from the exact inverse by < 1e-5°.
    assert crs.to_wgs84(116.404, 39.915, "gcj02") == pytest.approx(PUBLISHED["gcj02towgs84"], abs=1e-5)
    lon, lat = crs.bd09_to_gcj02(116.404, 39.915)
    assert (float(lon), float(lat)) == pytest.approx(PUBLISHED["bd09togcj02"], abs=1e-5)


def _xcheck_points():
    return json.loads((DATA / "xcheck_prcoords.json").read_text(encoding="utf-8"))["points"]


@pytest.mark.parametrize("point", _xcheck_points(), ids=lambda p: p["name"])
def test_against_prcoords_recorded(point):
    """Values recorded from prcoords (an independent CC0 implementation) by tests/data/geo/make_xcheck.py."""
    lon, lat = point["wgs84"]
    assert crs.from_wgs84(lon, lat, "gcj02") == pytest.approx(point["gcj02"], abs=1e-9)
    assert crs.from_wgs84(lon, lat, "bd09") == pytest.approx(point["bd09"], abs=1e-9)
    # prcoords stops its inverse iteration at a 1e-5 step (its residual is up to ~1.5e-7°; ours is
    # ~1e-13°, see the round-trip test), so inverses agree to 5e-7° (≈ 5 cm).
    assert crs.to_wgs84(lon, lat, "gcj02") == pytest.approx(point["gcj02_to_wgs84"], abs=5e-7)
    assert crs.to_wgs84(lon, lat, "bd09") == pytest.approx(point["bd09_to_wgs84"], abs=5e-7)


@pytest.fixture(scope="module")
def xlibs():
    """prcoords and eviltransform, installed only in a scratch folder (see make_xcheck.py)."""
    if not XCHECK_DIR.exists():
        pytest.skip("second library not installed in /tmp/xcheck-geo (recorded values are still checked)")
    sys.path.insert(0, str(XCHECK_DIR))
    try:
        import eviltransform
        import prcoords
    except ImportError as exc:  # pragma: no cover - depends on the scratch install
        pytest.skip(f"second library not importable: {exc}")
    finally:
        sys.path.remove(str(XCHECK_DIR))
    return prcoords, eviltransform


@settings(max_examples=300, deadline=None)
@given(lon=st.floats(73.7, 135.0), lat=st.floats(18.0, 53.5))
def test_against_live_libraries(xlibs, lon, lat):
    prcoords, evil = xlibs
    g = prcoords.wgs_gcj((lat, lon), True)
    assert crs.from_wgs84(lon, lat, "gcj02") == pytest.approx((g.lon, g.lat), abs=1e-9)
    b = prcoords.wgs_bd((lat, lon), True)
    assert crs.from_wgs84(lon, lat, "bd09") == pytest.approx((b.lon, b.lat), abs=1e-9)
    # eviltransform uses 6378137 m instead of Krasovsky's 6378245 m: ~1e-7° apart, i.e. centimetres.
    e_lat, e_lon = evil.wgs2gcj(lat, lon)
    assert crs.from_wgs84(lon, lat, "gcj02") == pytest.approx((e_lon, e_lat), abs=2e-7)
    w = prcoords.gcj_wgs_bored((lat, lon))
    assert crs.to_wgs84(lon, lat, "gcj02") == pytest.approx((w.lon, w.lat), abs=5e-7)


@settings(max_examples=500, deadline=None)
@given(lon=st.floats(72.1, 137.7), lat=st.floats(0.9, 55.8), system=st.sampled_from(["gcj02", "bd09"]))
def test_round_trip_below_1e6(lon, lat, system):
    x, y = crs.from_wgs84(lon, lat, system)
    back = crs.to_wgs84(x, y, system)
    assert abs(back[0] - lon) < 1e-7 and abs(back[1] - lat) < 1e-7
    x2, y2 = crs.to_wgs84(lon, lat, system)
    fwd = crs.from_wgs84(x2, y2, system)
    assert abs(fwd[0] - lon) < 1e-7 and abs(fwd[1] - lat) < 1e-7


@pytest.mark.parametrize("lon,lat", [(2.3522, 48.8566), (139.6917, 35.6895), (-74.006, 40.7128), (151.2, -33.9)])
def test_outside_china_unchanged(lon, lat):
    # GCJ-02 leaves points outside China alone (BD-09 still adds Baidu's own shift, as Baidu does).
    assert crs.from_wgs84(lon, lat, "gcj02") == (lon, lat)
    assert crs.to_wgs84(lon, lat, "gcj02") == (lon, lat)


def test_cgcs2000_is_wgs84_and_aliases():
    assert crs.to_wgs84(110.9, 21.6, "cgcs2000") == (110.9, 21.6)
    assert crs.normalize_crs("GCJ-02") == "gcj02" and crs.normalize_crs("BD09") == "bd09"
    assert crs.normalize_crs("EPSG:4490") == "wgs84"


def test_unknown_crs_message_is_chinese():
    with pytest.raises(crs.UnknownCRS, match="未知的坐标系"):
        crs.to_wgs84(110.9, 21.6, "epsg:3857")


def test_offset_in_guangdong_is_hundreds_of_metres():
    # DOMAIN §7: WGS-84 vs GCJ-02 differ by 100–700 m in Guangdong.
    lon, lat = 110.925, 21.66
    g_lon, g_lat = crs.from_wgs84(lon, lat, "gcj02")
    metres = math.hypot((g_lon - lon) * 111_320 * math.cos(math.radians(lat)), (g_lat - lat) * 110_574)
    assert 100 < metres < 700


def test_arrays_match_scalars_and_keep_nan():
    rng = np.random.default_rng(7)
    lons, lats = rng.uniform(100, 120, 1000), rng.uniform(20, 40, 1000)
    lons[3] = np.nan
    for system in ("gcj02", "bd09"):
        xs, ys = crs.to_wgs84_array(lons, lats, system)
        assert np.isnan(xs[3])
        for i in (0, 10, 999):
            assert (xs[i], ys[i]) == pytest.approx(crs.to_wgs84(lons[i], lats[i], system), abs=1e-12)
        fx, fy = crs.from_wgs84_array(xs, ys, system)
        ok = ~np.isnan(lons)
        assert np.max(np.abs(fx[ok] - lons[ok])) < 1e-7 and np.max(np.abs(fy[ok] - lats[ok])) < 1e-7
