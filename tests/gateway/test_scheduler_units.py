"""Scheduler parts that need no bus: aligned deadlines, the breaker's backoff sequence, the poll
queue (earliest deadline first, round robin, missed deadlines skipped) and the fair stretch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.scheduler.breaker import Breaker
from gateway.scheduler.deadlines import (
    alignment_offset,
    latest_deadline,
    next_deadline,
    site_aligner,
)
from gateway.scheduler.fairness import BusLoad, ceil_to_step, describe, stretch_factor
from gateway.scheduler.queue import PollQueue, PollTask
from gateway.scheduler.stats import BusyWindow
from site_config.airtime import GroupLoad

T0 = datetime(2024, 3, 12, 2, 7, 13, 250000, tzinfo=UTC).timestamp()  # 10:07:13.25 in Shanghai


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")


# -- deadlines -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("interval", "expected"), [
    (1.0, "02:07:14.000000"),
    (0.5, "02:07:13.500000"),
    (15.0, "02:07:15.000000"),
    (60.0, "02:08:00.000000"),
    (900.0, "02:15:00.000000"),
    (3600.0, "03:00:00.000000"),
])
def test_next_deadline_is_the_next_wall_clock_boundary(interval: float, expected: str) -> None:
    assert utc(next_deadline(interval, T0)) == expected


def test_next_deadline_is_strictly_after_and_latest_is_at_or_before() -> None:
    boundary = next_deadline(60.0, T0)
    assert next_deadline(60.0, boundary) == boundary + 60
    assert latest_deadline(60.0, boundary) == boundary
    assert latest_deadline(60.0, boundary - 0.001) == boundary - 60
    assert latest_deadline(60.0, T0) == next_deadline(60.0, T0) - 60


def test_deadlines_of_different_intervals_coincide_exactly() -> None:
    """A 1 s, a 15 s and a 60 s group are due at the same float at :00 (round robin needs ==)."""
    minute = next_deadline(60.0, T0)
    assert next_deadline(1.0, minute - 0.5) == next_deadline(15.0, minute - 0.5) == minute
    assert next_deadline(0.1, minute - 0.05) == minute


def test_stretched_intervals_align_to_their_own_multiples() -> None:
    d = next_deadline(1.5, T0)
    assert d % 1.5 == pytest.approx(0.0, abs=1e-6)
    assert next_deadline(1.5, d) - d == pytest.approx(1.5)


def test_alignment_offset_puts_boundaries_on_local_time() -> None:
    # a day in UTC+8 starts at 16:00 UTC
    assert alignment_offset(86400, 8 * 3600) == 57600
    assert alignment_offset(60, 8 * 3600) == 0
    assert alignment_offset(3600, 5.5 * 3600) == 1800  # +5:30: local hours are UTC half hours


def test_site_aligner_daily_group_at_local_midnight() -> None:
    align = site_aligner("Asia/Shanghai")
    d = next_deadline(86400, T0, align(86400, T0))
    assert datetime.fromtimestamp(d, UTC).strftime("%d %H:%M") == "12 16:00"  # 13th 00:00 +08
    # intervals dividing a quarter hour: the same as UTC epoch multiples
    for interval in (1.0, 15.0, 60.0, 900.0):
        assert align(interval, T0) == 0.0
    kolkata = site_aligner("Asia/Kolkata")
    assert utc(next_deadline(3600, T0, kolkata(3600, T0))) == "02:30:00.000000"
    assert site_aligner("Not/AZone")(86400, T0) == 0.0


# -- breaker ---------------------------------------------------------------------------------------

def test_breaker_backoff_doubles_up_to_the_cap_and_never_gives_up() -> None:
    b = Breaker(1.0, cap_s=300.0, jitter=0.0)
    t = 1000.0
    waits = []
    for _ in range(12):
        assert b.allow(t)  # closed at first, then half-open when the retry time comes
        retry = b.failure(t)
        assert b.state == "open"
        assert not b.allow(retry - 0.001)  # polls due before the retry time are skipped
        waits.append(retry - t)
        t = retry
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    assert b.allow(t) and b.state == "half_open"
    assert b.success() is True and b.state == "closed" and b.failures == 0
    assert b.allow(t + 0.1)
    assert b.success() is False  # already closed: not a recovery


def test_breaker_first_retry_on_the_next_deadline_then_jitter_only_lengthens() -> None:
    b = Breaker(60.0, cap_s=300.0, jitter=0.2, random_unit=lambda: 0.5)
    assert b.failure(0.0) == 60.0  # after one failure the next deadline is tried as usual
    assert b.allow(60.0 - 1e-7)  # a deadline rounded to the microsecond still counts
    assert b.failure(60.0) == pytest.approx(60.0 + 132.0)  # 120 × 1.1
    slow = Breaker(900.0)  # a 15 min group: the cap cannot be shorter than its interval
    assert slow.delay(5) == 900.0
    with pytest.raises(ValueError):
        Breaker(0.0)


# -- queue -----------------------------------------------------------------------------------------

class FakeMeter:
    def __init__(self, mid: str) -> None:
        self.id = mid


def tasks(*specs: tuple[str, float]) -> list[PollTask]:
    return [PollTask(FakeMeter(mid), 0, None, interval)  # type: ignore[arg-type]
            for mid, interval in specs]


def drain(queue: PollQueue, now: float, capacity: int) -> list[str]:
    """Serve at most `capacity` due tasks at `now` (a bus that can do that many per period)."""
    served = []
    for _ in range(capacity):
        task, _missed = queue.pop(now)
        if task is None:
            break
        served.append(task.meter.id)
        queue.reschedule(task)
    return served


def test_queue_polls_everything_at_start_then_on_boundaries() -> None:
    q = PollQueue(tasks(("a", 1.0), ("b", 1.0), ("c", 60.0)), T0)
    # start-up polls of the current period; the minute group's period began earliest
    assert drain(q, T0, 10) == ["c", "a", "b"]
    assert q.pop(T0 + 0.1) == (None, 0)
    assert q.next_due() == next_deadline(1.0, T0)
    assert drain(q, next_deadline(1.0, T0), 10) == ["a", "b"]


def test_queue_earliest_deadline_first() -> None:
    q = PollQueue(tasks(("slow", 60.0), ("fast", 1.0)), T0)
    drain(q, T0, 10)
    minute = next_deadline(60.0, T0)
    # at the minute both are due: the fast one's deadlines in between come first (EDF)
    order = [t for t in drain(q, minute - 1.0, 100)]
    assert order == ["fast"]
    assert drain(q, minute, 10) == ["slow", "fast"]  # equal deadlines: least recently served


def test_queue_round_robin_among_equal_deadlines_shares_an_overloaded_bus() -> None:
    """A bus that can serve 2 of 3 equally due tasks per period: each gets 2/3, none starves."""
    q = PollQueue(tasks(("a", 1.0), ("b", 1.0), ("c", 1.0)), T0)
    counts = {"a": 0, "b": 0, "c": 0}
    t = latest_deadline(1.0, T0)
    for _ in range(30):
        for mid in drain(q, t, 2):
            counts[mid] += 1
        t += 1.0
    assert counts == {"a": 20, "b": 20, "c": 20}
    # one deadline per period could not be served: counted, except the start-up one and the last
    # period's, which nobody has looked at yet
    assert q.missed == 28


def test_queue_skips_missed_deadlines_instead_of_a_burst() -> None:
    q = PollQueue(tasks(("a", 1.0)), T0)
    drain(q, T0, 1)
    later = latest_deadline(1.0, T0) + 5.3  # the bus was stuck for 5 s
    task, missed = q.pop(later)
    assert task is not None and task.due == latest_deadline(1.0, later)
    assert missed == 4  # the deadlines between were dropped, counted once
    q.reschedule(task)
    assert q.pop(later) == (None, 0)  # no burst of catch-up polls


def test_queue_start_up_deadline_overrun_is_not_counted_as_missed() -> None:
    q = PollQueue(tasks(("a", 1.0)), T0)
    task, missed = q.pop(T0 + 1.0)  # the first cycle ran past the next boundary
    assert task is not None and missed == 0


def test_queue_realigns_after_the_clock_steps_back() -> None:
    q = PollQueue(tasks(("a", 60.0)), T0)
    drain(q, T0, 1)
    back = T0 - 3600
    assert q.pop(back) == (None, 0)
    assert q.next_due() == next_deadline(60.0, back)


# -- fairness --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("x", "step"), [
    (0.5, 1.0), (1.0, 1.0), (1.01, 1.25), (1.26, 1.5), (1.6, 2.0), (2.1, 2.5), (3.3, 4.0),
    (7.0, 8.0), (8.5, 10.0), (11.0, 12.5), (170.0, 200.0),
])
def test_ceil_to_step(x: float, step: float) -> None:
    assert ceil_to_step(x) == pytest.approx(step)


def test_stretch_factor_leaves_room_and_only_applies_over_100_percent() -> None:
    assert stretch_factor(None) == 1.0
    assert stretch_factor(0.95) == 1.0
    assert stretch_factor(1.1375) == 1.5  # 1.1375 / 0.9 = 1.26 -> 1.5
    for u in (1.01, 1.3, 2.0, 4.4, 17.0):
        k = stretch_factor(u)
        assert u / k <= 0.9 + 1e-9


def load(utilisation: float | None, **kw: Any) -> BusLoad:
    group = GroupLoad("m1", 1, 0, 1.0, 25, 50, None if utilisation is None else utilisation)
    return BusLoad(bus="admin-rs485", type="serial", utilisation=utilisation,
                   verdict=kw.get("verdict", "ok"), requests_per_cycle=25, requests_per_s=25.0,
                   stretch=stretch_factor(utilisation), groups=(group,))


def test_describe_logs_levels_and_the_stretch() -> None:
    level, text = describe(load(0.105))
    assert level == 20 and text == ("bus admin-rs485: 10.5 % airtime planned (25 requests per "
                                    "cycle, 25 requests/s)")
    level, text = describe(load(0.8, verdict="high"))
    assert level == 30 and "above 70 %" in text
    level, text = describe(load(1.6, verdict="over"))
    assert level == 40
    assert "160.0 % airtime planned" in text
    assert "over-subscribed: polling will be stretched fairly: every group's effective interval × 2" \
        in text
    assert load(1.6).degradation == "every group's interval × 2"
    assert describe(load(None))[1].endswith("no line time known (serial, no airtime budget)")


def test_busy_window_is_time_in_requests_over_the_last_minute() -> None:
    w = BusyWindow(started=0.0)
    w.add(0.0, 0.5)
    assert w.ratio(1.0) == pytest.approx(0.5)
    for s in range(1, 120):
        w.add(float(s), s + 0.25)
    assert w.ratio(120.0) == pytest.approx(0.25, abs=0.01)
