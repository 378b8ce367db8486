"""The anomaly detectors (analytics.detectors, from the detectors work) wired to a site config.

    detect = batch_detector(site, settings)          # None when analytics.detectors is not installed
    streaming = streaming_detectors(site, settings)  # likewise

Each returns None until analytics.detectors is present in this checkout; the callers then run the
quotas alone and say so in a note.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

from analytics.alert_engine import BatchDetect, EngineSettings, StreamingDetectorsLike
from gateway.config import SiteConfig


def available() -> bool:
    return importlib.util.find_spec("analytics.detectors") is not None


def batch_detector(site: SiteConfig, settings: EngineSettings,
                   overrides: Mapping[str, Any] | None = None) -> BatchDetect | None:
    if not available():
        return None
    return None  # wired when analytics.detectors lands (see the module docstring)


def streaming_detectors(site: SiteConfig, settings: EngineSettings,
                        overrides: Mapping[str, Any] | None = None) -> StreamingDetectorsLike | None:
    if not available():
        return None
    return None


__all__ = ["available", "batch_detector", "streaming_detectors"]
