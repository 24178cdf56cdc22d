from __future__ import annotations

import copy
from pathlib import Path

import pytest

from edgeclas.bench.schema import check_cell, field_paths, validate_cell
from edgeclas.errors import ValidationError

DOC = Path(__file__).resolve().parents[1] / "docs" / "results-schema.md"


def test_valid_records(cell_record):
    assert validate_cell(cell_record()) == []
    assert validate_cell(cell_record(status="error")) == []


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda r: r.pop("device"), "device: missing"),
        (lambda r: r["settings"].update(threads="2"), "settings.threads: expected int, got str"),
        (lambda r: r["settings"].update(threads=True), "settings.threads: expected int, got bool"),
        (lambda r: r.update(status="done"), "status: 'done' is not one of ok, error"),
        (lambda r: r["latency_ms"].update(p50=None, mean=None), "latency_ms.mean: must not be null"),
        (lambda r: r["device"]["cpu_clusters"][1].update(cores=[0, "1"]), "device.cpu_clusters[1].cores[1]: expected int"),
        (lambda r: r.update(extra=1), "extra: unknown key"),
        (lambda r: r.update(latency_ms=None), "latency_ms: must be present when status is ok"),
        (lambda r: r.update(error={"type": "X", "message": "m", "hint": None}), "error: must be null when status is ok"),
        (lambda r: r["latency_ms"].update(n=3), "latency_ms.n: 3 but 20 samples"),
        (lambda r: r.update(schema=2), "schema: version 2 is not 1"),
    ],
)
def test_each_problem_is_named(cell_record, mutate, expected):
    rec = copy.deepcopy(cell_record())
    mutate(rec)
    problems = validate_cell(rec)
    assert any(expected in p for p in problems), problems
    with pytest.raises(ValidationError, match="not a valid bench result"):
        check_cell(rec)


def test_error_status_needs_a_reason(cell_record):
    rec = cell_record(status="error")
    rec["error"] = None
    assert "error: must say why when status is error" in validate_cell(rec)


def test_docs_list_every_field():
    text = DOC.read_text(encoding="utf-8")
    missing = [p for p, _ in field_paths() if f"`{p}`" not in text]
    assert not missing, f"docs/results-schema.md lacks {missing}"
