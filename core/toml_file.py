"""One TOML reader for every config (site, ingest, analytics): the text and table of a file, and
pydantic validation turned into problems with file, line and key ("unknown key; did you mean ...")."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core.model_paths import model_of
from core.problems import ConfigError, Findings, Problem
from core.toml_lines import KeyPath

M = TypeVar("M", bound=BaseModel)
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def by_line(problems: list[Problem]) -> list[Problem]:
    """In file order; problems without a line first (they concern the whole file or a missing table)."""
    return sorted(problems, key=lambda p: p.line or 0)


def read_toml(path: Path, error: type[ConfigError] = ConfigError) -> tuple[str, dict[str, Any]]:
    """The text and table of a TOML config file; `error` naming the file (and line) if it cannot be
    read or parsed. Shared by every config loader (site, ingest)."""
    def fail(message: str, line: int | None = None) -> ConfigError:
        return error(str(path), [Problem(str(path), line, "", message)])

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text: {exc.reason}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_POSITION.search(str(exc))
        line = int(m.group(1)) if m else None
        raise fail(f"not valid TOML: {exc}; fix the syntax (strings in quotes, one key per line, "
                   "inline tables on one line)", line) from None


def check_model(model: type[M], data: dict[str, Any], path: KeyPath, f: Findings) -> M | None:
    """`model` validated from `data`, with one problem per wrong key.

    When some keys are wrong, the table is validated again without them: if the keys left suffice
    (the wrong ones have defaults), that model is returned so its meaning can still be checked (the
    problems already recorded keep the whole config from loading). Else None."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        seen: set[KeyPath] = set()
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
            key = (*path, *loc)
            if key not in seen:
                seen.add(key)
                f.error(key, _describe(err, model, loc))
        wrong = {err["loc"][0] for err in exc.errors() if err["loc"]}
    try:
        return model.model_validate({k: v for k, v in data.items() if k not in wrong})
    except ValidationError:
        return None


def _is_union_tag(part: str | int) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "float", "bool"))


def _describe(err: Any, model: type[BaseModel], loc: Sequence[str | int]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return unknown_key(str(loc[-1]), _allowed_keys(model, loc))
    if kind == "missing":
        return f"required key is missing; add `{loc[-1]} = ...`"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return msg
    value = err.get("input")
    hint = ""
    if kind in ("int_type", "float_type", "bool_type") and isinstance(value, str):
        hint = "; write numbers and true/false without quotes"
    return f"{msg} (got {value!r}){hint}"


def unknown_key(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; allowed here: {', '.join(allowed)}"


def _allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fld = current.model_fields.get(part) if current is not None else None
        if fld is None and current is not None:
            continue  # a key of a dict of tables (an overrides' quantity): the same model
        current = model_of(fld.annotation) if fld is not None else None
    return list(current.model_fields) if current is not None else []
