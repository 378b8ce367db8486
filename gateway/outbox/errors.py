"""The outbox's errors: each names the database file and says what to do."""

from __future__ import annotations

from core.errors import MetergateError


class OutboxError(MetergateError):
    """The outbox cannot be opened or used; the message names the file."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"outbox {path}: {message}")


class OutboxFullError(OutboxError):
    """The disk (or the database's page limit) is full and eviction could not make room.

    The append that raised was not stored; everything committed before it is intact. The scheduler
    counts these and keeps polling: a later append succeeds as soon as space frees up.
    """


class OutboxCorruptError(OutboxError):
    """The file is not a usable outbox database. Nothing was changed or deleted."""
