"""store.region_codes: a code's ancestor at a level, read off the code, is the one its parent chain reaches."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from store import region_codes as R


def _by_the_chain(code: str, level: str) -> str | None:
    return next((c for c in R.lineage(code) if R.level_of(c) == level), None)


# Any code shape: six digits (province, city, district — "00" districts stand for cities without districts),
# extended to a street, a community and a grid; digits drawn so that "00" and "0000" endings occur often.
_pair = st.sampled_from(["00", "01", "02", "19", "83", "99"])


def _code(n: int):  # noqa: ANN202 - a strategy of n-digit codes
    return st.builds(lambda p, c, d, tail: (p + c + d + tail)[:n], st.sampled_from(["11", "44", "65"]), _pair,
                     _pair, st.text("0123456789", min_size=9, max_size=9)).filter(R.is_region_code)


_LENGTHS = st.sampled_from([6, 9, 12, 15])
_codes = _LENGTHS.flatmap(_code)


@settings(max_examples=500)
@given(_codes, st.sampled_from(R.LEVELS))
def test_ancestor_at_is_the_chains_region_at_that_level(code, level):
    assert R.ancestor_at(code, level) == _by_the_chain(code, level)


def test_ancestor_at_examples():
    assert R.ancestor_at("440902001001001", "district") == "440902"
    assert R.ancestor_at("440902001001001", "city") == "440900"
    assert R.ancestor_at("440902", "street") is None
    assert R.ancestor_at("441900003001", "district") is None  # 东莞: streets directly under the city
    assert R.ancestor_at("441900003001", "street") == "441900003"

