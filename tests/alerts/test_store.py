"""The alert store: alerts and their history survive a reopen; recent() keeps active and recently
cleared alerts; daily totals and engine state round-trip; a broken file is reported by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.alerts import AlertBook, LifecycleSettings
from analytics.events import AlertKind, Detection, Severity
from services.analytics.store import AlertStore, AlertStoreError

H = 3600 * 10**9
T0 = 1_700_000_000 // 3600 * H


def det(start: int, end: int | None, sev: Severity) -> Detection:
    return Detection(AlertKind.WATER_LEAK, "w1", T0 + start * H, None if end is None else T0 + end * H, sev,
                     0.4, 0.1, "m³/h", "night flow 0.4 m³/h", {"nights": 3})


def test_history_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "a" / "alerts.sqlite"
    book = AlertBook("s", LifecycleSettings(raise_after=1, clear_after=1))
    with AlertStore(path) as store:
        store.apply(book.update(T0 + H, 3600, [det(0, None, Severity.WARNING)]))
        (alert,) = store.active()
        ack = book.ack(alert.id, "ops-1", T0 + H + 5, "plumber called")
        assert ack is not None
        store.apply([ack])
        store.apply(book.update(T0 + 2 * H, 3600, [det(0, None, Severity.MAJOR)]))
        store.apply(book.update(T0 + 3 * H, 3600, []))
        store.save_daily("s", [("water_volume", "w1", "2024-01-01", 12.5, True)])
        store.set_state("next_tick:s", str(T0 + 4 * H))
    with AlertStore(path) as store:
        assert store.active() == []
        cleared = store.get(alert.id)
        assert cleared is not None and cleared.state == "cleared" and cleared.severity == Severity.MAJOR
        assert cleared.acked_by == "ops-1" and cleared.details == {"nights": 3}
        assert [(c, s, by) for _, c, s, by, _ in store.history(alert.id)] == [
            ("raised", Severity.WARNING, None), ("acked", Severity.WARNING, "ops-1"),
            ("updated", Severity.MAJOR, None), ("cleared", Severity.MAJOR, None)]
        assert store.recent(since_ns=T0 + 3 * H) == [cleared]
        assert store.recent(since_ns=T0 + 3 * H + 1) == []
        assert store.load_daily("s") == [("water_volume", "w1", "2024-01-01", 12.5, True)]
        assert store.get_state("next_tick:s") == str(T0 + 4 * H) and store.get_state("x") is None
        store.save_buffer("s", [("water_volume", "w1", T0, 1.5), ("water_volume", "w1", T0 + 60, 1.6)])
        store.save_buffer("s", [("water_volume", "w1", T0 + 120, 1.7)])  # replaces
        assert store.take_buffer("s") == [("water_volume", "w1", T0 + 120, 1.7)]
        assert store.take_buffer("s") == []  # used once


def test_an_unusable_path_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AlertStoreError, match=str(blocker)):
        AlertStore(blocker / "alerts.sqlite")


def test_a_store_from_before_notifications_opens_and_gains_their_tables(tmp_path: Path) -> None:
    import sqlite3

    from services.analytics.store import SCHEMA

    path = tmp_path / "old.sqlite"
    old_schema = SCHEMA.split("CREATE TABLE IF NOT EXISTS notifications")[0]  # the schema before them
    db = sqlite3.connect(path)
    db.executescript(old_schema)
    db.close()
    book = AlertBook("s", LifecycleSettings(raise_after=1, clear_after=1))
    with AlertStore(path) as store:
        store.apply(book.update(T0 + H, 3600, [det(0, None, Severity.WARNING)]))
        assert len(store.active()) == 1 and store.notifications() == []
    db = sqlite3.connect(path)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert {"alerts", "events", "notifications", "notification_attempts"} <= tables
    # and a store with notification rows is still read by code that knows only the old tables
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM alerts").fetchone() == (1,)
    db.close()
