"""metergate's bundled data: meter profiles, factors, quota tables, example configs (and, in the
subpackage `systemd`, the service units).

Installed as the package `metergate_data` (pyproject.toml maps it onto this folder), so a wheel
carries the data and the code finds it with importlib.resources wherever it is installed — in a
checkout through the editable install, on a gateway box in site-packages. Site folders such as
/etc/metergate/profiles are searched after these and override them (drivers.profiles).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled(*parts: str) -> Path:
    """The path of a bundled data folder or file, e.g. bundled("profiles")."""
    # wheels install as plain folders, so the resource is a real path (not inside a zip)
    return Path(str(files(__name__).joinpath(*parts)))


__all__ = ["bundled"]
