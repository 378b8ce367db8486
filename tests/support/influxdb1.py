"""A real InfluxDB 1.x (Debian's influxd, 1.6.7) for tests: a pytest plugin, registered in
tests/conftest.py.

    def test_writes(influxdb1):
        db = influxdb1()                                # HTTP API on a free loopback port, no auth
        db = influxdb1(users={"ingest": "secret"})      # auth-enabled; an admin user is created
        db.create_database("energy")
        db.query("SELECT * FROM power_active", "energy")   # InfluxQL over /query -> series list
        db.stop(); db.start()                           # down and up again on the SAME ports

Each server gets its own temporary config (meta, data and WAL folders in a temporary folder; the
HTTP and RPC listeners on free loopback ports; reporting and the internal monitor off). It never
touches /etc/influxdb or the system service. Every server is stopped at teardown.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import free_port
from tests.support.server_process import ServerProcess

ADMIN = ("admin", "admin-secret")


class InfluxDB1(ServerProcess):
    host = "127.0.0.1"

    def __init__(self, folder: Path, *, users: Mapping[str, str] | None = None) -> None:
        binary = shutil.which("influxd")
        if binary is None:
            raise RuntimeError("influxd is not installed (apt-get install influxdb)")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.rpc_port = free_port()
        self.users = dict(users or {})
        self.log_file = folder / "influxd.log"
        self.config_file = folder / "influxdb.conf"
        self.proc: subprocess.Popen[bytes] | None = None
        self._provisioned = False
        auth = "true" if self.users else "false"
        self.config_file.write_text(f"""
reporting-disabled = true
bind-address = "{self.host}:{self.rpc_port}"
[meta]
  dir = "{folder}/meta"
[data]
  dir = "{folder}/data"
  wal-dir = "{folder}/wal"
  query-log-enabled = false
[coordinator]
[retention]
  enabled = false
[shard-precreation]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  auth-enabled = {auth}
  log-enabled = false
[continuous_queries]
  enabled = false
""")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> InfluxDB1:
        if self.running:
            return self
        self._spawn([self.binary, "-config", str(self.config_file)])

        def pinged() -> bool:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as r:
                return bool(r.status == 204)

        self._wait_ready(pinged, timeout, "influxd", f"answer on {self.url}", 0.05)
        if self.users and not self._provisioned:
            # the first user may be created without credentials; it must be an admin
            self.query(f"CREATE USER {ADMIN[0]} WITH PASSWORD '{ADMIN[1]}' WITH ALL PRIVILEGES",
                       method="POST", auth=None)
            for user, password in self.users.items():
                self.query(f"CREATE USER \"{user}\" WITH PASSWORD '{password}'", method="POST")
            self._provisioned = True
        return self

    # -- InfluxQL --------------------------------------------------------------------------------

    def query(self, q: str, db: str | None = None, *, method: str = "GET",
              auth: tuple[str, str] | None = ADMIN, epoch: str = "ns") -> list[dict[str, Any]]:
        """The series of the first statement's result ([] when it has none); RuntimeError on error."""
        params = {"q": q, "epoch": epoch}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params).encode()
        url = f"{self.url}/query"
        req = (urllib.request.Request(url, data=data, method="POST") if method == "POST"
               else urllib.request.Request(f"{url}?{data.decode()}"))
        if auth is not None and self.users:
            req.add_header("Authorization", "Basic " + base64.b64encode(
                f"{auth[0]}:{auth[1]}".encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                doc = json.loads(r.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"influxd refused {q!r}: {exc.code} {exc.read().decode()}") from None
        result = doc["results"][0]
        if "error" in result:
            raise RuntimeError(f"influxd: {q!r}: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def write(self, lines: str, db: str) -> None:
        """Line protocol through /write (as admin), independently of the code under test."""
        req = urllib.request.Request(f"{self.url}/write?db={urllib.parse.quote(db)}&precision=ns",
                                     data=lines.encode(), method="POST")
        if self.users:
            req.add_header("Authorization", "Basic " + base64.b64encode(
                f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode())
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"', method="POST")

    def grant_write(self, user: str, db: str) -> None:
        self.query(f'GRANT ALL ON "{db}" TO "{user}"', method="POST")

    def points(self, measurement: str, db: str, rp: str | None = None) -> list[dict[str, Any]]:
        """Every point of `measurement` as {column: value} dicts (time in ns), tags included."""
        where = f'"{rp}"."{measurement}"' if rp else f'"{measurement}"'
        out: list[dict[str, Any]] = []
        for s in self.query(f"SELECT * FROM {where}", db):
            for row in s["values"]:
                out.append(dict(zip(s["columns"], row, strict=True)))
        return out

    def __repr__(self) -> str:
        return f"<influxd {self.url} {'running' if self.running else 'stopped'}>"


InfluxFactory = Callable[..., InfluxDB1]


@pytest.fixture
def influxdb1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxFactory]:
    """start(*, users=None) -> a running influxd 1.x on free loopback ports; stopped at teardown."""
    if shutil.which("influxd") is None:
        pytest.skip("influxd is not installed")
    servers: list[InfluxDB1] = []

    def start(**options: object) -> InfluxDB1:
        server = InfluxDB1(tmp_path_factory.mktemp("influxd"), **options)  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
