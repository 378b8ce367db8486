"""What a checked site config asks of each bus: meters, poll groups, requests and airtime.

Plain data for `metergate validate` (table or JSON) and for the gateway's start-up log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from site_config.airtime import GroupLoad, Verdict, bus_utilisation, verdict
from site_config.model import Bus, SiteConfig


@dataclass(frozen=True, slots=True)
class BusSummary:
    id: str
    type: str
    endpoint: str
    meters: int
    poll_groups: int
    requests: int  # one poll of every group
    requests_per_s: float
    utilisation: float | None  # share of the line's time; None without wire timing
    verdict: Verdict
    timeout_ms: float
    pause_ms: float
    groups: tuple[GroupLoad, ...]

    def advice(self) -> str:
        """What to do about a busy line ('' when there is room)."""
        if self.verdict == "over":
            return (f"bus {self.id!r} is over-subscribed: its polling needs {self.utilisation:.0%} of "
                    "the line's time, so polls will run late and be thinned fairly; lengthen poll "
                    "intervals, poll fewer quantities often, move meters to another bus or raise the "
                    "baud rate")
        if self.verdict == "high":
            return (f"bus {self.id!r} is {self.utilisation:.0%} busy (above 70 %): little room is left "
                    "for retries and slow answers; consider longer intervals or another bus")
        return ""


@dataclass(frozen=True, slots=True)
class SiteSummary:
    file: str
    site: str
    gateway_id: str
    buildings: int
    meters: int
    poll_groups: int
    buses: tuple[BusSummary, ...]
    mqtt: str | None  # "host:port" or None (local store only)
    outbox: str

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        for bus, summary in zip(data["buses"], self.buses, strict=True):
            bus["groups"] = [{**asdict(g), "requests_per_s": g.requests_per_s,
                              "utilisation": g.utilisation} for g in summary.groups]
        return data


def summarise_bus(bus: Bus, config: SiteConfig) -> BusSummary:
    meters = config.meters_on(bus.id)
    utilisation, groups = bus_utilisation(bus, meters)
    return BusSummary(
        id=bus.id, type=bus.type, endpoint=str(bus.endpoint), meters=len(meters),
        poll_groups=len(groups), requests=sum(g.requests for g in groups),
        requests_per_s=sum(g.requests_per_s for g in groups), utilisation=utilisation,
        verdict=verdict(utilisation), timeout_ms=round(bus.timeout_s * 1000, 3),
        pause_ms=round(bus.pause_s * 1000, 3), groups=groups,
    )


def summarise(config: SiteConfig) -> SiteSummary:
    mqtt = f"{config.mqtt.host}:{config.mqtt.port}" if config.mqtt else None
    return SiteSummary(
        file=str(config.path), site=config.site.id, gateway_id=config.site.gateway_id,
        buildings=len(config.buildings), meters=len(config.meters),
        poll_groups=sum(len(m.poll) for m in config.meters),
        buses=tuple(summarise_bus(b, config) for b in config.buses),
        mqtt=mqtt, outbox=str(config.outbox.path),
    )
