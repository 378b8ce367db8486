"""The one error a channel raises: what went wrong, and whether trying again can help."""

from __future__ import annotations


class DeliveryFailed(Exception):
    """One attempt failed. `permanent`: the receiver refused the notification itself (a wrong
    address, a rejected login, HTTP 4xx), so retrying cannot succeed; else (a refused or timed-out
    connection, SMTP 4xx, HTTP 5xx) it is retried with backoff. The message never holds a secret."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


__all__ = ["DeliveryFailed"]
