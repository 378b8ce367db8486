"""The life cycle shared by the test servers (mosquitto, VictoriaMetrics, influxd): one process,
started by a subclass, stopped with SIGTERM or SIGKILL, its output appended to `log_file`."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.processes import end_process


class ServerProcess:
    """`proc` (None when stopped) and `log_file` are set by the subclass; `stop_timeout` is
    how long `stop()` waits by default before it kills."""

    stop_timeout = 20.0
    proc: subprocess.Popen[bytes] | None
    log_file: Path

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        """Start `args` with stdout and stderr appended to `log_file`; kept as `proc`."""
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        return self.proc

    def _wait_ready(self, ready: Callable[[], bool], timeout: float, name: str, where: str,
                    pause: float) -> None:
        """Poll `ready()` (an OSError counts as not ready) until it is true; RuntimeError with the
        log when the process exits first or `timeout` passes (it is killed then)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(pause)
        self.kill()
        raise RuntimeError(f"{name} did not {where} within {timeout} s:\n{self.log_text()}")

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM and wait (SIGKILL after `timeout`)."""
        self._signal_and_wait(signal.SIGTERM, self.stop_timeout if timeout is None else timeout)

    def kill(self) -> None:
        self._signal_and_wait(signal.SIGKILL, 10.0)

    def _before_signal(self, proc: subprocess.Popen[bytes]) -> None:
        """Called just before the stop or kill signal is sent to a live process."""

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        self._before_signal(proc)
        end_process(proc, sig, timeout)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
