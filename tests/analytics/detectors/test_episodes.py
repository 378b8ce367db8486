"""Episodes with hysteresis, against a plain-Python oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.detectors.episodes import Episodes
from analytics.events import AlertKind

Step = tuple[bool, bool, int]  # enter, stay, severity


def oracle(steps: list[Step], min_steps: int, clear_steps: int) -> list[tuple[int, int | None, int]]:
    """(start step, end step exclusive or None, max severity) of each episode, one subject."""
    out: list[tuple[int, int | None, int]] = []
    active, run, cand, clear, last, sev, start = False, 0, 0, 0, 0, 0, 0
    for k, (enter, stay, s) in enumerate(steps):
        if not active:
            if enter:
                if run == 0:
                    cand = k
                run += 1
                if run >= min_steps:
                    active, start, sev, clear, run, last = True, cand, s, 0, 0, k + 1
            else:
                run = 0
        elif stay:
            last, clear, sev = k + 1, 0, max(sev, s)
        else:
            clear += 1
            if clear >= clear_steps:
                out.append((start, last, sev))
                active, run = False, 0
    if active:
        out.append((start, None, sev))
    return out


def drive(steps: list[Step], min_steps: int, clear_steps: int) -> list[tuple[int, int | None, int]]:
    ep = Episodes(AlertKind.CONSUMPTION_ANOMALY, ["m"], "kWh", min_steps=min_steps, clear_steps=clear_steps)
    got: list[tuple[int, int | None, int]] = []
    for k, (enter, stay, s) in enumerate(steps):
        ep.step([0], k * 10, (k + 1) * 10, np.array([enter]), np.array([stay]), 1.0, 0.5, s, float(k), k)
        got += [(d.start_ns // 10, d.end_ns // 10, int(d.severity)) for d in ep.closed]  # type: ignore[operator]
    got += [(d.start_ns // 10, None, int(d.severity)) for d in ep.ongoing()]
    return got


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.integers(1, 4)), max_size=60),
       st.integers(1, 4), st.integers(1, 3))
def test_episodes_match_the_oracle(raw: list[Step], min_steps: int, clear_steps: int) -> None:
    steps = [(e, s or e, sev) for e, s, sev in raw]  # enter implies stay (enter is the stricter test)
    assert drive(steps, min_steps, clear_steps) == oracle(steps, min_steps, clear_steps)


def test_start_is_backdated_and_value_is_the_worst_step() -> None:
    ep = Episodes(AlertKind.WATER_LEAK, ["a", "b"], "m³/h", min_steps=2)
    for k, (ent, val) in enumerate([(True, 1.0), (True, 3.0), (True, 2.0)]):
        ep.step([0], k, k + 1, np.array([ent]), np.array([ent]), val, 0.5, 3, val, 100 + k)
    (d,) = ep.ongoing()
    assert d.subject == "a" and d.start_ns == 0 and d.value == 3.0 and d.details["detected_ns"] == 101


def test_subjects_not_evaluated_keep_their_state() -> None:
    ep = Episodes(AlertKind.WATER_LEAK, ["a", "b"], "m³/h", min_steps=2)
    ep.step([0, 1], 0, 1, np.array([True, True]), np.array([True, True]), 1.0, 0.5, 3, 1.0, 0)
    ep.step([1], 1, 2, np.array([False]), np.array([False]), 1.0, 0.5, 3, 1.0, 1)  # "a" not evaluated
    ep.step([0, 1], 2, 3, np.array([True, True]), np.array([True, True]), 1.0, 0.5, 3, 1.0, 2)
    assert [d.subject for d in ep.ongoing()] == ["a"]


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        Episodes(AlertKind.SPIKE, ["a"], "", min_steps=0)


def test_idle_when_quiet_is_the_same_as_stepping() -> None:
    """Skipping a quiet step's values (data_faults does) leaves every field as `step` would."""
    rng = np.random.default_rng(3)
    full = Episodes(AlertKind.SPIKE, ["a", "b", "c"], "kWh", min_steps=2, clear_steps=2)
    lazy = Episodes(AlertKind.SPIKE, ["a", "b", "c"], "kWh", min_steps=2, clear_steps=2)
    idx = np.arange(3)
    quiet_steps = closed = 0
    for k in range(400):
        enter = rng.random(3) < 0.08
        stay = enter | (rng.random(3) < 0.5)
        args = (idx, k * 10, k * 10 + 10, enter, stay, rng.random(3), 1.0, 2, rng.random(3), k * 10 + 20)
        full.step(*args)
        if lazy.quiet(enter):
            lazy.idle(idx)
            quiet_steps += 1
        else:
            lazy.step(*args)
        assert [repr(d) for d in lazy.closed] == [repr(d) for d in full.closed]
        closed += len(full.closed)
        for name in ("active", "run", "cand_start", "start", "last_end", "clear", "severity", "score"):
            np.testing.assert_array_equal(getattr(lazy, name), getattr(full, name), err_msg=name)
    assert 50 < quiet_steps < 350 and closed > 3  # both kinds of step, and episodes came and went
