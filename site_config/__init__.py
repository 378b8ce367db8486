"""Site configuration: the TOML a technician writes for one gateway, checked once and compiled.

    config = load_site_config("/etc/metergate/site.toml")   # or ConfigError with every problem

The result is frozen (site_config/model.py); the runtime uses it without validating again.
The format is documented in docs/configuration.md.
"""

from typing import TYPE_CHECKING

from core.problems import ConfigError, Problem
from core.secrets import Secret
from site_config.airtime import GroupLoad, bus_utilisation
from site_config.model import (
    Building,
    Bus,
    Health,
    Meter,
    Mqtt,
    Outbox,
    PollGroup,
    Site,
    SiteConfig,
    WireLine,
)

if TYPE_CHECKING:
    from site_config.load import load_site_config


def __getattr__(name: str) -> object:
    # the loader (pydantic, TOML) is imported when first used: a running gateway holds a config
    # loaded in a child process (core.forked_load) and never needs it
    if name == "load_site_config":
        from site_config.load import load_site_config

        return load_site_config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Building", "Bus", "ConfigError", "GroupLoad", "Health", "Meter", "Mqtt", "Outbox", "PollGroup",
    "Problem", "Secret", "Site", "SiteConfig", "WireLine", "bus_utilisation",
    "load_site_config",
]
