"""Give the calling thread a name the kernel shows (top -H, ps -L, /proc/PID/task/TID/comm), so a
thread's CPU can be told apart from outside the process (the throughput benchmark reports CPU per
thread this way). Python 3.11 names threads only for itself. Linux; elsewhere nothing happens."""

from __future__ import annotations

import threading


def name_this_thread(name: str) -> None:
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
            f.write(name[:15])  # the kernel keeps 15 bytes
    except OSError:
        pass  # not Linux, or /proc not mounted: only the name is lost
