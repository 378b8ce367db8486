"""docs/mqtt.md read as data: its topic tables, field tables and JSON examples, and the JSON Schemas'
fields in the same notation, so tests can hold the page and the schemas (core/contract/schemas/) to
each other and classify what a broker delivers by the documented topics.

Notation of the page (explained at its top): a field table follows a line "Fields of `SCHEMA-ID`:"
and has the columns field | type | meaning; `a.b` is a field of object `a`, `a[]` an item of array
`a`, `{name}` a key chosen by the data; the type cell is "[optional ]TYPE[ or TYPE...]", or one
such type per field (comma-separated) when a row names several fields. A JSON example is a ```json
block right after a line holding only its topic in backticks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MQTT_MD = ROOT / "docs" / "mqtt.md"
SCHEMAS = ROOT / "core" / "contract" / "schemas"
JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_BRACED = re.compile(r"\{[^}]*\}")


@dataclass(frozen=True)
class FieldRow:
    schema_id: str
    path: str  # normalised: every {name} is {}
    types: frozenset[str]
    optional: bool
    line: int


@dataclass(frozen=True)
class TopicRow:
    template: str
    schema_id: str
    qos: str
    retained: str
    line: int

    def regex(self, values: dict[str, str]) -> re.Pattern[str]:
        """The template as a pattern: placeholders named in `values` are those literal texts, any
        other one level of 1-128 characters."""
        out, pos = "", 0
        for m in _BRACED.finditer(self.template):
            out += re.escape(self.template[pos:m.start()])
            name = m.group()[1:-1]
            out += re.escape(values[name]) if name in values else r"[^/]{1,128}"
            pos = m.end()
        return re.compile(out + re.escape(self.template[pos:]))

    @property
    def literal_chars(self) -> int:
        return len(_BRACED.sub("", self.template))


@dataclass(frozen=True)
class Example:
    topic: str
    body: str
    line: int


def schema_name(schema_id: str) -> str:
    """'metergate.dead-letter/1' -> 'dead-letter' (the file schemas/dead-letter.json)."""
    m = re.fullmatch(r"metergate\.([a-z-]+)/1", schema_id)
    if m is None:
        raise ValueError(f"{schema_id!r} is not a metergate schema id")
    return m.group(1)


def schema_files() -> dict[str, dict[str, Any]]:
    """schema id (its title) -> the schema, for every file in core/contract/schemas/."""
    out = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        doc = json.loads(path.read_text("utf-8"))
        assert schema_name(doc["title"]) == path.stem, f"{path.name}: title {doc['title']!r}"
        out[doc["title"]] = doc
    return out


# -- the page --------------------------------------------------------------------------------------

def _lines_outside_code(text: str) -> list[tuple[int, str]]:
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def _tables(text: str) -> list[tuple[int, list[str], list[tuple[int, list[str]]], str]]:
    """(line, header cells, [(line, cells)], the nearest non-empty line above the table)."""
    tables: list[tuple[int, list[str], list[tuple[int, list[str]]], str]] = []
    above, current = "", None
    for number, line in _lines_outside_code(text):
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if current is None:
                current = (number, cells, [], above)
                tables.append(current)
            elif not all(set(c) <= set("-: ") for c in cells):
                current[2].append((number, cells))
            continue
        current = None
        if line.strip():
            above = line.strip()
    return tables


def _types(cell: str) -> frozenset[str]:
    names = frozenset(t.strip() for t in cell.split(" or "))
    unknown = names - JSON_TYPES
    if unknown:
        raise ValueError(f"type {cell!r}: {', '.join(sorted(unknown))} is not a JSON type")
    return names


def normalise(path: str) -> str:
    return _BRACED.sub("{}", path)


@cache
def field_rows(path: Path = MQTT_MD) -> tuple[FieldRow, ...]:
    rows = []
    for line, header, body, above in _tables(path.read_text("utf-8")):
        if [h.lower() for h in header] != ["field", "type", "meaning"]:
            continue
        marker = re.fullmatch(r"Fields of `([^`]+)`:", above)
        if marker is None:
            raise AssertionError(f"{path.name}:{line}: a field table must follow 'Fields of `SCHEMA-ID`:'")
        for number, cells in body:
            names = re.findall(r"`([^`]+)`", cells[0])
            type_cell = cells[1]
            optional = type_cell.startswith("optional ")
            type_cell = type_cell.removeprefix("optional ")
            per_field = [t.strip() for t in type_cell.split(",")]
            if len(per_field) == 1:
                per_field *= len(names)
            if not names or len(per_field) != len(names):
                raise AssertionError(f"{path.name}:{number}: {len(names)} field(s), {len(per_field)} type(s)")
            for name, types in zip(names, per_field, strict=True):
                rows.append(FieldRow(marker.group(1), normalise(name), _types(types), optional, number))
    return tuple(rows)


@cache
def topic_rows(path: Path = MQTT_MD) -> tuple[TopicRow, ...]:
    rows = []
    for _line, header, body, _above in _tables(path.read_text("utf-8")):
        if [h.lower() for h in header] != ["topic", "what", "qos", "retained", "schema"]:
            continue
        for number, cells in body:
            template = re.match(r"`([^`]+)`", cells[0])
            schema_id = re.search(r"`(metergate\.[a-z-]+/1)`", cells[4])
            if template is None or schema_id is None:
                raise AssertionError(f"{path.name}:{number}: a topic row starts with the topic template "
                                     "and names its schema id, both in backticks")
            rows.append(TopicRow(template.group(1), schema_id.group(1), cells[2], cells[3], number))
    return tuple(rows)


def examples(path: Path = MQTT_MD) -> list[Example]:
    """Every ```json block, with the topic on the line just above it ('' if there is none)."""
    lines = path.read_text("utf-8").splitlines()
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```json":
            start = i
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            above = re.fullmatch(r"`([^`\s]+)`", lines[start - 1].strip()) if start else None
            out.append(Example(above.group(1) if above else "", "\n".join(lines[start + 1:j]), start + 1))
            i = j
        i += 1
    return out


