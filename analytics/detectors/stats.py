"""Small robust statistics along the last axis, NaN meaning "absent".

`np.nanmedian` goes through masked arrays for small axes and costs tens of microseconds per call; the
detectors call it on (meters × a few weeks) at every tick, so this sorts once instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def nanmedian(a: npt.ArrayLike, axis: int = -1) -> F64:
    """Median of the finite values along `axis` (NaN where there are none)."""
    arr = np.moveaxis(np.asarray(a, np.float64), axis, -1)
    srt = np.sort(arr, axis=-1)  # NaN sorts last
    n = np.sum(~np.isnan(arr), axis=-1)
    lo = np.maximum((n - 1) // 2, 0)[..., None]
    hi = np.maximum(n // 2, 0)[..., None]
    if srt.shape[-1] == 0:
        return np.full(arr.shape[:-1], np.nan)
    med = 0.5 * (np.take_along_axis(srt, lo, -1) + np.take_along_axis(srt, hi, -1))[..., 0]
    return np.where(n > 0, med, np.nan)
