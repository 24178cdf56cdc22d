"""Run a benchmark matrix: one worker thread per device, cells on a device one after another.

Durability: each finished cell is appended at once to ``RUN_DIR/results.jsonl`` (one ``write`` of
one line, fsync'd), so killing the process at any moment loses at most the cell in progress, and
``resume=True`` skips every key already recorded. A failing cell becomes a record with
``status: "error"`` and the device's next cell runs.

Sharing phones: each worker holds its device's :class:`edgeclas.device.lock.device_lock` for the whole
run, so two edgeclas processes (two users, two CI jobs) never benchmark on the same phone at once; the
second waits up to ``lock_timeout_s``.

How a cell is actually run is injected: ``session_factory(serial)`` returns a :class:`DeviceSession`
(the real one deploys through :mod:`edgeclas.deploy`; tests can pass their own).
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

from .. import __version__, targets
from ..device.lock import device_lock
from ..errors import ConfigError, EdgeclasError
from ..fsutil import append_jsonl
from ..manifest import utc_now
from ..paths import tree_root
from .matrix import Cell
from .results import RESULTS_NAME, read_results
from .schema import SCHEMA_VERSION, validate_cell

__all__ = [
    "DeviceSession",
    "MatrixResult",
    "git_state",
    "run_matrix",
]


class DeviceSession(Protocol):
    """What the runner needs from a device: its environment once, then one call per cell."""

    def environment(self) -> dict[str, Any]:
        """The ``device`` section of a record (serial, model, soc, abi, versions, cpu_clusters)."""
        ...

    def run_cell(self, cell: Cell) -> dict[str, Any]:
        """Run one cell; return the record sections it measured: ``build``, ``latency_ms``,
        ``peak_rss_kb``, ``affinity``, ``accuracy`` (and optionally ``model`` fields to add).
        Raise an :class:`EdgeclasError` on failure."""
        ...

    def close(self) -> None: ...


@dataclass
class MatrixResult:
    run_dir: Path
    total: int
    ran: int = 0
    skipped: int = 0
    errors: int = 0
    device_failures: dict[str, str] = field(default_factory=dict)

    @property
    def results_path(self) -> Path:
        return self.run_dir / RESULTS_NAME


_git_cache: dict[str, Any] | None = None


def git_state() -> dict[str, Any]:
    """``{"version", "git_commit", "git_dirty"}`` of the edgeclas source tree (nulls outside a checkout)."""
    global _git_cache
    if _git_cache is None:
        root = tree_root()
        commit: str | None = None
        dirty: bool | None = None
        if (root / ".git").exists():
            try:
                commit = subprocess.run(
                    ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20, check=True
                ).stdout.strip() or None
                status = subprocess.run(
                    ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                    capture_output=True, text=True, timeout=20, check=True,
                ).stdout
                dirty = bool(status.strip())
            except (OSError, subprocess.SubprocessError):
                commit, dirty = None, None
        _git_cache = {"version": __version__, "git_commit": commit, "git_dirty": dirty}
    return dict(_git_cache)


def _model_section(cell: Cell) -> dict[str, Any]:
    f = cell.model_file
    return {
        "name": cell.model.name,
        "arch": cell.model.arch,
        "dir": cell.model.dir,
        "file": f[0] if f else None,
        "format": targets.engine(cell.engine).model_format[0],
        "sha256": f[1] if f else None,
        "precision": cell.model.precision.get(cell.engine),
    }


def _bare_device(serial: str) -> dict[str, Any]:
    return {
        "serial": serial, "model": None, "manufacturer": None, "soc": None, "abi": None,
        "android_version": None, "sdk": None, "kernel": None, "cpu_clusters": [],
    }


def _error_section(e: BaseException) -> dict[str, Any]:
    if isinstance(e, EdgeclasError):
        return {"type": type(e).__name__, "message": e.message, "hint": e.hint}
    # Not a user error: keep the record (the matrix goes on) but say it is a bug to report.
    return {"type": type(e).__name__, "message": str(e) or repr(e), "hint": "unexpected error: please report it (run with --debug for a traceback)"}


def _record(
    cell: Cell,
    device: dict[str, Any],
    images: int,
    cooldown_s: float,
    started: str,
    duration_s: float,
    measured: dict[str, Any] | None,
    error: BaseException | None,
) -> dict[str, Any]:
    measured = dict(measured or {})
    model = _model_section(cell)
    model.update(measured.pop("model", {}) or {})
    rec: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "kind": "bench_cell",
        "key": cell.key,
        "status": "error" if error else "ok",
        "error": _error_section(error) if error else None,
        "source": "edgeclas",
        "started": started,
        "finished": utc_now(ms=True),
        "duration_s": round(duration_s, 3),
        "device": device,
        "build": measured.pop("build", None)
        or {"dir": None, "os": None, "abi": None, "engine": cell.engine, "engine_version": None,
            "compiler": None, "binary_sha256": None},
        "edgeclas": git_state(),
        "model": model,
        "settings": {
            "engine": cell.engine, "threads": cell.threads, "power_mode": cell.power_mode,
            "warmup": cell.warmup, "repeats": cell.repeats, "images": images, "cooldown_s": cooldown_s,
        },
        "latency_ms": measured.pop("latency_ms", None),
        "peak_rss_kb": measured.pop("peak_rss_kb", None),
        "affinity": measured.pop("affinity", None),
        "accuracy": measured.pop("accuracy", None),
    }
    rec.update(measured)  # anything left over is not in the schema: validation turns it into an error record
    return rec


def _fmt_eta(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class _Worker(threading.Thread):
    def __init__(self, serial: str, cells: list[Cell], ctx: "_Ctx") -> None:
        super().__init__(name=f"bench-{serial}", daemon=True)
        self.serial, self.cells, self.ctx = serial, cells, ctx

    def run(self) -> None:
        try:
            with device_lock(self.serial, self.ctx.lock_timeout_s):
                self._run_locked()
        except BaseException as e:  # noqa: BLE001 - reported per device, other devices go on
            with self.ctx.mutex:
                self.ctx.result.device_failures[self.serial] = _error_section(e)["message"]
            self.ctx.say(f"[{self.serial}] stopped: {_error_section(e)['message']}")

    def _run_locked(self) -> None:
        ctx, n = self.ctx, len(self.cells)
        session: DeviceSession | None = None
        device = _bare_device(self.serial)
        setup_error: BaseException | None = None
        try:
            session = ctx.session_factory(self.serial)
            device = session.environment()
        except Exception as e:  # noqa: BLE001 - every cell of this device is recorded as failed
            setup_error = e
        durations: list[float] = []
        try:
            for i, cell in enumerate(self.cells, start=1):
                if ctx.stop.is_set():
                    return
                if i > 1 and ctx.cooldown_s > 0:
                    time.sleep(ctx.cooldown_s)  # let the SoC cool down: thermal throttling skews later cells
                started, t0 = utc_now(ms=True), time.monotonic()
                measured, error = None, setup_error
                if error is None:
                    if cell.model_file is None:
                        row = targets.engine(cell.engine)
                        error = ConfigError(
                            f"{cell.model.dir}: model has no {row.format_label} for engine {cell.engine}",
                            hint=f"edgeclas convert {cell.model.dir} {row.convert}",
                        )
                    else:
                        try:
                            measured = session.run_cell(cell)  # type: ignore[union-attr]
                        except Exception as e:  # noqa: BLE001 - recorded, the matrix goes on
                            error = e
                dt = time.monotonic() - t0
                rec = _record(cell, device, ctx.images, ctx.cooldown_s, started, dt, measured, error)
                problems = validate_cell(rec)
                if problems:  # a session bug must not write an unreadable record
                    rec = _record(cell, device, ctx.images, ctx.cooldown_s, started, dt, None,
                                  ValueError("invalid record: " + "; ".join(problems[:5])))
                ctx.append(rec)
                durations.append(dt)
                eta = (sum(durations) / len(durations) + ctx.cooldown_s) * (n - i)
                ctx.say(f"[{self.serial}] cell {i}/{n} {cell.label()}: {_summary(rec)} (ETA {_fmt_eta(eta)})")
        finally:
            if session is not None:
                session.close()


def _summary(rec: dict[str, Any]) -> str:
    if rec["status"] != "ok":
        return f"error {rec['error']['type']}: {rec['error']['message']}"
    lat = rec["latency_ms"]
    mid = lat["p50"] if lat["p50"] is not None else lat["mean"]
    acc = rec["accuracy"]
    acc_s = f", top-1 agreement {acc['top1_agreement']:.0%}" if acc else ""
    return f"ok p50 {mid:.2f} ms{acc_s}"


@dataclass
class _Ctx:
    run_dir: Path
    session_factory: Callable[[str], DeviceSession]
    images: int
    cooldown_s: float
    lock_timeout_s: float
    progress: Callable[[str], None]
    result: MatrixResult
    mutex: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def append(self, rec: dict[str, Any]) -> None:
        with self.mutex:
            append_jsonl(self.run_dir / RESULTS_NAME, rec)
            self.result.ran += 1
            self.result.errors += rec["status"] != "ok"

    def say(self, line: str) -> None:
        with self.mutex:
            self.progress(line)


def _by_device(cells: Sequence[Cell]) -> Iterator[tuple[str, list[Cell]]]:
    groups: dict[str, list[Cell]] = {}
    for c in cells:
        groups.setdefault(c.device, []).append(c)
    yield from groups.items()


def run_matrix(
    cells: Sequence[Cell],
    run_dir: str | Path,
    session_factory: Callable[[str], DeviceSession],
    *,
    images: int,
    resume: bool = False,
    retry_errors: bool = False,
    cooldown_s: float = 0.0,
    lock_timeout_s: float = 600.0,
    progress: Callable[[str], None] = print,
) -> MatrixResult:
    """Run every cell not yet recorded in ``run_dir/results.jsonl``; devices in parallel."""
    run_dir = Path(run_dir)
    results_path = run_dir / RESULTS_NAME
    existing = read_results(results_path)
    if existing and not resume:
        raise ConfigError(
            f"{results_path}: already holds {len(existing)} result(s)",
            hint="pass --resume to continue that run, or choose another --out",
        )
    done = {r.get("key") for r in existing if r.get("status") == "ok" or not retry_errors}
    todo = [c for c in cells if c.key not in done]
    result = MatrixResult(run_dir=run_dir, total=len(cells), skipped=len(cells) - len(todo))
    if result.skipped:
        progress(f"resume: {result.skipped} of {len(cells)} cell(s) already done in {results_path}")
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = _Ctx(run_dir, session_factory, images, cooldown_s, lock_timeout_s, progress, result)
    workers = [_Worker(serial, group, ctx) for serial, group in _by_device(todo)]
    for w in workers:
        w.start()
    try:
        for w in workers:
            while w.is_alive():
                w.join(0.2)  # short joins keep Ctrl-C responsive
    except KeyboardInterrupt:
        ctx.stop.set()  # workers finish their current cell and stop; finished cells are on disk
        for w in workers:
            w.join(60)
        raise
    return result
