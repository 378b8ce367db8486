"""The fast NaN-median against numpy's."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from analytics.detectors.stats import nanmedian


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, max_side=7),
                  elements=st.one_of(st.just(np.nan), st.floats(-1e6, 1e6))), st.integers(0, 1))
def test_nanmedian_equals_numpy(a: np.ndarray, axis: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nanmedian(a, axis=axis)
    got = nanmedian(a, axis=axis)
    assert got.shape == want.shape
    assert np.allclose(got, want, rtol=1e-12, atol=1e-9, equal_nan=True)


def test_all_nan_and_empty() -> None:
    assert np.isnan(nanmedian(np.full((2, 3), np.nan), axis=1)).all()
    assert nanmedian(np.zeros((2, 0)), axis=1).shape == (2,)


def test_nanmedian_is_the_mean_of_the_middle_pair_bit_for_bit() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(0, 1e3, (50, 9))
    a[rng.random(a.shape) < 0.3] = np.nan
    got = nanmedian(a)
    for row, m in zip(a, got, strict=True):
        s = np.sort(row[~np.isnan(row)])
        want = 0.5 * (s[(len(s) - 1) // 2] + s[len(s) // 2]) if len(s) else np.nan
        assert m == want or (np.isnan(m) and np.isnan(want))
