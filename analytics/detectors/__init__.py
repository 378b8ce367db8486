"""Detectors: numpy, vectorised across meters, causal, on interval series from the analytics engine.

    from analytics.detectors import MeterRole, Schedule, DetectorSettings, detect_batch, StreamingDetectors

See docs/detectors.md for every detector, its defaults and why.
"""

from analytics.detectors.api import detect_batch
from analytics.detectors.settings import DetectorSettings, MeterRole, Schedule
from analytics.detectors.streaming import StreamingDetectors

__all__ = ["DetectorSettings", "MeterRole", "Schedule", "StreamingDetectors", "detect_batch"]
