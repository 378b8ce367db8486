"""Problems found in a site config, each with file, line and key, collected so all are reported at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from core.errors import MetergateError
from core.toml_lines import KeyPath, key_lines, line_of

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: `file:line: key: what is wrong; what to do`."""

    file: str
    line: int | None
    key: str  # e.g. "meters[3] (id 'b1-main').profile"; "" for the whole file
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "key": self.key, "message": self.message,
                "severity": self.severity}


class ConfigError(MetergateError):
    """A site config cannot be used; `problems` lists every error found, each naming file, line and key."""

    def __init__(self, path: str, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.path = path
        self.problems = problems
        self.warnings = warnings or []
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s) in site config\n{lines}")


class Findings:
    """Collects errors and warnings for one file, placing each at the line of its key."""

    def __init__(self, file: str, text: str, raw: dict[str, Any]) -> None:
        self.file = file
        self.raw = raw
        self.lines = key_lines(text)
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, path: KeyPath, message: str) -> None:
        self.errors.append(self._problem(path, message, "error"))

    def warn(self, path: KeyPath, message: str) -> None:
        self.warnings.append(self._problem(path, message, "warning"))

    def _problem(self, path: KeyPath, message: str, severity: Severity) -> Problem:
        return Problem(self.file, line_of(self.lines, path), self.label(path), message, severity)

    def label(self, path: KeyPath) -> str:
        """('meters', 3, 'poll', 1, 'quantities') -> "meters[3] (id 'b1-main').poll[1].quantities"."""
        text = ""
        node: Any = self.raw
        for part in path:
            if isinstance(part, int):
                text += f"[{part}]"
                node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    text += f" (id {node['id']!r})"
            else:
                text += f".{part}" if text else part
                node = node.get(part) if isinstance(node, dict) else None
        return text
