"""A real VictoriaMetrics for tests: a pytest plugin, registered in tests/conftest.py.

    def test_writes(victoria):
        vm = victoria()                          # single-node server on a free loopback port
        vm.url                                   # http://127.0.0.1:PORT (InfluxDB v2 write API too)
        vm.export('{__name__=~"power_active_.*"}')   # every sample, via /api/v1/export (flushed first)
        vm.stop(); vm.start()                    # down and up again on the SAME port, data kept

Started with a 100-year `-retentionPeriod` (test data carries old and future timestamps) and
`-dedup.minScrapeInterval=1ms`, so a sample written twice at the same millisecond is kept once — how
a replayed reading "overwrites itself" on VictoriaMetrics (it keeps milliseconds: `-influxTrimTimestamp`
defaults to 1ms). Every server the fixture starts is stopped at teardown.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.mosquitto import free_port
from tests.support.server_process import ServerProcess


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]  # __name__ included
    values: list[float]
    timestamps: list[int]  # milliseconds

    @property
    def name(self) -> str:
        return self.labels["__name__"]


class Victoria(ServerProcess):
    host = "127.0.0.1"

    def __init__(self, folder: Path, *, extra: tuple[str, ...] = ()) -> None:
        binary = shutil.which("victoria-metrics")
        if binary is None:
            raise RuntimeError("victoria-metrics is not installed (apt-get install victoria-metrics)")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.extra = extra
        self.log_file = folder / "victoria.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> Victoria:
        if self.running:
            return self
        args = [self.binary, f"-storageDataPath={self.folder / 'data'}",
                f"-httpListenAddr={self.host}:{self.port}", "-retentionPeriod=100y",
                "-dedup.minScrapeInterval=1ms", "-loggerLevel=WARN", *self.extra]
        self._spawn(args)

        def healthy() -> bool:
            with urllib.request.urlopen(f"{self.url}/health", timeout=0.5) as r:
                return bool(r.status == 200)

        self._wait_ready(healthy, timeout, "victoria-metrics", f"answer on {self.url}", 0.05)
        return self

    # -- reading back ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Make everything written so far searchable (VictoriaMetrics buffers for about a second)."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10) as r:
            r.read()

    def export(self, match: str = '{__name__=~".+"}') -> list[Series]:
        """Every raw sample of the series matching `match`, over all time."""
        self.flush()
        query = urllib.parse.urlencode({"match[]": match, "start": "0", "end": "4102444800"})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=60) as r:
            text = r.read().decode()
        out = []
        for row in text.splitlines():
            if row.strip():
                doc = json.loads(row)
                out.append(Series(doc["metric"], doc["values"], doc["timestamps"]))
        return out

    def samples(self, match: str = '{__name__=~".+"}') -> dict[tuple[str, tuple[tuple[str, str], ...], int],
                                                                 float]:
        """{(name, sorted labels without __name__, ts_ms): value} of every sample."""
        out: dict[tuple[str, tuple[tuple[str, str], ...], int], float] = {}
        for s in self.export(match):
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "__name__"))
            for ts, value in zip(s.timestamps, s.values, strict=True):
                out[(s.name, labels, ts)] = value
        return out

    def count(self, match: str = '{__name__=~".+"}') -> int:
        return sum(len(s.values) for s in self.export(match))

    def wait_count(self, match: str, expected: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        n = self.count(match)
        while n < expected and time.monotonic() < deadline:
            time.sleep(0.3)
            n = self.count(match)
        return n

    def __repr__(self) -> str:
        return f"<victoria-metrics {self.url} {'running' if self.running else 'stopped'}>"


VictoriaFactory = Callable[..., Victoria]


@pytest.fixture
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaFactory]:
    """start(*, extra=()) -> a running VictoriaMetrics on a free loopback port; stopped at teardown."""
    if shutil.which("victoria-metrics") is None:
        pytest.skip("victoria-metrics is not installed")
    servers: list[Victoria] = []

    def start(**options: object) -> Victoria:
        server = Victoria(tmp_path_factory.mktemp("victoria"), **options)  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
