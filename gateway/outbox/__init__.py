"""The durable outbox: SQLite (WAL) buffer of polls between the scheduler and the MQTT publisher.

See docs/outbox.md for the guarantees, the encoding, the budget and the measurements behind them.
"""

from gateway.outbox.budget import DEFAULT_MAX_BYTES
from gateway.outbox.codec import StoredReading
from gateway.outbox.errors import OutboxCorruptError, OutboxError, OutboxFullError
from gateway.outbox.store import CommittedMessage, Outbox, OutboxMessage, OutboxStats

__all__ = ["DEFAULT_MAX_BYTES", "CommittedMessage", "Outbox", "OutboxCorruptError", "OutboxError",
           "OutboxFullError", "OutboxMessage", "OutboxStats", "StoredReading"]
