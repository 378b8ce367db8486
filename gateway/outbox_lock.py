"""One gateway process per outbox: an advisory lock beside the outbox file.

`metergate run` and `metergate watch` both poll every meter of the site and publish from the
outbox; two of them on one config would fight over the serial ports, publish each poll twice and
acknowledge each other's messages. So the gateway runtime holds an exclusive `flock` on
`<outbox>.lock` for as long as it runs; a second one is refused with who holds it. The kernel drops
the lock when the holder exits, however it exits (a SIGKILL or a crash leaves no stale lock), so
the file's existence means nothing: only the lock does. The file holds the holder's pid, command
and start time, for the refusal message.

Readers of the outbox that do not publish (`metergate analyze --outbox`) do not take the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from gateway.outbox.errors import OutboxError


class OutboxBusyError(OutboxError):
    """Another gateway process (run, watch or demo) holds the outbox."""

    def __init__(self, path: str, holder: dict[str, str]) -> None:
        self.holder = holder
        super().__init__(path, f"in use by {describe(holder)}; only one gateway process (run, "
                               "watch or demo) may use an outbox: stop that one first")


def lock_path(outbox: Path) -> Path:
    return outbox.with_name(outbox.name + ".lock")


class OutboxLock:
    """Held from `acquire()` until `release()` (or the process ends)."""

    def __init__(self, outbox: Path, command: str) -> None:
        self.path = lock_path(Path(outbox))
        self.outbox = Path(outbox)
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise OutboxBusyError naming the holder. If the lock file cannot be
        opened at all (no such folder, no permission) this returns without a lock and the
        outbox's own open says what is wrong with the path."""
        fd = _open(self.path)
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(self.path)
            os.close(fd)
            raise OutboxBusyError(str(self.outbox), holder) from None
        except OSError:
            os.close(fd)  # a filesystem without flock: run unguarded, as before
            return
        self._fd = fd
        _write_holder(fd, self.command)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the descriptor drops the lock

    @property
    def held(self) -> bool:
        return self._fd is not None


def _open(path: Path) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):  # flock works on a read-only descriptor
        try:
            return os.open(path, flags | os.O_CLOEXEC, 0o640)
        except OSError:
            continue
    return None


def _write_holder(fd: int, command: str) -> None:
    text = f"pid={os.getpid()}\ncommand={command}\nsince={time.time():.0f}\n"
    with contextlib.suppress(OSError):  # opened read-only (the file is another user's)
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)


def read_holder(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def describe(holder: dict[str, str]) -> str:
    """'metergate run (pid 1234, since 2026-12-07 02:10:05)', or what is known of it."""
    command = holder.get("command", "another gateway")
    details = []
    if holder.get("pid"):
        details.append(f"pid {holder['pid']}")
    with contextlib.suppress(KeyError, ValueError):
        details.append("since " + time.strftime("%Y-%m-%d %H:%M:%S",
                                                time.localtime(float(holder["since"]))))
    name = f"metergate {command}" if "command" in holder else command
    return f"{name} ({', '.join(details)})" if details else name
