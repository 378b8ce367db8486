"""`metergate doctor`: what a technician gets wrong on a gateway box, each with its fix.

    checks = run_checks(site, user="metergate", days=30)   # list[Check], in the order printed

Every check looks at the real thing — the serial device node and its group, a TCP connection to
each Modbus gateway, an MQTT CONNECT with the configured TLS and credentials, the outbox folder and
its file system, the kernel's clock state, systemd's view of the units — and says ok, warn or fail
with what to do. Nothing is written except a probe file next to the outbox (removed at once), and
the MQTT check connects with its own client id, so a running gateway is not disturbed.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import grp
import logging
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.units import format_size
from gateway.outbox.budget import PAGE_FILL, ROW_OVERHEAD, disk_room, files_size
from site_config import SiteConfig

Status = Literal["ok", "warn", "fail", "skip"]
UNITS = ("metergate-gateway", "metergate-ingest", "metergate-analytics")


@dataclass(frozen=True, slots=True)
class Check:
    area: str  # "serial", "tcp", "mqtt", "outbox", "clock", "service"
    subject: str  # the bus id, broker, path, unit ...
    status: Status
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


# -- serial ports ------------------------------------------------------------------------------------

def serial_checks(site: SiteConfig, user: str) -> list[Check]:
    out = []
    for bus in site.buses:
        device = getattr(bus.endpoint, "device", None)
        if device is not None:
            out.append(serial_port(bus.id, str(device), user))
    return out


def serial_port(bus_id: str, device: str, user: str) -> Check:
    """The device node exists and `user` (the service's) may open it read-write."""
    subject = f"{bus_id}: {device}"
    path = Path(device)
    if not path.exists():
        by_id = sorted(str(p) for p in Path("/dev/serial/by-id").glob("*")) if Path(
            "/dev/serial/by-id").is_dir() else []
        seen = ", ".join(by_id[:4]) or "none under /dev/serial/by-id"
        return Check("serial", subject, "fail", "the serial port does not exist",
                     f"plug in the USB-RS485 adapter or fix the path in the site config (adapters seen: "
                     f"{seen}; prefer the stable /dev/serial/by-id/… name)")
    st = path.stat()
    if not stat.S_ISCHR(st.st_mode):
        return Check("serial", subject, "warn", "exists but is not a character device",
                     "point the bus at the adapter's device node (/dev/ttyUSB…, /dev/serial/by-id/…)")
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return Check("serial", subject, "warn", f"the service user {user!r} does not exist",
                     f"create it: sudo useradd --system --groups dialout {user} (or give --user)")
    group = _group_name(st.st_gid)
    if _may_open(st, account):
        return Check("serial", subject, "ok", f"{user} can open it (group {group})")
    found = (f"{user} cannot open it (owner {_user_name(st.st_uid)}, group {group}, mode "
             f"{stat.filemode(st.st_mode)})")
    if st.st_mode & stat.S_IRGRP and st.st_mode & stat.S_IWGRP:
        return Check("serial", subject, "fail", found,
                     f"sudo usermod -aG {group} {user}, then restart the service")
    # the group has no access either: the node's mode has to change (udev sets it at every plug-in)
    return Check("serial", subject, "fail", found,
                 'a udev rule giving the adapter group dialout and mode 0660, e.g. in /etc/udev/rules.d/'
                 '99-metergate.rules: SUBSYSTEM=="tty", KERNEL=="ttyUSB*", GROUP="dialout", MODE="0660"; '
                 f"then sudo udevadm trigger and sudo usermod -aG dialout {user}")


def _may_open(st: os.stat_result, account: pwd.struct_passwd) -> bool:
    if account.pw_uid == 0:
        return True
    if st.st_uid == account.pw_uid:
        return bool(st.st_mode & stat.S_IRUSR and st.st_mode & stat.S_IWUSR)
    if st.st_gid in _groups_of(account):
        return bool(st.st_mode & stat.S_IRGRP and st.st_mode & stat.S_IWGRP)
    return bool(st.st_mode & stat.S_IROTH and st.st_mode & stat.S_IWOTH)


def _groups_of(account: pwd.struct_passwd) -> set[int]:
    return {account.pw_gid} | {g.gr_gid for g in grp.getgrall() if account.pw_name in g.gr_mem}


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


# -- Modbus TCP gateways -----------------------------------------------------------------------------

def tcp_checks(site: SiteConfig, timeout: float) -> list[Check]:
    out = []
    for bus in site.buses:
        host, port = getattr(bus.endpoint, "host", None), getattr(bus.endpoint, "port", None)
        if host is None or port is None:
            continue
        subject = f"{bus.id}: {host}:{port}"
        try:
            with socket.create_connection((str(host), int(port)), timeout=timeout):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            out.append(Check("tcp", subject, "fail", f"cannot connect: {reason}",
                             "check the address, that the device is powered and on this network, and "
                             "that no firewall blocks the port"))
            continue
        out.append(Check("tcp", subject, "ok", "accepts connections"))
    return out


# -- MQTT broker -------------------------------------------------------------------------------------

def mqtt_check(site: SiteConfig, timeout: float) -> Check:
    """A real CONNECT with the site's TLS and credentials; the refusal worded as the gateway logs it."""
    if site.mqtt is None:
        return Check("mqtt", "-", "skip", "no [mqtt] in the site config: readings stay in the outbox")
    from core.mqtt_client import Ack, Connected, Link
    from gateway.runtime import mqtt_options

    options = mqtt_options(site, f"{site.mqtt.client_id}-doctor-{os.getpid()}")
    settings = dataclasses.replace(options.link_settings(), connect_timeout=timeout)

    class _Listener:
        def __init__(self) -> None:
            self.info: Connected | None = None

        def link_up(self, info: Connected) -> None:
            self.info = info

        def link_down(self, reason: str) -> None:
            pass

        def link_ack(self, ack: Ack) -> None:
            pass

    listener = _Listener()
    link = Link(settings, listener)
    # the link logs its failures for a service's journal; here they are the check's result
    quiet = logging.getLogger("core.mqtt_client")
    level, quiet.level = quiet.level, logging.CRITICAL
    deadline = time.monotonic() + 3 * timeout + 1  # TCP connect, TLS handshake and CONNACK
    try:
        while time.monotonic() < deadline:
            link.poll(0.1)
            if link.up or (link.attempts and link.state == "down"):
                break
    finally:
        up, error = link.up, link.last_error
        link.close()
        quiet.setLevel(level)
    subject = settings.describe()
    if up:
        return Check("mqtt", subject, "ok", "connected with the configured TLS and credentials")
    return Check("mqtt", subject, "fail", error or f"no answer within {timeout:g} s",
                 "fix the broker address, credentials or TLS files in [mqtt] (the gateway retries "
                 "for ever and keeps readings in the outbox meanwhile)")


# -- outbox ------------------------------------------------------------------------------------------

def bytes_per_day(site: SiteConfig) -> float:
    """Disk the outbox needs per day at the configured polls, an estimate on the generous side:
    about 5 bytes a reading and 30 a message, plus SQLite's row overhead and page fill
    (benchmarks/outbox_budget.py measures ~130 bytes for a 20-point poll)."""
    total = 0.0
    for meter in site.meters:
        for group in meter.poll:
            per_message = (ROW_OVERHEAD + 30 + 5 * len(group.quantities)) / PAGE_FILL
            total += 86_400 / group.interval_s * per_message
    return total


def outbox_check(site: SiteConfig, days: float) -> Check:
    path = site.outbox.path
    folder = path.parent
    probe_dir = folder
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        return Check("outbox", str(path), "fail", f"{probe_dir} is not a folder",
                     "point outbox.path at a file in a folder the service user owns")
    if not folder.exists():
        return Check("outbox", str(path), "fail", f"its folder {folder} does not exist",
                     f"sudo install -d -o metergate -g metergate -m 0750 {folder}")
    try:
        with open(folder / f".doctor-{os.getpid()}", "wb") as f:
            f.write(b"x")
    except OSError as exc:
        return Check("outbox", str(path), "fail", f"cannot write in {folder}: {exc.strerror}",
                     f"give the service user the folder: sudo chown metergate: {folder}")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(folder / f".doctor-{os.getpid()}")
    need = bytes_per_day(site)
    room = disk_room(path)
    held = files_size(path)  # the outbox already there can be reused
    budget = site.outbox.max_bytes
    budget_days = budget / need if need else float("inf")
    if room is None:
        return Check("outbox", str(path), "warn", "cannot tell the free space of its file system",
                     "check with df that it has room for the budget")
    free_days = (room + held) / need if need else float("inf")
    text = (f"writable; {_size(room)} free; the polls need ~{_size(need)}/day: the budget "
            f"({_size(budget)}) holds {budget_days:.0f} days, the free space {free_days:.0f}")
    if room + held < budget and free_days < days:
        # the disk fills before the budget is reached: new polls are refused, not the oldest evicted
        return Check("outbox", str(path), "fail", text + f" — the disk holds less than {days:g} days",
                     "free disk space or put the outbox on a bigger file system (an outage longer "
                     "than that refuses new polls); or lower outbox.max_bytes below the free space, "
                     "so that the oldest readings are evicted instead")
    if budget_days < days:
        return Check("outbox", str(path), "warn", text + f" — the budget holds less than {days:g} days",
                     f"raise outbox.max_bytes to at least {_size(need * days)} (readings older than "
                     "the budget are evicted during a long broker outage)")
    return Check("outbox", str(path), "ok", text)




def _size(n: float) -> str:
    return format_size(round(n))


# -- clock -------------------------------------------------------------------------------------------

class _Timex(ctypes.Structure):
    # struct timex of <sys/timex.h> (Linux): modes, then the fields up to status; the rest is padding
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("rest", ctypes.c_byte * 200)]


