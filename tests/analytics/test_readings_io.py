"""Readings into columnar arrays per quantity from CSV, Parquet and the gateway's outbox; units converted;
errors name file, row and column; a million CSV rows in seconds."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analytics.readings_io import ReadingsError, read_csv, read_parquet, read_readings
from cli.commands.readings_input import read_outbox
from cli.commands.readings_input import read_readings as read_any

NS = 10**9
T0 = 1_704_038_400  # 2024-01-01T00:00:00+08:00


def test_csv_iso_and_integer_timestamps_and_units(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text("meter,ts,quantity,value,unit\n"
                 "m1,2024-01-01T00:00:00+08:00,energy_active_import,1500,Wh\n"
                 f"m1,{(T0 + 60) * NS},energy_active_import,2.5,kWh\n"
                 "w1,2023-12-31T16:00:00Z,water_volume,250,L\n"
                 "w1,2023-12-31T16:00:00.5+00:00,water_volume,,m³\n"   # empty value: skipped
                 "\n", encoding="utf-8")
    r = read_readings(f)
    e = r["energy_active_import"]
    assert e.meter.tolist() == ["m1", "m1"] and e.ts_ns.tolist() == [T0 * NS, (T0 + 60) * NS]
    np.testing.assert_allclose(e.value, [1.5, 2.5])
    w = r["water_volume"]
    assert w.ts_ns.tolist() == [T0 * NS] and w.value.tolist() == [0.25]
    assert e.ts_ns.dtype == np.int64 and e.value.dtype == np.float64


@pytest.mark.parametrize(("body", "row", "column", "what"), [
    ("2024-01-01T00:00:00,m1,energy_active_import,1\n", 2, "ts", "no UTC offset"),
    ("yesterday,m1,energy_active_import,1\n", 2, "ts", "not an ISO 8601"),
    ("0,m1,energy_active_import,1\n0,m1,energy_active_import,x\n", 3, "value", "not a number"),
    ("0,m1,energy_active_import\n", 2, None, "3 fields"),
])
def test_csv_errors_name_row_and_column(tmp_path: Path, body: str, row: int, column: str | None,
                                        what: str) -> None:
    f = tmp_path / "r.csv"
    f.write_text("ts,meter,quantity,value\n" + body, encoding="utf-8")
    with pytest.raises(ReadingsError) as info:
        read_csv(f)
    assert (info.value.row, info.value.column) == (row, column) and what in str(info.value)
    assert str(f) in str(info.value)


def test_csv_missing_column_and_bad_unit(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text("time,meter,quantity,value\n", encoding="utf-8")
    with pytest.raises(ReadingsError, match=r"row 1, column 'ts': missing column\(s\) ts"):
        read_csv(f)
    f.write_text("ts,meter,quantity,value,unit\n0,m,energy_active_import,1,kWh\n"
                 "0,m,water_volume,,m³\n1,m,energy_active_import,1,m³\n", encoding="utf-8")
    with pytest.raises(ReadingsError, match="row 4, column 'unit': unit 'm³' is not one for energy_active"):
        read_csv(f)


def test_unknown_format(tmp_path: Path) -> None:
    f = tmp_path / "r.txt"
    f.write_text("hello", encoding="utf-8")
    with pytest.raises(ReadingsError, match="unknown format"):
        read_readings(f)


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    f = tmp_path / "r.parquet"
    ts = pa.array([T0 * NS, (T0 + 60) * NS], pa.timestamp("ns", tz="UTC"))
    pq.write_table(pa.table({"ts": ts, "meter": ["m1", "m1"], "quantity": ["energy_active_import"] * 2,
                             "value": [1.0, None], "unit": ["MWh", "kWh"]}), f)
    e = read_readings(f)["energy_active_import"]
    assert e.ts_ns.tolist() == [T0 * NS] and e.value.tolist() == [1000.0]
    pq.write_table(pa.table({"ts": ["2024-01-01T00:00:00+08:00"], "meter": ["m"],
                             "quantity": ["water_volume"], "value": [2.0]}), f)
    assert read_parquet(f)["water_volume"].ts_ns.tolist() == [T0 * NS]
    pq.write_table(pa.table({"ts": [1], "meter": ["m"], "value": [2.0]}), f)
    with pytest.raises(ReadingsError, match="missing column"):
        read_parquet(f)


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(ReadingsError, match=r"pip install metergate\[parquet\]"):
        read_parquet(tmp_path / "r.parquet")


def test_outbox_keeps_ok_readings_only(tmp_path: Path) -> None:
    from core.reading import Quality
    from drivers.reader import Reading
    from gateway.outbox import Outbox

    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as ob:
        ob.append("m1", T0, [Reading("energy_active_import", 5.0, "kWh", Quality.OK, T0),
                             Reading("power_active", None, "W", Quality.COMM_ERROR, T0)])
        ob.append("m1", T0 + 1.5, [Reading("energy_active_import", 6.0, "kWh", Quality.OK, T0 + 1.5)])
    r = read_outbox(path)
    assert set(r) == {"energy_active_import"}
    assert r["energy_active_import"].ts_ns.tolist() == [T0 * NS, int((T0 + 1.5) * NS)]
    assert read_any(path)["energy_active_import"].value.tolist() == [5.0, 6.0]
    with pytest.raises(ReadingsError, match="through the metergate commands"):
        read_readings(path)  # the analytics alone know no outbox


def test_many_csv_rows_are_read_whole(tmp_path: Path) -> None:
    f = tmp_path / "big.csv"
    n = 200_000
    meters = np.array([f"m{i}" for i in range(1000)])
    with f.open("w", encoding="utf-8") as out:
        out.write("ts,meter,quantity,value\n")
        ts = (T0 + np.arange(n) // 1000) * NS
        out.writelines(f"{t},{m},energy_active_import,{v}\n"
                       for t, m, v in zip(ts.tolist(), meters[np.arange(n) % 1000].tolist(),
                                          np.arange(n, dtype=float).tolist(), strict=True))
    r = read_csv(f)
    assert len(r["energy_active_import"]) == n
    assert r["energy_active_import"].value.sum() == float(n * (n - 1) // 2)
