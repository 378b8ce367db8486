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
    arr = np.asarray(a, np.float64)
    if axis not in (-1, arr.ndim - 1):
        arr = np.moveaxis(arr, axis, -1)
    if arr.shape[-1] == 0:
        return np.full(arr.shape[:-1], np.nan)
    srt = np.sort(arr, axis=-1).reshape(-1, arr.shape[-1])  # NaN sorts last
    n = np.count_nonzero(~np.isnan(srt), axis=-1)
    pick = np.arange(len(srt))
    # plain indexing on the flattened rows: take_along_axis costs more than the sort on small arrays
    med = 0.5 * (srt[pick, np.maximum((n - 1) // 2, 0)] + srt[pick, np.maximum(n // 2, 0)])
    out: F64 = np.where(n > 0, med, np.nan).reshape(arr.shape[:-1])
    return out