def classify(topic: str, values: dict[str, str]) -> TopicRow | None:
    """The documented topic row `topic` falls under (the most literal one when several match)."""
    hits = [row for row in topic_rows() if row.regex(values).fullmatch(topic)]
    return max(hits, key=lambda r: r.literal_chars) if hits else None


# -- the schemas, in the page's notation -----------------------------------------------------------

def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _node_types(node: dict[str, Any]) -> frozenset[str]:
    if "type" in node:
        t = node["type"]
        return frozenset([t] if isinstance(t, str) else t)
    if "const" in node:
        return frozenset({_json_type(node["const"])})
    if "enum" in node:
        return frozenset(_json_type(v) for v in node["enum"])
    return frozenset()


def schema_fields(schema: dict[str, Any]) -> dict[str, tuple[frozenset[str], bool | None]]:
    """path -> (JSON types, required: True/False, or None for map entries and array items)."""
    out: dict[str, tuple[frozenset[str], bool | None]] = {}

    def walk(node: dict[str, Any], path: str, required: bool | None) -> None:
        node = _resolve(node, schema)
        if path:
            out[path] = (_node_types(node), required)
        props: dict[str, Any] = node.get("properties", {})
        needed = set(node.get("required", []))
        for name, sub in props.items():
            walk(sub, f"{path}.{name}" if path else name, name in needed)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for name in sorted(needed - props.keys()):  # a required key of a map: {"total": ...}
                walk(extra, f"{path}.{name}", True)
            walk(extra, f"{path}.{{}}", None)
        items = node.get("items")
        if isinstance(items, dict):
            walk(items, f"{path}[]", None)

    walk(schema, "", None)
    return out
