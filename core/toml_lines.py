"""Line numbers of keys in a TOML text, because tomllib reports none once a file has parsed.

`key_lines(text)` scans the text once and maps every key path it meets to the line where it starts:
('site', 'id'), ('meters', 3) for the 4th `[[meters]]` header, ('meters', 3, 'poll', 1, 'interval') for a
key inside the 2nd inline table of a `poll = [...]` array, and so on. `line_of(lines, path)` answers
with the longest known prefix of a path, so a missing key points at its table's header.

The scanner only needs to follow structure (headers, keys, brackets, braces, strings and comments); it
is run on text tomllib has already accepted, and gives up quietly (keeping what it found) otherwise.
Shared by the profile loader (drivers/profiles.py) and the config loaders (core/toml_lines.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

KeyPath = tuple[str | int, ...]

_SPECIAL = set("[]{}=,.#\"'\n")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # one of [ ] { } = , . NL WORD STR
    text: str
    line: int
    pos: int


def _tokens(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            toks.append(_Tok("NL", c, line, i))
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "\"'":
            start, start_line = i, line
            triple = text.startswith(c * 3, i)
            quote = c * 3 if triple else c
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                if text[i] == "\\" and c == '"':
                    i += 1
                if i < n and text[i] == "\n":
                    line += 1
                i += 1
            i += len(quote)
            while triple and i < n and text[i] == c:  # up to two quotes may close a """ string
                i += 1
            toks.append(_Tok("STR", _unquote(text[start:i], quote), start_line, start))
        elif c in _SPECIAL:
            toks.append(_Tok(c, c, line, i))
            i += 1
        else:
            start = i
            while i < n and text[i] not in _SPECIAL and text[i] not in " \t\r":
                i += 1
            toks.append(_Tok("WORD", text[start:i], line, start))
    return toks


def _unquote(raw: str, quote: str) -> str:
    body = raw[len(quote) : len(raw) - len(quote)]
    if quote == '"':
        body = body.replace('\\"', '"').replace("\\\\", "\\")
    return body


class _Scanner:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.lines: dict[KeyPath, int] = {}
        self.array_tables: dict[KeyPath, int] = {}  # resolved path of [[x]] -> last index

    def peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def note(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    def run(self) -> None:
        table: KeyPath = ()
        while (tok := self.peek()) is not None:
            if tok.kind == "NL":
                self.i += 1
            elif tok.kind == "[":
                table = self.header()
            else:
                self.keyval(table)

    def header(self) -> KeyPath:
        first = self.take()
        nxt = self.peek()
        is_array = nxt is not None and nxt.kind == "[" and nxt.pos == first.pos + 1
        if is_array:
            self.i += 1
        keys = self.dotted_key()
        self.take()  # ]
        if is_array:
            self.take()  # ]
        # a table header names a key of the current element of any array of tables on its path
        resolved = (*self.resolve(keys[:-1]), keys[-1])
        if is_array:
            index = self.array_tables.get(resolved, -1) + 1
            self.array_tables[resolved] = index
            self.note(resolved, first.line)
            resolved = (*resolved, index)
        self.note(resolved, first.line)
        return resolved

    def resolve(self, keys: Sequence[str]) -> KeyPath:
        """['meters', 'poll'] -> ('meters', 3, 'poll') when [[meters]] #3 is the current one."""
        path: KeyPath = ()
        for key in keys:
            path = (*path, key)
            if path in self.array_tables:
                path = (*path, self.array_tables[path])
        return path

    def dotted_key(self) -> list[str]:
        keys = [self.take().text]
        while (tok := self.peek()) is not None and tok.kind == ".":
            self.i += 1
            keys.append(self.take().text)
        return keys

    def keyval(self, base: KeyPath) -> None:
        line = self.peek().line  # type: ignore[union-attr]
        keys = self.dotted_key()
        path = (*base, *keys)
        self.note(path, line)
        self.take()  # =
        self.value(path)

    def value(self, path: KeyPath) -> None:
        tok = self.peek()
        if tok is None:
            return
        if tok.kind == "[":
            self.array(path)
        elif tok.kind == "{":
            self.inline_table(path)
        else:  # a scalar: one token, or a date-time with a space (two words)
            self.i += 1
            while (t := self.peek()) is not None and t.kind in ("WORD", "."):
                self.i += 1

    def array(self, path: KeyPath) -> None:
        self.take()  # [
        index = 0
        while (tok := self.peek()) is not None:
            if tok.kind in ("NL", ","):
                if tok.kind == ",":
                    index += 1
                self.i += 1
            elif tok.kind == "]":
                self.i += 1
                return
            else:
                self.note((*path, index), tok.line)
                self.value((*path, index))

    def inline_table(self, path: KeyPath) -> None:
        self.take()  # {
        while (tok := self.peek()) is not None:
            if tok.kind in ("NL", ","):
                self.i += 1
            elif tok.kind == "}":
                self.i += 1
                return
            else:
                self.keyval(path)


def key_lines(text: str) -> dict[KeyPath, int]:
    """Key path -> 1-based line where that key (or array element, or table header) starts."""
    scanner = _Scanner(text)
    with contextlib.suppress(IndexError, AttributeError):  # malformed text: keep what was found
        scanner.run()
    return scanner.lines


def line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """The line of `path`, else of its longest known prefix (a missing key: its table's header)."""
    for end in range(len(path), 0, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None
