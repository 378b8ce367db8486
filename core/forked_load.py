"""Run a loader in a forked child and take back its result, pickled.

Loading a large site config (1,000 meters: TOML parsing, pydantic validation, profile compiling) has
a peak of about 18 MB for a result of about 3 MB, and Python's allocator keeps the peak's arenas for
the life of the process: on a gateway with a few hundred MB of RAM that is memory held for years for
nothing. Loaded in a child, only the result comes back, as fresh compact objects (issue 17,
docs/benchmarks.md). Any failure in the child (the loader raised, or the result does not pickle)
falls back to loading here, so errors are raised exactly as the loader raises them.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def load_in_child(load: Callable[[], T]) -> T:
    """`load()`, computed in a forked child when the platform can fork; call it before any thread
    is started (a fork copies only the calling thread)."""
    if not hasattr(os, "fork"):
        return load()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without running the parent's cleanup
        status = 1
        try:
            os.close(read_end)
            data = pickle.dumps(load(), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, wait_status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(wait_status) != 0 or not data:
        return load()  # raises the loader's own error here, with its own message
    result: T = pickle.loads(data)
    return result


__all__ = ["load_in_child"]
