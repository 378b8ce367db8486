"""The versioned MQTT topic tree (docs/mqtt.md is the contract).

    {prefix}/v1/{site}/{gateway}/status                        retained   gateway online/offline
    {prefix}/v1/{site}/{gateway}/health                        retained   periodic health
    {prefix}/v1/{site}/{gateway}/meters/{meter}/readings       QoS 1      one poll of one meter
    {prefix}/v1/{site}/{gateway}/meters/{meter}/availability   retained   meter online/offline
    {prefix}/v1/{site}/{gateway}/meters/{meter}/meta           retained   what the meter is

The site, gateway and meter ids are single topic levels: slugs of 1-64 letters, digits, '_' and '-'
(never '/', '+', '#'). The prefix is one or more levels, default "metergate".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TREE_VERSION = "v1"
DEFAULT_PREFIX = "metergate"

GatewayKind = Literal["status", "health"]
MeterKind = Literal["readings", "availability", "meta"]
Kind = Literal["status", "health", "readings", "availability", "meta"]
GATEWAY_KINDS: tuple[GatewayKind, ...] = ("status", "health")
METER_KINDS: tuple[MeterKind, ...] = ("readings", "availability", "meta")
KINDS: tuple[Kind, ...] = (*GATEWAY_KINDS, *METER_KINDS)

SEGMENT_PATTERN = "^[A-Za-z0-9_-]{1,64}$(?!\\n)"  # also in every schema with an id (schema.PATTERN_END)
_SEGMENT = re.compile(SEGMENT_PATTERN)
_PREFIX_FORBIDDEN = frozenset("+#\x00")


class TopicError(ValueError):
    """A topic, prefix or id that does not fit the topic tree; the message says why."""


def check_segment(value: object, what: str = "id") -> str:
    """`value` if it is a valid single topic level (site, gateway or meter id), else TopicError."""
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):  # fullmatch: no trailing "\n"
        bad = "" if not isinstance(value, str) else "".join(sorted({c for c in value if c in "/+#"}))
        why = f" (it contains {' '.join(repr(c) for c in bad)})" if bad else ""
        raise TopicError(f"{what} {value!r} cannot be a topic level{why}: use 1-64 letters, digits, "
                         "'_' and '-'")
    return value


def check_prefix(prefix: object) -> str:
    """`prefix` if it is one or more '/'-separated topic levels without wildcards, else TopicError."""
    if (not isinstance(prefix, str) or not prefix or any(not level for level in prefix.split("/"))
            or _PREFIX_FORBIDDEN & set(prefix) or prefix.startswith("$")):
        raise TopicError(f"topic prefix {prefix!r}: write one or more '/'-separated levels without "
                         "'+', '#', empty levels, a leading '$' or a leading/trailing '/' "
                         f"(e.g. {DEFAULT_PREFIX!r})")
    return prefix


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one gateway; every id is checked when it is used."""

    prefix: str
    site: str
    gateway: str

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        check_segment(self.site, "site id")
        check_segment(self.gateway, "gateway id")

    @property
    def base(self) -> str:
        return f"{self.prefix}/{TREE_VERSION}/{self.site}/{self.gateway}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def health(self) -> str:
        return f"{self.base}/health"

    def meter(self, meter: str, kind: MeterKind) -> str:
        if kind not in METER_KINDS:
            raise TopicError(f"{kind!r} is not a per-meter topic; use one of {', '.join(METER_KINDS)}")
        return f"{self.base}/meters/{check_segment(meter, 'meter id')}/{kind}"

    def readings(self, meter: str) -> str:
        return self.meter(meter, "readings")

    def availability(self, meter: str) -> str:
        return self.meter(meter, "availability")

    def meta(self, meter: str) -> str:
        return self.meter(meter, "meta")


def readings_filter(prefix: str = DEFAULT_PREFIX, *, site: str = "+", gateway: str = "+",
                    meter: str = "+") -> str:
    """The subscription filter for readings: every site, gateway and meter unless narrowed."""
    parts = [site if site == "+" else check_segment(site, "site id"),
             gateway if gateway == "+" else check_segment(gateway, "gateway id"),
             meter if meter == "+" else check_segment(meter, "meter id")]
    return f"{check_prefix(prefix)}/{TREE_VERSION}/{parts[0]}/{parts[1]}/meters/{parts[2]}/readings"


def shared_readings_filter(group: str = "ingest", prefix: str = DEFAULT_PREFIX, *, site: str = "+") -> str:
    """The MQTT 5 shared subscription that splits readings (of every site, or of `site`) between the
    members of `group`."""
    return f"$share/{check_segment(group, 'share group')}/{readings_filter(prefix, site=site)}"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    kind: Kind
    site: str
    gateway: str
    meter: str | None  # None for the gateway topics


def parse(topic: str, prefix: str = DEFAULT_PREFIX) -> ParsedTopic:
    """What a received topic is; TopicError if it is not in the v1 tree under `prefix`."""
    head = f"{check_prefix(prefix)}/{TREE_VERSION}/"
    if not topic.startswith(head):
        raise TopicError(f"topic {topic!r} is not under {head!r}")
    levels = topic[len(head):].split("/")
    if len(levels) == 3 and levels[2] in GATEWAY_KINDS:
        site, gateway, kind = levels
        return ParsedTopic(kind, check_segment(site, "site id"),  # type: ignore[arg-type]
                           check_segment(gateway, "gateway id"), None)
    if len(levels) == 5 and levels[2] == "meters" and levels[4] in METER_KINDS:
        site, gateway, _, meter, kind = levels
        return ParsedTopic(kind, check_segment(site, "site id"),  # type: ignore[arg-type]
                           check_segment(gateway, "gateway id"), check_segment(meter, "meter id"))
    raise TopicError(f"topic {topic!r} is not a metergate {TREE_VERSION} topic: expected "
                     f"{head}SITE/GATEWAY/{{{'|'.join(GATEWAY_KINDS)}}} or "
                     f"{head}SITE/GATEWAY/meters/METER/{{{'|'.join(METER_KINDS)}}}")
