"""Ending a child process politely: a signal, a wait, then SIGKILL. Shared by the benchmarks and the
test suite's service fixtures (tests/support)."""

from __future__ import annotations

import signal
import subprocess


def end_process(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM,
                timeout: float = 15.0) -> None:
    """Send `sig` to a live `proc` and wait up to `timeout` s for it to exit; kill it if it does not."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
