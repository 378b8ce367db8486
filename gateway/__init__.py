"""The gateway runtime and the `metergate` command."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("metergate")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
