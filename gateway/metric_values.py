"""The gateway's metric values as plain numbers, turned into Prometheus metric families at scrape time.

prometheus_client's own Counter, Gauge and Histogram take a lock on every update and are imported
with the library (1.7 MB, with its HTTP server and the text format) whether or not the endpoint is
on. The gateway updates them on its hot path (a latency observation per answered request), so it
keeps plain numbers here instead; `families` builds the prometheus_client families only when a
scrape asks, and gateway.metrics imports the library only then.

Each labelled child is updated by one thread (its bus's worker, or the runtime's outbox loop), so a
plain `+=` is enough; a scrape reads values that may be one update old, as any scrape does.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any


class Value:
    """One number: a counter's total or a gauge's level."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def set(self, value: float) -> None:
        self.value = float(value)


class Buckets:
    """A histogram: cumulative bucket counts are made at scrape time from per-bucket counts."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds


class Labelled:
    """Children by label values, made on first use: `.labels("bus-1").inc()`."""

    def __init__(self, name: str, doc: str, label_names: tuple[str, ...], kind: str,
                 bounds: tuple[float, ...] = ()) -> None:
        self.name, self.doc, self.label_names, self.kind, self.bounds = name, doc, label_names, kind, bounds
        self.children: dict[tuple[str, ...], Any] = {}

    def labels(self, *values: str) -> Any:
        child = self.children.get(values)
        if child is None:
            child = Buckets(self.bounds) if self.kind == "histogram" else Value()
            self.children = {**self.children, values: child}  # a new dict: a scrape may be iterating
        return child

    # a metric without labels is its one child
    @property
    def value(self) -> float:
        return float(self.labels().value)

    def inc(self, amount: float = 1.0) -> None:
        self.labels().inc(amount)

    def set(self, value: float) -> None:
        self.labels().set(value)


def families(metrics: list[Labelled]) -> Iterator[Any]:
    """prometheus_client metric families of `metrics` (imports the library: scrape time only)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
    from prometheus_client.utils import floatToGoString

    for m in metrics:
        names = list(m.label_names)
        if m.kind == "counter":
            fam: Any = CounterMetricFamily(m.name, m.doc, labels=names)
            for values, child in m.children.items():
                fam.add_metric(list(values), child.value)
        elif m.kind == "gauge":
            fam = GaugeMetricFamily(m.name, m.doc, labels=names)
            for values, child in m.children.items():
                fam.add_metric(list(values), child.value)
        else:
            fam = HistogramMetricFamily(m.name, m.doc, labels=names)
            for values, child in m.children.items():
                cumulative, running = [], 0
                for bound, n in zip([*map(floatToGoString, m.bounds), "+Inf"], child.counts, strict=True):
                    running += n
                    cumulative.append((bound, running))
                fam.add_metric(list(values), cumulative, child.total)
        yield fam
