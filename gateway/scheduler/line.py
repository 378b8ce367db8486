"""One bus's connection: opened lazily, re-opened with backoff after a connect error, requests paced
and counted.

- One Connection (per the bus's protocol: drivers.connections) per bus, used by the bus
  thread only. A connect error (port missing or busy, host unreachable, socket dropped) marks the
  bus down; it is opened again after 1, 2, 4 ... 30 s, forever. The log says so once per change of
  reason, not at every retry.
- Pacing: `bus.pause_s` of silence after every request's end before the next one, plus
  `bus.unit_switch_delay_s` when the next request goes to another unit id than the last one — the
  same terms the airtime budget counts.
- Every request is counted for its device (Prometheus: requests, failures by reason, latency
  histogram and the device's latency window; the snapshot's DeviceStats) and its time on the line
  goes into the bus's busy window.

Each meter reads through its own MeterLink, a drivers.reader.RegisterSource that knows which device
the request is for and gathers the PollOutcome of the current poll.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar

from core.latency import LatencyWindow
from drivers.errors import (
    ConnectError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusFrameError,
    ModbusTimeout,
)
from drivers.transport import Endpoint
from gateway.metrics import GatewayMetrics
from gateway.scheduler.stats import BusyWindow, DeviceStats, PollOutcome

log = logging.getLogger("metergate.scheduler")

RECONNECT_BASE_S = 1.0
RECONNECT_CAP_S = 30.0
GATEWAY_SILENCE = (10, 11)  # a Modbus TCP gateway saying the device behind it did not answer

LineState = Literal["idle", "up", "down"]
T = TypeVar("T")


class Connection(Protocol):
    """A Modbus connection (read_registers) or a DL/T 645 / CJ/T 188 one (read_di); the bus line
    only opens, closes and hands it to one request at a time."""

    def open(self) -> None: ...
    def close(self) -> None: ...


class ConnectionFactory(Protocol):
    def __call__(self, endpoint: Endpoint, *, timeout: float) -> Connection: ...


class BusLine:
    def __init__(self, bus_id: str, endpoint: Endpoint, *, timeout_s: float, pause_s: float,
                 unit_switch_delay_s: float, factory: ConnectionFactory,
                 metrics: GatewayMetrics, lock: threading.Lock, stop: threading.Event,
                 monotonic: Callable[[], float]) -> None:
        self.bus_id = bus_id
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.pause_s = pause_s
        self.unit_switch_delay_s = unit_switch_delay_s
        self._factory = factory
        self._metrics = metrics
        self._latency = metrics.latency.labels(bus_id)
        self._lock = lock
        self._stop = stop
        self._monotonic = monotonic
        self._conn: Connection | None = None
        self._last_end: float | None = None
        self._last_unit: int | str | None = None
        self._reopen_at = 0.0
        self._logged_reason: str | None = None
        self.open_failures = 0  # consecutive failed opens
        self.state: LineState = "idle"
        self.last_error: str | None = None
        self.last_error_kind: str | None = None
        self.busy = BusyWindow(monotonic())

    def link(self, device: str, stats: DeviceStats) -> MeterLink:
        return MeterLink(self, device, stats, self._metrics, self._lock)

    # -- connection ------------------------------------------------------------------------------

    def ready(self) -> bool:
        """True when connected; otherwise try to open if the backoff allows, else False at once."""
        if self._conn is not None:
            return True
        if self._monotonic() < self._reopen_at:
            return False
        conn: Connection | None = None
        try:
            conn = self._factory(self.endpoint, timeout=self.timeout_s)
            conn.open()
        except ConnectError as exc:
            self._down(conn, str(exc), exc.kind)
            return False
        except Exception as exc:  # a factory or transport bug must not end the bus thread
            self._down(conn, f"{type(exc).__name__}: {exc}", "connect_error")
            return False
        if self._stop.is_set():
            with contextlib.suppress(Exception):
                conn.close()
            return False
        self._conn = conn
        if self.open_failures or self.state == "down":
            log.info("bus %s: connected to %s again after %d failed attempt(s)", self.bus_id,
                     self.endpoint, self.open_failures)
        else:
            log.debug("bus %s: connected to %s", self.bus_id, self.endpoint)
        with self._lock:
            self.state = "up"
            self.last_error = None
            self.last_error_kind = None
        self.open_failures = 0
        self._logged_reason = None
        self._last_end = None
        return True

    def _down(self, conn: Connection | None, reason: str, kind: str = "connect_error") -> None:
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        self.open_failures += 1
        wait = min(RECONNECT_CAP_S, RECONNECT_BASE_S * 2.0 ** (self.open_failures - 1))
        self._reopen_at = self._monotonic() + wait
        with self._lock:
            self.state = "down"
            self.last_error = reason
            self.last_error_kind = kind
        if self._stop.is_set():
            return
        if reason != self._logged_reason:
            log.error("bus %s: cannot reach %s: %s; its meters are not polled until it opens; "
                      "retrying with backoff up to every %g s", self.bus_id, self.endpoint, reason,
                      RECONNECT_CAP_S)
            self._logged_reason = reason
        else:
            log.debug("bus %s: still cannot reach %s (attempt %d): %s", self.bus_id, self.endpoint,
                      self.open_failures + 1, reason)

    def drop(self, reason: str, kind: str = "connect_error") -> None:
        """The connection broke during a request: close it; the next poll re-opens it."""
        conn, self._conn = self._conn, None
        self._down(conn, reason, kind)

    def close(self) -> None:
        """Close the connection from any thread, to cut a request in flight short at stop. A
        connection with an `interrupt()` method (e.g. one that shuts a socket down, which wakes a
        blocked receive where close() does not) gets that first; otherwise the request ends at
        its timeout at the latest."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        interrupt = getattr(conn, "interrupt", None)
        if callable(interrupt):
            with contextlib.suppress(Exception):
                interrupt()
        with contextlib.suppress(Exception):
            conn.close()

    # -- requests --------------------------------------------------------------------------------

    def _pace(self, unit: int | str) -> None:
        if self._last_end is None:
            return
        gap = self.pause_s + (self.unit_switch_delay_s if unit != self._last_unit else 0.0)
        wait = self._last_end + gap - self._monotonic()
        if wait > 0 and self._stop.wait(wait):
            raise ConnectError(f"bus {self.bus_id}: stopping", kind="closed")

    def request(self, link: MeterLink, unit: int, function: int, address: int,
                count: int) -> list[int]:
        result: list[int] = self.exchange(
            link, unit, lambda conn: conn.read_registers(unit, function, address, count))
        return result

    def exchange(self, link: MeterLink, station: int | str, call: Callable[[Any], T]) -> T:
        """One request to `station` (a Modbus unit id or a DL/T 645 / CJ/T 188 address) through
        `call(connection)`: paced, timed, counted for `link`'s device."""
        conn = self._conn
        if conn is None:
            raise ConnectError(f"bus {self.bus_id} is not connected: {self.last_error or 'closed'}",
                               kind="closed")
        self._pace(station)
        start = self._monotonic()
        try:
            values = call(conn)
        except ModbusError as exc:
            end = self._monotonic()
            self._finish(start, end, station)
            if self._stop.is_set():
                # cut short by the stop (close() shut the socket): not a fault of the device or
                # the bus, so neither the meter's counters nor the bus state record it
                raise ConnectError(f"bus {self.bus_id}: stopping", kind="closed") from None
            link.record(end - start, exc)
            if isinstance(exc, ConnectError):
                self.drop(str(exc), exc.kind)
            raise
        except BaseException:
            self._finish(start, self._monotonic(), station)
            raise
        end = self._monotonic()
        self._finish(start, end, station)
        link.record(end - start, None)
        return values

    def _finish(self, start: float, end: float, unit: int | str) -> None:
        self._last_end = end
        self._last_unit = unit
        self.busy.add(start, end)

    def observe_latency(self, seconds: float) -> None:
        self._latency.observe(seconds)


