"""Load a bench run and flatten its records into rows every report format shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bench.results import RESULTS_NAME, read_results
from ..bench.schema import validate_cell
from ..errors import ConfigError, ValidationError

__all__ = ["Row", "Run", "load_run", "speedups", "accuracy_flag", "stability_flags", "POWER_MODE_NAMES"]

POWER_MODE_NAMES = {0: "0 big", 1: "1 little", 2: "2 all", 3: "3 unbound"}


@dataclass(frozen=True)
class Row:
    """One cell of a run, with the fields reports show (``rec`` keeps the whole record)."""

    rec: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.rec["status"] == "ok"

    @property
    def device(self) -> str:
        d = self.rec["device"]
        return f"{d['model']} ({d['serial']})" if d.get("model") else d["serial"]

    @property
    def model(self) -> str:
        return self.rec["model"]["name"]

    @property
    def engine(self) -> str:
        return self.rec["settings"]["engine"]

    @property
    def threads(self) -> int:
        return self.rec["settings"]["threads"]

    @property
    def power_mode(self) -> int:
        return self.rec["settings"]["power_mode"]

    @property
    def lat(self) -> dict[str, Any] | None:
        return self.rec["latency_ms"]

    @property
    def p50(self) -> float | None:
        lat = self.lat
        if lat is None:
            return None
        return lat["p50"] if lat["p50"] is not None else lat["mean"]

    @property
    def p90(self) -> float | None:
        lat = self.lat
        if lat is None:
            return None
        return lat["p90"] if lat["p90"] is not None else lat["max"]

    @property
    def samples(self) -> list[float]:
        return list(self.lat["samples"]) if self.lat else []

    @property
    def cv(self) -> float | None:
        """Coefficient of variation (std / mean): how noisy the timed runs were."""
        lat = self.lat
        if not lat or lat["std"] is None or not lat["mean"]:
            return None
        return lat["std"] / lat["mean"]

    @property
    def drift(self) -> float | None:
        """Mean of the last quarter of the runs over the first quarter, minus 1: a hot SoC slowing down
        (thermal throttling) shows as a positive drift. Needs 8 samples."""
        xs = self.samples
        q = len(xs) // 4
        if q < 2:
            return None
        first, last = sum(xs[:q]) / q, sum(xs[-q:]) / q
        return last / first - 1.0 if first > 0 else None

    @property
    def group(self) -> tuple[str, str, str, int]:
        """Cells that differ only by threads (for speed-up curves)."""
        return (self.device, self.model, self.engine, self.power_mode)

    @property
    def match_key(self) -> tuple[str, str, str, int, int]:
        """What identifies "the same cell" across two runs: a new model build is compared with the old one."""
        return (self.rec["device"]["serial"], self.model, self.engine, self.threads, self.power_mode)

    def label(self) -> str:
        return f"{self.model} {self.engine} t{self.threads} {POWER_MODE_NAMES.get(self.power_mode, self.power_mode)}"


@dataclass
class Run:
    path: Path
    rows: list[Row]
    superseded: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok_rows(self) -> list[Row]:
        return [r for r in self.rows if r.ok]

    @property
    def error_rows(self) -> list[Row]:
        return [r for r in self.rows if not r.ok]

    def devices(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for r in self.rows:
            seen.setdefault(r.rec["device"]["serial"], r.rec["device"])
        return list(seen.values())


def load_run(run_dir: str | Path) -> Run:
    """Records of ``run_dir/results.jsonl`` (or a results file given directly), last record per key wins.

    Invalid records are an error naming the line: a report must not silently drop cells.
    """
    path = Path(run_dir)
    results = path / RESULTS_NAME if path.is_dir() else path
    if not results.is_file():
        raise ConfigError(
            f"{path}: no {RESULTS_NAME} here; not a bench run directory",
            hint="make one with: edgeclas bench --devices … --model … --out RUN_DIR",
        )
    records = read_results(results)
    if not records:
        raise ValidationError(f"{results}: holds no finished cell yet", hint="run (or --resume) edgeclas bench first")
    by_key: dict[str, dict[str, Any]] = {}
    for i, rec in enumerate(records, start=1):
        problems = validate_cell(rec)
        if problems:
            raise ValidationError(
                f"{results}: record {i} does not follow the results schema: {'; '.join(problems[:4])}",
                hint="see docs/results-schema.md",
            )
        by_key.pop(rec["key"], None)  # re-insert so a retried cell takes the later position
        by_key[rec["key"]] = rec
    rows = [Row(r) for r in by_key.values()]
    rows.sort(key=lambda r: (r.device, r.model, r.engine, r.power_mode, r.threads))
    return Run(path=results.parent, rows=rows, superseded=len(records) - len(by_key))


def speedups(run: Run) -> dict[tuple[str, str, str, int], list[tuple[int, float, float]]]:
    """Per (device, model, engine, power mode): ``(threads, p50, speed-up vs the fewest threads)``."""
    groups: dict[tuple[str, str, str, int], list[Row]] = {}
    for r in run.ok_rows:
        groups.setdefault(r.group, []).append(r)
    out = {}
    for g, rows in groups.items():
        rows.sort(key=lambda r: r.threads)
        base = rows[0].p50
        assert base is not None
        out[g] = [(r.threads, r.p50, base / r.p50 if r.p50 else float("nan")) for r in rows]  # type: ignore[operator]
    return out


def accuracy_flag(row: Row, tol: float = 1e-3) -> bool:
    """True when the device disagrees with the host reference: a fast but wrong build."""
    acc = row.rec["accuracy"]
    return bool(acc) and (acc["top1_agreement"] < 1.0 or acc["max_abs_dprob"] > tol)


NOISY_CV = 0.10
DRIFT_LIMIT = 0.10


def stability_flags(row: Row) -> list[str]:
    """Why a cell's numbers deserve less trust: noisy runs, or latency growing during the cell."""
    flags = []
    if row.cv is not None and row.cv > NOISY_CV:
        flags.append(f"noisy (CV {row.cv:.0%})")
    if row.drift is not None and row.drift > DRIFT_LIMIT:
        flags.append(f"slowing down (+{row.drift:.0%} last vs first quarter: throttling?)")
    return flags
