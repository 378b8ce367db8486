"""Alert lifecycle: raise and clear with time hysteresis (no flapping), escalation updates the alert,
an acknowledgement survives updates, ids are stable (across a restart and between batch and
incremental use), and replay equals update tick by tick."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.alerts import AlertBook, Change, LifecycleSettings, alert_id, replay, ticks_between
from analytics.events import AlertKind, Detection, Severity

H = 3600
NS = 10**9
T0 = 1_700_000_000 // H * H * NS  # an hour boundary


def tick(k: int) -> int:
    return T0 + k * H * NS


def det(start_k: int, end_k: int | None, sev: Severity = Severity.WARNING, *, subject: str = "m1",
        kind: AlertKind = AlertKind.WATER_LEAK, value: float = 1.0, scope: str | None = None) -> Detection:
    """An episode over the intervals start_k .. end_k - 1 (end None: ongoing)."""
    details: dict[str, float | int | str] = {} if scope is None else {"scope": scope}
    return Detection(kind, subject, tick(start_k), None if end_k is None else tick(end_k), sev, value, 0.1,
                     "m³/h", f"{subject} {value}", details)


def run(book: AlertBook, per_tick: Sequence[Sequence[Detection]]) -> list[tuple[str, int, Severity]]:
    """Feed tick k (boundary k+1, evaluating interval k) its detections; (change, tick index, severity)."""
    out: list[tuple[str, int, Severity]] = []
    for k, found in enumerate(per_tick):
        for c in book.update(tick(k + 1), H, found):
            out.append((c.kind, k + 1, c.alert.severity))
    return out


def test_raise_after_and_clear_after() -> None:
    book = AlertBook("s", LifecycleSettings(raise_after=2, clear_after=3))
    d = det(0, 5)
    changes = run(book, [[d]] * 10)
    # present in intervals 0..4: raised at the 2nd tick, absent from tick 6 on, cleared at the 3rd
    assert changes == [("raised", 2, Severity.WARNING), ("cleared", 8, Severity.WARNING)]


def test_an_alternating_condition_neither_raises_nor_flaps() -> None:
    on = det(0, None)
    book = AlertBook("s", LifecycleSettings(raise_after=2, clear_after=2))
    assert run(book, [[on] if k % 2 == 0 else [] for k in range(20)]) == []
    # once raised, a condition that drops out every other tick is not cleared and raised again
    book = AlertBook("s", LifecycleSettings(raise_after=2, clear_after=2))
    pattern = [[on], [on]] + [[on] if k % 2 == 0 else [] for k in range(20)]
    assert run(book, pattern) == [("raised", 2, Severity.WARNING)]
    assert len(book.active) == 1


def test_escalation_updates_the_same_alert_and_ack_survives() -> None:
    book = AlertBook("s", LifecycleSettings(raise_after=1, clear_after=1))
    first = det(0, 3, Severity.WARNING)
    worse = det(3, None, Severity.CRITICAL, value=5.0)
    (raised,) = book.update(tick(1), H, [first])
    alert_id_ = raised.alert.id
    ack = book.ack(alert_id_, by="ops-1", ts_ns=tick(1) + 5, note="on it")
    assert ack is not None and ack.kind == "acked"
    assert book.ack(alert_id_, by="ops-2", ts_ns=tick(1) + 6) is None  # already acked
    assert book.update(tick(2), H, [first]) == []
    (updated,) = book.update(tick(4), H, [first, worse])
    assert updated.kind == "updated" and updated.alert.id == alert_id_
    assert updated.alert.severity == Severity.CRITICAL and updated.alert.value == 5.0
    assert updated.alert.acked and updated.alert.acked_by == "ops-1" and updated.alert.ack_note == "on it"
    (cleared,) = book.update(tick(40), H, [det(3, 10, Severity.CRITICAL)])
    assert cleared.kind == "cleared" and cleared.alert.cleared_ns == tick(40)
    assert book.ack(alert_id_, by="x", ts_ns=tick(41)) is None  # nothing active with that id


def test_ids_are_stable_and_a_new_episode_gets_a_new_id() -> None:
    a = det(0, 4)
    b = det(20, None)
    _, changes = replay("site-1", [a, b], [tick(k) for k in range(1, 30)], H,
                        LifecycleSettings(raise_after=2, clear_after=2))
    raised = [c.alert for c in changes if c.kind == "raised"]
    assert len(raised) == 2 and raised[0].id != raised[1].id
    assert raised[0].id == alert_id("site-1", AlertKind.WATER_LEAK, "m1", "", tick(0))
    assert raised[1].id.startswith("water_leak-") and len(raised[1].id) == len("water_leak-") + 16
    assert alert_id("site-2", AlertKind.WATER_LEAK, "m1", "", tick(0)) != raised[0].id


def test_a_restarted_book_keeps_its_alerts_and_ids() -> None:
    settings_ = LifecycleSettings(raise_after=2, clear_after=2)
    book = AlertBook("s", settings_)
    d = det(0, None, Severity.MAJOR)
    run(book, [[d]] * 3)
    (before,) = book.active
    restarted = AlertBook("s", settings_, active=book.active)
    restarted.last_tick_ns = book.last_tick_ns
    assert restarted.update(tick(4), H, [d]) == []  # still present: no second raise
    assert [a.id for a in restarted.active] == [before.id]
    changes = [c.kind for k in range(5, 8) for c in restarted.update(tick(k), H, [])]
    assert changes == ["cleared"]


def test_scopes_keep_two_quotas_of_one_building_apart() -> None:
    q1 = det(0, None, kind=AlertKind.QUOTA_CONSTRAINT, subject="b1", scope="std-a:kgce_per_m2")
    q2 = det(0, None, kind=AlertKind.QUOTA_CONSTRAINT, subject="b1", scope="std-b:kgce_per_m2")
    book = AlertBook("s", LifecycleSettings(raise_after=1))
    changes = book.update(tick(1), H, [q1, q2])
    assert sorted(c.alert.scope for c in changes) == ["std-a:kgce_per_m2", "std-b:kgce_per_m2"]
    assert len({c.alert.id for c in changes}) == 2


def test_ticks_must_advance() -> None:
    book = AlertBook("s")
    book.update(tick(2), H, [])
    with pytest.raises(ValueError, match="not after"):
        book.update(tick(2), H, [])
    assert ticks_between(tick(0) - 1, tick(3), H) == [tick(0), tick(1), tick(2), tick(3)]
    with pytest.raises(ValueError):
        LifecycleSettings(raise_after=0)


episodes = st.lists(st.tuples(st.integers(0, 40), st.integers(1, 12), st.booleans(),
                              st.sampled_from(list(Severity)), st.sampled_from(["m1", "m2"])),
                    max_size=8)


@settings(max_examples=60, deadline=None)
@given(episodes, st.integers(1, 3), st.integers(1, 4))
def test_replay_equals_incremental_updates_with_episodes_reported_as_they_go(
        spec: list[tuple[int, int, bool, Severity, str]], raise_after: int, clear_after: int) -> None:
    """The service sees an episode as ongoing until its end has passed; batch sees it whole. Both
    give the same changes at the same ticks."""
    full = [det(s, s + n if ended else None, sev, subject=m) for s, n, ended, sev, m in spec]
    ticks = [tick(k) for k in range(1, 60)]
    cfg = LifecycleSettings(raise_after, clear_after)
    _, batch = replay("s", full, ticks, H, cfg)
    book = AlertBook("s", cfg)
    streamed: list[Change] = []
    for t in ticks:
        # what a streaming detector knows at t: episodes started before t, ends only once passed
        known = [d if d.end_ns is None or d.end_ns <= t else Detection(
            d.kind, d.subject, d.start_ns, None, d.severity, d.value, d.threshold, d.unit, d.message,
            d.details) for d in full if d.start_ns < t]
        streamed += book.update(t, H, known)
    assert [(c.kind, c.at_ns, c.alert.id, c.alert.severity) for c in streamed] == [
        (c.kind, c.at_ns, c.alert.id, c.alert.severity) for c in batch]
