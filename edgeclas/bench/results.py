"""Reading a bench run's ``results.jsonl``: one JSON record per finished cell (docs/results-schema.md).

The runner appends the lines (:func:`edgeclas.fsutil.append_jsonl`, one write each); everything that
reads them (resume, import, report) reads through :func:`scan_results`, which never needs the runner.

A power cut or a full disk can leave a **torn** line: a record cut short, and (with an edgeclas that
appended onto it) the next record glued to its end. Such lines never make a run unreadable: readers
skip them and say so, and :func:`set_aside_torn` — called before anything is appended — moves them to
``results.jsonl.torn`` (kept, byte for byte) and rewrites ``results.jsonl`` without them, salvaging a
whole record glued to a torn one; the cells they were are then simply not done, and ``--resume``
runs them again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_bytes

__all__ = ["RESULTS_NAME", "TORN_SUFFIX", "TornLine", "ResultsScan", "scan_results", "read_results", "set_aside_torn"]

RESULTS_NAME = "results.jsonl"
TORN_SUFFIX = ".torn"


@dataclass(frozen=True)
class TornLine:
    """A line of results.jsonl that is not a whole JSON record (its bytes, and where it was)."""

    line: int  # 1-based line number in the file as it was read
    data: bytes
    salvaged: bool = False  # a whole record followed the torn bytes on the same line and was kept

    def describe(self) -> str:
        return f"line {self.line} ({len(self.data)} bytes{', a record after it kept' if self.salvaged else ''})"


@dataclass
class ResultsScan:
    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    torn: list[TornLine] = field(default_factory=list)
    good_lines: list[bytes] = field(default_factory=list, repr=False)  # each record's own bytes

    def warning(self) -> str | None:
        """One line for the user, or None when every line was a record."""
        if not self.torn:
            return None
        where = ", ".join(t.describe() for t in self.torn[:3]) + (" …" if len(self.torn) > 3 else "")
        return (f"{self.path}: {len(self.torn)} torn line(s) skipped ({where}): a write cut short by a kill, "
                "power cut or full disk; their cells count as not done")


def _salvage(raw: bytes) -> tuple[bytes, bytes, dict[str, Any]] | None:
    """(torn bytes, record bytes, record) when a whole JSON object ends the line after a torn record."""
    decoder = json.JSONDecoder()
    text = raw.rstrip().decode("utf-8", "surrogateescape")  # offsets map back to the same bytes
    start = text.find("{", 1)
    while start != -1:
        try:
            obj, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            obj, end = None, -1
        if isinstance(obj, dict) and end == len(text):
            return (text[:start].encode("utf-8", "surrogateescape"), text[start:].encode("utf-8", "surrogateescape"),
                    obj)
        start = text.find("{", start + 1)
    return None


def scan_results(path: str | os.PathLike[str]) -> ResultsScan:
    """Every record of a results.jsonl, and the torn lines (never an error: a torn line is skipped)."""
    path = Path(path)
    scan = ResultsScan(path)
    if not path.exists():
        return scan
    for i, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            rec = None
        if isinstance(rec, dict):
            scan.records.append(rec)
            scan.good_lines.append(raw)
            continue
        found = _salvage(raw) if rec is None else None
        if found is not None:
            torn, good, rec = found
            scan.torn.append(TornLine(i, torn, salvaged=True))
            scan.records.append(rec)
            scan.good_lines.append(good)
        else:
            scan.torn.append(TornLine(i, raw))
    return scan


def read_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a results.jsonl (torn lines skipped; :func:`scan_results` says which)."""
    return scan_results(path).records


def set_aside_torn(path: str | os.PathLike[str]) -> ResultsScan:
    """Move torn lines to ``results.jsonl.torn`` (appended, byte for byte) and rewrite ``results.jsonl``
    atomically with the records only, so the next append starts on a line of its own. Returns the scan."""
    path = Path(path)
    scan = scan_results(path)
    if scan.torn:
        torn_path = path.with_name(path.name + TORN_SUFFIX)
        kept = torn_path.read_bytes() if torn_path.exists() else b""
        atomic_write_bytes(torn_path, kept + b"".join(t.data + b"\n" for t in scan.torn))
        atomic_write_bytes(path, b"".join(line + b"\n" for line in scan.good_lines))
    return scan
