"""The numpy analytics engine: interval aggregation, roll-ups, indicators, detectors, quotas.

Independent of Modbus and MQTT. Arrives with the analytics issue.
"""

from analytics.flags import IntervalFlag
from analytics.intervals import IntervalResult, interval_consumption, interval_mean

__all__ = ["IntervalFlag", "IntervalResult", "interval_consumption", "interval_mean"]
