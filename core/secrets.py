"""Secrets (the MQTT password, a database token) read from a file or an environment variable.

A site config never holds a secret, only where to find it. A `Secret` is that reference: it holds no
value, its repr and str name the source only, and `reveal()` reads the value when a client library
needs it (so a rotated file is picked up at the next connection). `check()` reads it once without
keeping it, which is what loading a config does to report a missing file or variable early.
Nothing here logs.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

SecretSource = Literal["file", "env"]


class SecretUnavailable(ValueError):
    """The secret's file or variable cannot be read; the message says what to do."""


class Secret:
    """Where a secret lives. `repr`/`str` show the source, never the value; `reveal()` reads it."""

    __slots__ = ("name", "source")

    def __init__(self, source: SecretSource, name: str | Path) -> None:
        if source not in ("file", "env"):
            raise ValueError(f"secret source {source!r}: use 'file' or 'env'")
        self.source: SecretSource = source
        self.name = str(name)  # the file path or the variable name

    @classmethod
    def from_file(cls, path: str | Path) -> Secret:
        return cls("file", path)

    @classmethod
    def from_env(cls, name: str) -> Secret:
        return cls("env", name)

    def reveal(self) -> str:
        """The value, read now. Raises SecretUnavailable."""
        return _read_file(Path(self.name)) if self.source == "file" else _read_env(self.name)

    def check(self) -> None:
        """Raise SecretUnavailable if the value cannot be read now; the value is not kept."""
        self.reveal()

    def __repr__(self) -> str:
        where = f"file {self.name}" if self.source == "file" else f"${self.name}"
        return f"<secret from {where}>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self.source, self.name) == (other.source, other.name)

    def __hash__(self) -> int:
        return hash((self.source, self.name))


def _read_file(path: Path) -> str:
    """The file's text without its trailing newline."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretUnavailable(f"{path} does not exist; create it (mode 600) holding only the "
                                "secret, or point to the right file") from None
    except PermissionError:
        raise SecretUnavailable(f"{path} is not readable by this user; give the gateway's user read "
                                "access (e.g. chown root:metergate, chmod 640)") from None
    except IsADirectoryError:
        raise SecretUnavailable(f"{path} is a directory; name the file holding the secret") from None
    except UnicodeDecodeError:
        raise SecretUnavailable(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise SecretUnavailable(f"{path} cannot be read: {exc.strerror or exc}") from None
    value = text.rstrip("\r\n")
    if not value:
        raise SecretUnavailable(f"{path} is empty; write the secret into it")
    return value


def _read_env(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise SecretUnavailable(f"environment variable {name} is not set; set it for the gateway "
                                "(Environment= or EnvironmentFile= in the systemd unit)")
    if not value:
        raise SecretUnavailable(f"environment variable {name} is empty")
    return value


def readable_by_others(path: str | Path) -> bool:
    """True when users other than the owner and group may read the file (a secret should not be)."""
    try:
        return bool(Path(path).stat().st_mode & stat.S_IROTH)
    except OSError:
        return False
