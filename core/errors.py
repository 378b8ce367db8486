"""The root of every error metergate reports to a user."""

from __future__ import annotations


class MetergateError(Exception):
    """Base of every error metergate reports to a user."""


__all__ = ["MetergateError"]