TIME_ERROR = 5  # adjtimex(): the clock is not synchronised (STA_UNSYNC)


def kernel_clock_state() -> int | None:
    """adjtimex()'s clock state (0 TIME_OK … 5 TIME_ERROR = unsynchronised), or None if unknown."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        tx = _Timex()
        state = int(libc.adjtimex(ctypes.byref(tx)))  # modes = 0: read only
    except (OSError, AttributeError):
        return None
    return None if state < 0 else state


def clock_check(state: Callable[[], int | None] = kernel_clock_state) -> Check:
    s = state()
    if s is None:
        return Check("clock", "system clock", "warn", "cannot read the kernel's clock state",
                     "check with timedatectl that NTP is active and synchronised")
    if s == TIME_ERROR:
        return Check("clock", "system clock", "fail",
                     "not synchronised (the kernel's clock state is TIME_ERROR): readings would carry a "
                     "wrong time", "enable time sync: sudo timedatectl set-ntp true (or install chrony) "
                     "and let the box reach an NTP server")
    return Check("clock", "system clock", "ok", "synchronised (kernel clock state "
                 f"{['TIME_OK', 'TIME_INS', 'TIME_DEL', 'TIME_OOP', 'TIME_WAIT'][s] if s < 5 else s})")


# -- services ----------------------------------------------------------------------------------------

def service_checks(units: tuple[str, ...] = UNITS) -> list[Check]:
    if not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
        return [Check("service", "systemd", "skip", "systemd is not running here: services not checked")]
    out = []
    for unit in units:
        res = subprocess.run(["systemctl", "show", unit, "--property=LoadState,ActiveState,SubState,"
                              "UnitFileState,Result", "--value"], capture_output=True, text=True,
                             timeout=10, check=False)
        load, active, sub, enabled, result = ([*res.stdout.split("\n"), "", "", "", "", ""])[:5]
        if load == "not-found":
            continue
        text = f"{active} ({sub}), {enabled or 'not enabled'}"
        if active == "active":
            out.append(Check("service", unit, "ok", text))
        elif active == "failed":
            out.append(Check("service", unit, "fail", f"{text}, result {result}",
                             f"see why: journalctl -u {unit} -n 50; then sudo systemctl restart {unit}"))
        else:
            out.append(Check("service", unit, "warn", text, f"sudo systemctl enable --now {unit}"))
    return out or [Check("service", "systemd", "warn", "no metergate unit is installed",
                         "install the units (docs/operations.md) and enable the gateway's")]


def run_checks(site: SiteConfig, *, user: str = "metergate", days: float = 30, timeout: float = 5.0,
               units: tuple[str, ...] = UNITS) -> list[Check]:
    return [*serial_checks(site, user), *tcp_checks(site, timeout), mqtt_check(site, timeout),
            outbox_check(site, days), clock_check(), *service_checks(units)]


__all__ = ["Check", "bytes_per_day", "clock_check", "kernel_clock_state", "mqtt_check", "outbox_check",
           "run_checks", "serial_port", "service_checks", "tcp_checks"]
