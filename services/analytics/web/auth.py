"""The dashboard's users: a TOML file of names and scrypt password hashes, and checking a login.

    [users.wang]
    hash = "scrypt$16384$8$1$<salt, base64>$<key, base64>"

scrypt from the standard library (hashlib.scrypt, RFC 7914) with n=2^14, r=8, p=1 (16 MiB, about
50 ms a check): no dependency, and memory-hard. The file is read at every login, so a user added with
`metergate web-user add` can log in without a restart. Imports no web library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import tomllib
from functools import cache
from pathlib import Path

N, R, P, KEY_BYTES, SALT_BYTES = 2**14, 8, 1, 32, 16
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
MIN_PASSWORD = 10


class UsersFileError(ValueError):
    """The users file cannot be read or has a bad entry; the message names the file and user."""


def hash_password(password: str, *, n: int = N) -> str:
    salt = os.urandom(SALT_BYTES)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=R, p=P, dklen=KEY_BYTES, maxmem=64 * 2**20)
    return f"scrypt${n}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, key = stored.split("$")
        if algo != "scrypt":
            return False
        want = base64.b64decode(key)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(want), maxmem=64 * 2**20)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


@cache
def _dummy() -> str:
    """Checked when the name is unknown, so that a wrong name takes as long as a wrong password."""
    return hash_password("not a password")


def load_users(path: Path) -> dict[str, str]:
    """name -> stored hash."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsersFileError(f"{path}: cannot read the users file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsersFileError(f"{path}: not TOML: {exc}") from None
    users = data.get("users", {})
    if not isinstance(users, dict):
        raise UsersFileError(f"{path}: users: give one [users.NAME] table per user")
    out: dict[str, str] = {}
    for name, entry in users.items():
        h = entry.get("hash") if isinstance(entry, dict) else None
        if not NAME.fullmatch(name) or not isinstance(h, str) or not h.startswith("scrypt$"):
            raise UsersFileError(f"{path}: users.{name}: give a name of letters, digits, _.@- and "
                                 "hash = \"scrypt$...\" (metergate web-user add)")
        out[name] = h
    return out


def check_login(path: Path, name: str, password: str) -> bool:
    try:
        stored = load_users(path).get(name)
    except UsersFileError:
        stored = None
    return verify_password(password, stored or _dummy()) and stored is not None


def add_user(path: Path, name: str, password: str) -> bool:
    """Add or replace `name` (True if it was new); the file is written whole, mode 0600."""
    if not NAME.fullmatch(name):
        raise UsersFileError(f"{name!r}: a user name is 1-64 letters, digits and _.@- (starting with a "
                             "letter or digit)")
    if len(password) < MIN_PASSWORD:
        raise UsersFileError(f"a password needs at least {MIN_PASSWORD} characters")
    users = load_users(path) if path.exists() else {}
    new = name not in users
    users[name] = hash_password(password)
    text = "# metergate dashboard users (metergate web-user add); hashes only, never passwords\n"
    text += "".join(f'\n[users."{n}"]\nhash = "{h}"\n' for n, h in sorted(users.items()))
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)
    return new


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


__all__ = ["MIN_PASSWORD", "UsersFileError", "add_user", "check_login", "hash_password", "load_users",
           "verify_password"]
