"""The gateway's plain metric values give the Prometheus text prometheus_client's own objects give."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.metric_values import Labelled
from gateway.metrics import LATENCY_BUCKETS, ValuesCollector


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["bus-1", "bus-2"]), st.floats(0.0, 10.0)), max_size=40),
       st.lists(st.sampled_from(["timeout", "crc_error", "exception_2"]), max_size=20),
       st.floats(0.0, 1.0))
def test_text_equals_prometheus_clients_own_objects(observed: list[tuple[str, float]], failures: list[str],
                                                     busy: float) -> None:
    theirs = CollectorRegistry()
    h = Histogram("metergate_modbus_request_seconds", "Round trip", ["bus"], buckets=LATENCY_BUCKETS,
                  registry=theirs)
    c = Counter("metergate_modbus_failures", "Failed", ["bus", "device", "reason"], registry=theirs)
    g = Gauge("metergate_bus_busy_ratio", "Busy", ["bus"], registry=theirs)
    ours_h = Labelled("metergate_modbus_request_seconds", "Round trip", ("bus",), "histogram",
                      LATENCY_BUCKETS)
    ours_c = Labelled("metergate_modbus_failures", "Failed", ("bus", "device", "reason"), "counter")
    ours_g = Labelled("metergate_bus_busy_ratio", "Busy", ("bus",), "gauge")
    for bus, seconds in observed:
        h.labels(bus).observe(seconds)
        ours_h.labels(bus).observe(seconds)
    for reason in failures:
        c.labels("bus-1", "m1", reason).inc()
        ours_c.labels("bus-1", "m1", reason).inc()
    g.labels("bus-1").set(busy)
    ours_g.labels("bus-1").set(busy)
    ours = CollectorRegistry()
    ours.register(ValuesCollector([ours_h, ours_c, ours_g]))

    def samples(reg: CollectorRegistry) -> list[str]:  # created-timestamps differ by nature
        return sorted(line for line in generate_latest(reg).decode().splitlines()
                      if not line.startswith("#") and "_created" not in line)

    assert samples(ours) == samples(theirs)