class MeterLink:
    """The RegisterSource one meter's readers use: requests go through the bus line and are
    counted for this device; `outcome` collects what the current poll met."""

    __slots__ = ("_failures", "_lock", "_metrics", "device", "line", "outcome", "stats", "window")

    def __init__(self, line: BusLine, device: str, stats: DeviceStats,
                 metrics: GatewayMetrics, lock: threading.Lock) -> None:
        self.line = line
        self._lock = lock
        self.device = device
        self.stats = stats
        self.outcome = PollOutcome()
        self._failures: dict[str, Any] = {}
        self._metrics = metrics
        self.window: LatencyWindow = metrics.window(device)

    def begin(self) -> PollOutcome:
        self.outcome = PollOutcome()
        return self.outcome

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        return self.line.request(self, unit, function, address, count)

    def read_di(self, address: str, di: int, meter_type: int | None = None,
                high_first: bool = False) -> bytes:
        """A DL/T 645 / CJ/T 188 data identifier (drivers.di_reader.DiSource) through the line."""
        result: bytes = self.line.exchange(
            self, address, lambda conn: conn.read_di(address, di, meter_type, high_first))
        return result

    def record(self, rt: float, error: ModbusError | None) -> None:
        """One request done in `rt` seconds (error None: answered with data)."""
        outcome = self.outcome
        outcome.requests += 1
        if isinstance(error, ModbusExceptionResponse):
            reason = f"exception_{error.code}"
            if error.code in GATEWAY_SILENCE:
                outcome.silent += 1
            else:
                outcome.answered += 1
        elif error is None:
            reason = ""
            outcome.answered += 1
        else:
            reason = error.reason
            if isinstance(error, ModbusTimeout):
                outcome.silent += 1
            elif isinstance(error, ConnectError):
                outcome.connect_errors += 1
        if error is None or isinstance(error, ModbusExceptionResponse):
            self.line.observe_latency(rt)
            self.window.add(rt)
        if error is not None:
            outcome.last_error = str(error)
            outcome.last_error_kind = error.kind
            counter = self._failures.get(reason)
            if counter is None:
                counter = self._metrics.failures.labels(self.line.bus_id, self.device, reason)
                self._failures[reason] = counter
            counter.inc()
        with self._lock:
            s = self.stats
            s.requests += 1
            if isinstance(error, ModbusTimeout):
                s.timeouts += 1
            elif isinstance(error, ModbusFrameError):
                if error.reason == "crc_error":
                    s.crc_errors += 1
                else:
                    s.bad_frames += 1
            elif isinstance(error, ModbusExceptionResponse):
                s.exceptions += 1
            elif isinstance(error, ConnectError):
                s.connect_errors += 1
