"""The files of a scheduled report: their names, and writing them atomically.

    names = report_names("campus-a", "2025-03", None, ("pdf", "xlsx"))   # campus-a-2025-03.pdf, …
    with AtomicFiles(folder, names) as temp:     # temp: format -> a hidden temporary path
        render(temp)                             # writes every format
    # on success every file is fsynced and renamed into place; on an error none is, and the
    # temporary files are removed

A reader of the folder never sees a half-written report: each file appears whole, by rename(2) in
the same folder, and not before every format of the report rendered.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

# characters that cannot or should not be in a file name: separators, control characters, spaces
_UNSAFE = re.compile(r"[\\/\x00-\x1f\x7f\s]+")


def report_names(site: str, period: str, institution: str | None, formats: Sequence[str]) -> dict[str, str]:
    """format -> file name: `<site>-<period>.<ext>`, or `<site>-<institution>-<period>.<ext>`."""
    middle = f"-{_UNSAFE.sub('_', institution)}" if institution else ""
    return {fmt: f"{site}{middle}-{period}.{fmt}" for fmt in formats}


class AtomicFiles:
    def __init__(self, folder: Path, names: Mapping[str, str]) -> None:
        self.folder = folder
        self.final = {fmt: folder / name for fmt, name in names.items()}
        self.temp = {fmt: folder / f".{name}.{os.getpid()}.tmp" for fmt, name in names.items()}

    def __enter__(self) -> dict[str, Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        return dict(self.temp)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            try:
                for fmt, tmp in self.temp.items():
                    if not tmp.is_file():
                        raise OSError(f"{tmp.name}: the {fmt} renderer wrote no file")
                    with tmp.open("rb") as f:
                        os.fsync(f.fileno())  # the data on disk before the name points at it
                for fmt, tmp in self.temp.items():
                    os.replace(tmp, self.final[fmt])
                _fsync_dir(self.folder)
                return
            except BaseException:
                self._remove()
                raise
        self._remove()

    def _remove(self) -> None:
        for tmp in self.temp.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["AtomicFiles", "report_names"]
