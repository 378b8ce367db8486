"""--source: the URL forms and the ingest config become a Source; what is wrong is named (and a
password never echoed); the query texts ask for good readings of one site in a half-open window."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cli.commands.readings_input import parse_time
from cli.sources import SourceError, parse_source
from cli.sources.chunk import ChunkBuilder
from cli.sources.flux import _add_rows, query
from cli.sources.influxql import statement
from cli.sources.spec import resolved
from cli.sources.victoria import match


def test_url_forms() -> None:
    vm = parse_source("victoria://127.0.0.1:8428")
    assert (vm.kind, vm.url) == ("victoria", "http://127.0.0.1:8428")
    one = parse_source("influx1+https://db.example:8086/energy?rp=year&username=u&password_env=PW")
    assert (one.kind, one.url, one.database, one.retention_policy, one.username) == (
        "influxql", "https://db.example:8086", "energy", "year", "u")
    assert one.password is not None and (one.password.source, one.password.name) == ("env", "PW")
    two = parse_source("influx2://h:8086?org=o&bucket=b&token_file=/run/token")
    assert (two.kind, two.org, two.bucket) == ("flux", "o", "b")
    assert two.token is not None and two.token.name == "/run/token"


@pytest.mark.parametrize(("text", "message"), [
    ("mqtt://h:1883", "unknown source scheme 'mqtt'"),
    ("victoria://h", "give the host and port"),
    ("influx1://h:8086", "name the database"),
    ("influx2://h:8086?org=o", "name the bucket"),
    ("influx1://h:8086/db?token_env=T", "unknown parameter(s) token_env"),
    ("influx1://h:8086/db?username=u&password_env=A&password_file=B", "not both"),
    ("victoria://h:99999", "out of range"),
    ("victoria://h:8428?username=u", "go together"),
    ("influx1://h:8086/db?password_env=P", "go together"),
])
def test_bad_urls_are_named(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=None) as exc:
        parse_source(text)
    assert message in str(exc.value)


def test_a_password_in_the_url_is_refused_unechoed() -> None:
    with pytest.raises(SourceError) as exc:
        parse_source("influx1://reader:hunter2@h:8086/db")
    assert "hunter2" not in str(exc.value) and "password_file" in str(exc.value)


def test_ingest_config_gives_its_target(tmp_path: Path) -> None:
    config = tmp_path / "ingest.toml"
    (tmp_path / "pw").write_text("x\n", encoding="utf-8")
    config.write_text('[mqtt]\nhost = "b"\nclient_id = "i"\n\n[influx]\napi = "v1"\n'
                      'url = "http://127.0.0.1:8086"\ndatabase = "energy"\nretention_policy = "rp"\n'
                      'username = "u"\npassword_file = "pw"\n', encoding="utf-8")
    src = parse_source(str(config))
    assert (src.kind, src.database, src.retention_policy, src.username) == ("influxql", "energy", "rp", "u")
    assert src.password is not None and src.password.name == str(tmp_path / "pw")  # relative to the config
    config.write_text('[mqtt]\nhost = "b"\nclient_id = "i"\n\n[influx]\nurl = "http://h:8086"\n',
                      encoding="utf-8")
    with pytest.raises(SourceError, match="needs `bucket`"):
        parse_source(str(config))
    with pytest.raises(SourceError, match="no such file"):
        parse_source(str(tmp_path / "missing.toml"))


def test_an_ingest_v2_target_is_what_its_server_says(tmp_path: Path) -> None:
    config = tmp_path / "ingest.toml"
    config.write_text('[mqtt]\nhost = "b"\nclient_id = "i"\n\n[influx]\nurl = "http://h:8086"\n'
                      'bucket = "energy/autogen"\n', encoding="utf-8")
    src = parse_source(str(config))
    assert src.kind == "ingest-v2"
    assert resolved(src, None).kind == "victoria"  # VictoriaMetrics' /health: a plain "OK"
    v18 = resolved(src, {"name": "influxdb", "version": "1.8.10"})
    assert (v18.kind, v18.database, v18.retention_policy) == ("influxql", "energy", "autogen")
    assert resolved(src, {"name": "influxdb", "version": "v2.7.1"}).kind == "flux"


def test_query_texts() -> None:
    q = statement("campus-a", 10, 20, "rp")
    assert q.startswith('SELECT "value" FROM "rp"./^(')
    assert 'WHERE "quality" = 0 AND time >= 10 AND time < 20 AND "site" = \'campus-a\'' in q
    assert statement("it's", 0, 1, None).count("'it\\'s'") == 1
    assert match("campus-a").endswith('_(value|quality)",site="campus-a"}')
    flux = query("energy", "campus-a", 1_710_208_800_125_000_000, 1_710_295_200_000_000_000)
    assert 'from(bucket: "energy")' in flux
    assert "range(start: 2024-03-12T02:00:00.125000000Z, stop: 2024-03-13T02:00:00.000000000Z)" in flux
    assert 'r.site == "campus-a"' in flux and "r.quality == 0" in flux


def test_flux_csv_rows_become_a_chunk() -> None:
    rows = [["", "result", "table", "meter", "ns", "quantity", "site", "value"],
            ["", "_result", "0", "m1", "1000", "power_active", "s", "1.5"],
            ["", "_result", "0", "m1", "2000", "power_active", "s", "2.5"],
            [], ["", "result", "table", "meter", "ns", "quantity", "site", "value"],
            ["", "_result", "1", "m2", "1000", "energy_active_import", "s", "7"]]
    out = ChunkBuilder()
    _add_rows(rows, out)
    chunk = out.build()
    assert chunk.quantity.tolist() == ["energy_active_import", "power_active", "power_active"]
    assert chunk.ts_ns.tolist() == [1000, 1000, 2000] and chunk.value.tolist() == [7.0, 1.5, 2.5]
    assert [name for name, _ in chunk.by_quantity()] == ["energy_active_import", "power_active"]


def test_times() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    assert parse_time("2024-03-01", tz, "--from-time") == 1_709_222_400 * 10**9
    assert parse_time("2024-03-01", tz, "--to-time", end=True) == (1_709_222_400 + 86_400) * 10**9
    assert parse_time("2024-03-01T00:00:00.5Z", UTC, "--from-time") == 1_709_251_200_500_000_000
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_time("2024-03-01T00:00:00", tz, "--from-time")
    with pytest.raises(ValueError, match="expected YYYY-MM-DD"):
        parse_time("March", tz, "--from-time")


def test_dataset_round_trip(tmp_path: Path) -> None:
    from cli.sources.dataset import read_dataset, write_chunks

    b = ChunkBuilder()
    day = 86_400 * 10**9
    jan31 = 1_706_659_200 * 10**9  # 2024-01-31T00:00Z
    b.add("s1", "m1", "energy_active_import", np.array([jan31, jan31 + day], np.int64), np.array([1.0, 2.0]))
    b.add("s2", "m1", "energy_active_import", np.array([jan31], np.int64), np.array([9.0]))
    assert write_chunks([b.build()], tmp_path) == (3, 3)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*")) == [
        "site=s1/month=2024-01", "site=s1/month=2024-02", "site=s2/month=2024-01"]
    back = read_dataset(tmp_path, "s1")["energy_active_import"]
    assert sorted(back.value.tolist()) == [1.0, 2.0]
    assert read_dataset(tmp_path, "s1", jan31 + 1)["energy_active_import"].value.tolist() == [2.0]
    with pytest.raises(ValueError, match="several sites"):
        read_dataset(tmp_path)
    with pytest.raises(ValueError, match="no site 's3'"):
        read_dataset(tmp_path, "s3")
