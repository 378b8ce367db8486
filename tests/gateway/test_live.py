"""The live view behind `metergate watch`: counts every poll, keeps readings once someone looks."""

from __future__ import annotations

from types import SimpleNamespace

from core.reading import Quality
from drivers.reader import Reading
from gateway.live import LiveView
from gateway.scheduler import PollResult


def _view() -> LiveView:
    meter = SimpleNamespace(id="m1", variant=SimpleNamespace(key="p:v"), bus="b", unit=1, address=None,
                            building="b1")
    return LiveView(SimpleNamespace(meters=[meter]))  # type: ignore[arg-type]


def _poll(interval: float, quantity: str, value: float, result: str = "ok") -> PollResult:
    return PollResult("m1", interval, 100.0, [Reading(quantity, value, "W", Quality.OK, 100.0)], result)


def test_readings_are_kept_once_someone_looks_and_merged_over_poll_groups() -> None:
    live = _view()
    live.update(_poll(1.0, "power_active", 1.0))
    [before] = live.snapshot()
    assert before.polls == 1 and before.readings == {}  # nobody looked yet: not kept
    live.update(_poll(1.0, "power_active", 2.0))
    live.update(_poll(60.0, "energy_active_import", 3.0, result="failed"))
    live.update(_poll(1.0, "power_active", 4.0))
    [after] = live.snapshot()
    assert {q: r.value for q, r in after.readings.items()} == {"power_active": 4.0,
                                                               "energy_active_import": 3.0}
    assert (after.polls, after.failed) == (4, 1)
