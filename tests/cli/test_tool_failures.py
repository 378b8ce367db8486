"""`probe`, `probe --guess` and `read` when the connection itself fails: one clear line, exit 1.

Real TCP peers on loopback: one that accepts and resets the connection (SO_LINGER 0) when a request
arrives, one that resets it right after accepting, a closed port (refused) and one that accepts and
never answers (a timeout).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()

TOOLS = [
    ["probe", "--profile", "chint-dtsu666"],
    ["probe", "--profile", "chint-dtsu666", "--guess"],
    ["read", "--address", "0x2006", "--type", "float32"],
]


class Peer:
    """A TCP server on a free loopback port that treats every connection the same way."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "reset-on-request":
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    conn.recv(260)
            if self.mode == "silent":
                self.held.append(conn)  # keep it open, never answer
                continue
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self) -> None:
        self.sock.close()
        for c in self.held:
            c.close()


@pytest.fixture
def peer() -> Iterator[type[Peer]]:
    started: list[Peer] = []

    def make(mode: str) -> Peer:
        p = Peer(mode)
        started.append(p)
        return p

    yield make  # type: ignore[misc]
    for p in started:
        p.close()


def _one_line_exit_1(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.stdout == "", result.stdout  # no table of 33 error rows
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: " ".join(t[:3:2]))
def test_a_peer_that_resets_under_a_request(peer: type[Peer], tool: list[str]) -> None:
    p = peer("reset-on-request")
    line = _one_line_exit_1([*tool, "--tcp", f"127.0.0.1:{p.port}"])
    assert f"tcp://127.0.0.1:{p.port} dropped the connection during a request" in line
    assert "only one or a few masters" in line  # the usual cause, for Modbus TCP
    assert "no answer" not in line  # a reset is not silence


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: " ".join(t[:3:2]))
def test_a_peer_that_resets_at_once(peer: type[Peer], tool: list[str]) -> None:
    p = peer("reset-at-once")
    line = _one_line_exit_1([*tool, "--tcp", f"127.0.0.1:{p.port}"])
    assert f"127.0.0.1:{p.port}" in line
    assert "Connection reset" in line or "dropped the connection" in line
    assert "no answer" not in line


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: " ".join(t[:3:2]))
def test_a_closed_port(tool: list[str]) -> None:
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    line = _one_line_exit_1([*tool, "--tcp", f"127.0.0.1:{port}"])
    assert f"cannot connect to 127.0.0.1:{port}: Connection refused" in line


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: " ".join(t[:3:2]))
def test_a_silent_peer(peer: type[Peer], tool: list[str]) -> None:
    p = peer("silent")
    line = _one_line_exit_1([*tool, "--tcp", f"127.0.0.1:{p.port}", "--timeout", "0.2"])
    assert f"no answer from unit 1 on tcp://127.0.0.1:{p.port} within 0.2 s" in line


def test_scan_of_a_peer_that_resets_every_probe_says_so(peer: type[Peer]) -> None:
    p = peer("reset-on-request")
    result = runner.invoke(app, ["scan", "--tcp", f"127.0.0.1:{p.port}", "--units", "1-3"])
    assert result.exit_code == 1, result.output
    assert "dropped the connection at every probe (3)" in result.stdout
    assert "A/B swapped" not in result.stdout  # no wiring advice for a TCP reset
