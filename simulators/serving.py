"""A background thread with an asyncio loop serving simulated transports: the lifecycle every
simulator shares (start, serve, stop; usable as a context manager). Subclasses open their servers
in `_open()` and append them to `_servers` (each with async start() and close())."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any, Self


class ServingThread:
    def __init__(self) -> None:
        self._servers: list[Any] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _before_start(self) -> None:
        """Last chance to add a default transport."""

    async def _open(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        """Open every transport and serve from a daemon thread; raises OSError (e.g. address in
        use) after closing whatever had opened."""
        if self._thread is not None:
            return self
        self._before_start()
        loop = asyncio.new_event_loop()
        ready: Future[None] = Future()
        self._loop = loop
        self._thread = threading.Thread(target=self._run, args=(loop, ready),
                                        name="metergate-simulator", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=10)
        except BaseException:
            self._join()
            raise
        return self

    def _run(self, loop: asyncio.AbstractEventLoop, ready: Future[None]) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:
            loop.run_until_complete(self._close())
            loop.close()
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._close())
            loop.close()

    async def _close(self) -> None:
        for server in self._servers:
            await server.close()
        self._servers.clear()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._join()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

