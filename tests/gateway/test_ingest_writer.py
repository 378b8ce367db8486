"""LineWriter against real servers: VictoriaMetrics (v2 write API) and influxd 1.6.7 (v1 /write)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.backoff import RetryPolicy
from services.shared.writer import InfluxTarget, LineWriter, WriteError, line
from tests.support.influxdb1 import InfluxFactory
from tests.support.victoria import VictoriaFactory

TS = 1_710_208_800_125_000_000
FAST = RetryPolicy(initial=0.05, maximum=0.2)


@pytest.mark.parametrize("gzip", [True, False])
def test_v2_writes_to_victoria_and_replay_overwrites(victoria: VictoriaFactory, gzip: bool) -> None:
    vm = victoria()
    writer = LineWriter(InfluxTarget(url=vm.url, bucket="energy", gzip=gzip), FAST)
    lines = [line("power_active", {"site": "campus a", "meter": f"m,{i}"}, {"value": i * 1.5, "quality": 0},
                  TS + i * 1_000_000) for i in range(100)]
    writer.write_lines(lines)
    writer.write_lines(lines)  # a replay: same series, same timestamps
    writer.close()
    samples = vm.samples('{__name__="power_active_value"}')
    assert len(samples) == 100
    for i in range(100):
        key = ("power_active_value", (("meter", f"m,{i}"), ("site", "campus a")), TS // 1_000_000 + i)
        assert samples[key] == i * 1.5


def test_v1_writes_to_influxdb_16_with_password(influxdb1: InfluxFactory, tmp_path: Path) -> None:
    db = influxdb1(users={"ingest": "s3cret"})
    db.create_database("energy")
    db.grant_write("ingest", "energy")
    (tmp_path / "pw").write_text("s3cret\n")
    target = InfluxTarget(api="v1", url=db.url, database="energy", username="ingest",
                          password_file=str(tmp_path / "pw"))
    writer = LineWriter(target, FAST)
    writer.write_lines([line("energy_active_import", {"meter": "m 1", "site": "s=1"},
                             {"value": 152873.41, "quality": 0}, TS),
                        line("power_factor", {"meter": "m 1", "site": "s=1"}, {"quality": 3}, TS)])
    writer.write_lines([line("energy_active_import", {"meter": "m 1", "site": "s=1"},
                             {"value": 152873.41, "quality": 0}, TS)])  # replay
    assert db.points("energy_active_import", "energy") == [
        {"time": TS, "meter": "m 1", "site": "s=1", "value": 152873.41, "quality": 0}]
    assert db.points("power_factor", "energy") == [{"time": TS, "meter": "m 1", "site": "s=1",
                                                    "quality": 3}]
    # a field type conflict is the data's fault: permanent, with the server's words
    with pytest.raises(WriteError) as err:
        writer.write_lines([line("energy_active_import", {"meter": "m 1", "site": "s=1"}, {"value": 1},
                                 TS + 1)])
    assert err.value.permanent and err.value.status == 400
    assert "field type conflict" in str(err.value)
    writer.close()


def test_wrong_password_is_retried_and_named(influxdb1: InfluxFactory, tmp_path: Path) -> None:
    db = influxdb1(users={"ingest": "s3cret"})
    db.create_database("energy")
    (tmp_path / "pw").write_text("wrong\n")
    target = InfluxTarget(api="v1", url=db.url, database="energy", username="ingest",
                          password_file=str(tmp_path / "pw"))
    writer = LineWriter(target, RetryPolicy(initial=0.05, maximum=0.1, max_attempts=3))
    with pytest.raises(WriteError) as err:
        writer.write_lines(["m value=1 1"])
    assert not err.value.permanent and err.value.status == 401
    assert "3 attempt(s)" in str(err.value) and "credentials" in str(err.value)
    assert writer.retries == 2
    # the password file is read again at the next connection: fixing it is enough
    db.grant_write("ingest", "energy")
    (tmp_path / "pw").write_text("s3cret\n")
    writer.write_lines(["m value=1 1"])
    assert db.points("m", "energy") == [{"time": 1, "value": 1.0}]


def test_missing_token_variable_is_a_retryable_error(victoria: VictoriaFactory,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    vm = victoria()
    monkeypatch.delenv("METERGATE_TEST_TOKEN", raising=False)
    writer = LineWriter(InfluxTarget(url=vm.url, bucket="b", token_env="METERGATE_TEST_TOKEN"),
                        RetryPolicy(initial=0.05, maximum=0.1, max_attempts=2))
    with pytest.raises(WriteError, match="METERGATE_TEST_TOKEN is not set"):
        writer.write_lines(["m value=1 1"])
    monkeypatch.setenv("METERGATE_TEST_TOKEN", "t0ken")
    writer.write_lines(["m value=1 1"])
    assert vm.count('{__name__="m_value"}') == 1


def test_database_outage_is_waited_out(victoria: VictoriaFactory) -> None:
    vm = victoria()
    writer = LineWriter(InfluxTarget(url=vm.url, bucket="energy", timeout=1.0), FAST)
    vm.stop()
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            writer.write_lines([line("m", {"k": "v"}, {"value": 2.5}, TS)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        done.set()

    threading.Thread(target=write, daemon=True).start()
    time.sleep(1.5)
    assert not done.is_set() and writer.retries >= 2 and "refused" in (writer.last_error or "")
    vm.start()
    assert done.wait(10) and not errors
    assert vm.samples('{__name__="m_value"}') == {("m_value", (("k", "v"),), TS // 1_000_000): 2.5}
    assert writer.last_error is None


def test_close_interrupts_a_waiting_write(victoria: VictoriaFactory) -> None:
    vm = victoria()
    vm.stop()
    writer = LineWriter(InfluxTarget(url=vm.url, bucket="energy"), RetryPolicy(initial=5, maximum=5))
    failed: list[WriteError] = []

    def write() -> None:
        try:
            writer.write_lines(["m value=1 1"])
        except WriteError as exc:
            failed.append(exc)

    t = threading.Thread(target=write)
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    writer.close()
    t.join(5)
    assert time.monotonic() - started < 2
    assert failed and not failed[0].permanent and "closed" in str(failed[0])


@pytest.mark.parametrize(("data", "message"), [
    ({"url": "ftp://x", "bucket": "b"}, "http(s) URL"),
    ({"url": "http://x"}, "needs `bucket`"),
    ({"api": "v1", "url": "http://x"}, "needs `database`"),
    ({"api": "v1", "url": "http://x", "database": "d", "token_env": "T"}, "not a token"),
    ({"url": "http://x", "bucket": "b", "token_env": "T", "token_file": "f"}, "not both"),
    ({"url": "http://x", "bucket": "b", "username": "u"}, "password_file or password_env"),
    ({"url": "http://x", "bucket": "b", "password_env": "P"}, "needs a username"),
    ({"url": "http://x", "bucket": "b", "timeout": "soon"}, "not a duration"),
    ({"url": "http://x", "bucket": "b", "retention_policy": "rp"}, "database/retention_policy"),
    ({"url": "http://x", "bucket": "b", "token": "abc"}, "Extra inputs"),
])
def test_target_refuses_inconsistent_settings(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        InfluxTarget.model_validate(data)


def test_target_durations_and_description() -> None:
    t = InfluxTarget.model_validate({"api": "v1", "url": "http://db:8086/", "database": "energy",
                                     "retention_policy": "autogen", "timeout": "500ms"})
    assert t.timeout_s == 0.5 and t.url == "http://db:8086"
    assert t.describe() == "http://db:8086 (write API v1, database 'energy', retention policy 'autogen')"


def test_v1_retention_policy(influxdb1: InfluxFactory) -> None:
    db = influxdb1()
    db.create_database("energy")
    db.query('CREATE RETENTION POLICY "raw" ON "energy" DURATION 0s REPLICATION 1', method="POST")
    writer = LineWriter(InfluxTarget(api="v1", url=db.url, database="energy", retention_policy="raw"),
                        FAST)
    writer.write_lines([line("power_active", {"meter": "m1"}, {"value": 5.0, "quality": 0}, TS)])
    assert db.points("power_active", "energy", rp="raw") == [
        {"time": TS, "meter": "m1", "quality": 0, "value": 5}]
    assert db.points("power_active", "energy") == []  # not in the default policy
    writer.close()


@pytest.mark.parametrize("url", ["http://admin:s3cret@127.0.0.1:8086", "https://admin:s3cret@db/",
                                 "http://admin@127.0.0.1:8086", "ftp://admin:s3cret@db"])
def test_target_refuses_credentials_in_the_url_without_echoing_them(url: str) -> None:
    # v1 ignored them (401 for ever) and describe() put the password in the log
    with pytest.raises(ValidationError) as caught:
        InfluxTarget.model_validate({"api": "v1", "url": url, "database": "m"})
    text = str(caught.value)
    assert "s3cret" not in text and "admin" not in text
    assert "url" in text and "username" in text and "password_file" in text
