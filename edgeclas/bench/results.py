"""Reading a bench run's ``results.jsonl``: one JSON record per finished cell (docs/results-schema.md).

The runner appends the lines (:func:`edgeclas.fsutil.append_jsonl`, one write each); everything that
reads them (resume, import, report) reads through :func:`read_results`, which never needs the runner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["RESULTS_NAME", "read_results"]

RESULTS_NAME = "results.jsonl"


def read_results(path: str | Path, *, strict: bool = False) -> list[dict[str, Any]]:
    """Records of a results.jsonl; a final line cut by a kill is skipped (``strict`` raises instead)."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    records = []
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        last = i == len(lines)  # no newline after it: the write was cut short
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if last and not strict:
                continue
            raise ConfigError(f"{path}:{i}: not a JSON line ({e})", hint="the file was edited or corrupted") from None
        if last and not strict:
            continue
        if not isinstance(rec, dict):
            raise ConfigError(f"{path}:{i}: not a JSON object")
        records.append(rec)
    return records
