"""The errors of reading a source: a ReadingsError, so every command reports it as it reports a bad
readings file (the source's name first, then what went wrong)."""

from __future__ import annotations

from analytics.readings_io import ReadingsError


class SourceError(ReadingsError):
    """The source cannot be read: unreachable, refused the credentials, no such database, bad URL."""


class SourceEmpty(SourceError):
    """The source answered but holds no good reading of the site in the window."""
