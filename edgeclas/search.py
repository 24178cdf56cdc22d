"""Hyper-parameter search on Optuna: every trial is a normal training run in its own run directory.

>>> r = search("training/demo_clarity.yaml", "training/search/clarity.yaml", trials=8)   # doctest: +SKIP
>>> r.best.params, r.best.value                                                         # doctest: +SKIP

The space file follows PaddleClas's PULC ``search.yaml``: a ``search_dict`` of entries, each a
``search_key`` (the Optuna parameter name) that sets every recipe key in ``replace_config`` (the
keys of ``-o``). Where PaddleClas only lists ``search_values``, a range may be given instead::

    metric: top1                          # an eval metric of the recipe (default: its first one)
    direction: maximize                   # minimize for loss
    sampler: {name: TPESampler, seed: 0}  # or RandomSampler
    pruner: {name: MedianPruner, n_startup_trials: 2, n_warmup_steps: 1}
    search_dict:
      - search_key: lr
        replace_config: [Optimizer.lr.learning_rate]
        log_uniform: [0.005, 0.2]         # also: uniform: [lo, hi], int: [lo, hi] (+ step), search_values: [...]

Each trial trains through :func:`edgeclas.train.train` into ``OUT/STUDY/trial-NNNN``, reports its
eval metric after every evaluated epoch (the pruner may stop it there) and is worth the best value
it reached. Optuna owns the bookkeeping: trials live in its storage (an SQLite file in the output
directory by default, or any RDB URL shared by several machines), workers record heartbeats, and a
trial whose worker died is failed and re-queued with the same parameters by Optuna's
``RetryHeartbeatStaleTrialCallback``. On this machine a dead worker is recognised at once (its
process is gone), elsewhere after the heartbeat grace period. A re-queued trial resumes its run
directory from ``latest/``, so nothing that was trained is lost and no finished trial runs again.
``trials`` is the study's total: the same command after a kill finishes the remaining ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import inspect
import json
import os
import socket
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError, EdgeclasError, ModelError, did_you_mean
from .fsutil import atomic_write_text, sha256_file

__all__ = ["Param", "Space", "TrialRow", "SearchResult", "load_space", "search", "show", "export_best",
           "default_storage"]

HEARTBEAT_S = 30  # workers refresh their trial's heartbeat this often
GRACE_S = 120  # a trial whose heartbeat is older is stale: failed and re-queued
MAX_RETRY = 2  # re-queues of one trial (a trial that kills its worker every time must end)
DB_NAME = "search.db"

_RANGES = ("search_values", "uniform", "log_uniform", "int")
_ENTRY_KEYS = ("search_key", "replace_config", *_RANGES, "step")
_TOP_KEYS = ("search_dict", "metric", "direction", "sampler", "pruner")
# PaddleClas search.yaml keys that have another home here.
_PADDLECLAS_KEYS = {
    "base_config_file": "pass the recipe with -c",
    "distill_config_file": "search the distillation recipe itself: -c it, with its keys in replace_config",
    "teacher": "search the distillation recipe itself: -c it, with its keys in replace_config",
    "final_replace": "list every key a value goes to in replace_config",
    "output_dir": "use --out (default: the recipe's Global.output_dir)",
    "gpus": "trials train one after another; use --jobs for parallel trials",
    "search_times": "use --trials",
}
SAMPLERS = ("TPESampler", "RandomSampler")
PRUNERS = ("MedianPruner", "PercentilePruner", "HyperbandPruner", "ThresholdPruner", "NopPruner")


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


@dataclass(frozen=True)
class Param:
    """One ``search_dict`` entry: an Optuna parameter and the recipe keys it sets."""

    name: str
    keys: tuple[str, ...]
    kind: str  # "choice" | "float" | "int"
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None

    def _encoded(self) -> list[Any]:
        # Optuna's categorical values are scalars; lists (e.g. lr_mult_list) travel as JSON text.
        return [v if _scalar(v) else json.dumps(v) for v in self.choices]

    def suggest(self, trial) -> Any:
        """The recipe value for this trial (fixed for a re-queued trial, sampled otherwise)."""
        if self.kind == "choice":
            return self.decode(trial.suggest_categorical(self.name, self._encoded()))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    def decode(self, stored: Any) -> Any:
        """An Optuna parameter value back to the recipe value."""
        if self.kind == "choice":
            return dict(zip(self._encoded(), self.choices)).get(stored, stored)
        return stored

    def overrides(self, value: Any) -> list[str]:
        return [f"{key}={value!r}" for key in self.keys]

    def samples(self) -> list[Any]:
        """Values that together exercise every kind of value this parameter can take (for validation)."""
        if self.kind == "choice":
            return list(self.choices)
        return [int(self.low), int(self.high)] if self.kind == "int" else [self.low, self.high]


@dataclass(frozen=True)
class Space:
    path: str
    params: tuple[Param, ...]
    metric: str | None = None  # None: the recipe's first eval metric
    direction: str = "maximize"
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "TPESampler"})
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "MedianPruner"})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path")
        return d


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _parse_entry(entry: Any, where: str) -> Param:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with search_key, replace_config and search_values")
    for key in entry:
        if key not in _ENTRY_KEYS:
            raise ConfigError(f"{where}.{key}: unknown key", hint=did_you_mean(str(key), _ENTRY_KEYS))
    name = entry.get("search_key")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.search_key: a name is required (the parameter's name in Optuna)")
    keys = entry.get("replace_config")
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise ConfigError(f"{where}.replace_config: expected a list of recipe keys like Optimizer.lr.learning_rate")
    given = [k for k in _RANGES if k in entry]
    if len(given) != 1:
        raise ConfigError(f"{where}: give exactly one of {', '.join(_RANGES)} (got {', '.join(given) or 'none'})")
    kind_key, value = given[0], entry[given[0]]
    step = entry.get("step")
    if step is not None and (kind_key in ("search_values", "log_uniform") or not _number(step) or step <= 0):
        raise ConfigError(f"{where}.step: a positive number, with uniform or int ranges only")
    if kind_key == "search_values":
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{where}.search_values: expected a non-empty list")
        encoded = [v if _scalar(v) else json.dumps(v) for v in value]
        if len(set(map(repr, encoded))) != len(encoded):
            raise ConfigError(f"{where}.search_values: values repeat")
        return Param(name, tuple(keys), "choice", choices=tuple(value))
    if not (isinstance(value, list) and len(value) == 2 and all(_number(v) for v in value) and value[0] < value[1]):
        raise ConfigError(f"{where}.{kind_key}: expected [low, high] with low < high, got {value!r}")
    low, high = value
    if kind_key == "log_uniform" and low <= 0:
        raise ConfigError(f"{where}.log_uniform: the low end must be > 0, got {low}")
    if kind_key == "int":
        if not all(isinstance(v, int) for v in value) or (step is not None and not isinstance(step, int)):
            raise ConfigError(f"{where}.int: bounds and step must be integers, got {value!r}")
        return Param(name, tuple(keys), "int", low=low, high=high, step=step)
    return Param(name, tuple(keys), "float", low=float(low), high=float(high), log=kind_key == "log_uniform",
                 step=float(step) if step is not None else None)


def _optuna_class(kind: str, spec: Any, names: tuple[str, ...], where: str) -> dict[str, Any]:
    import optuna

    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ConfigError(f"{where}: expected {{name: {names[0]}, ...arguments}}")
    if spec["name"] not in names:
        raise ConfigError(f"{where}.name: '{spec['name']}' is not supported", hint=did_you_mean(spec["name"], names))
    module = optuna.samplers if kind == "sampler" else optuna.pruners
    allowed = [p for p in inspect.signature(getattr(module, spec["name"])).parameters if p != "self"]
    for key in spec:
        if key != "name" and key not in allowed:
            raise ConfigError(f"{where}.{key}: not an argument of {spec['name']}", hint=did_you_mean(key, allowed))
    return dict(spec)


def load_space(path: str | os.PathLike[str]) -> Space:
    """Read and check a search space file (keys are checked against a recipe by :func:`search`)."""
    import yaml

    from .engines._deps import require

    require("optuna", "optuna", "search")
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: search space not found", hint="see training/search/clarity.yaml")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"{p}{f':{mark.line + 1}' if mark else ''}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping with a search_dict list")
    for key in raw:
        if key in _PADDLECLAS_KEYS:
            raise ConfigError(f"{p}: {key}: a PaddleClas search key edgeclas takes elsewhere", hint=_PADDLECLAS_KEYS[key])
        if key not in _TOP_KEYS:
            raise ConfigError(f"{p}: {key}: unknown key", hint=did_you_mean(str(key), _TOP_KEYS))
    entries = raw.get("search_dict")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{p}: search_dict: expected a non-empty list of parameters")
    params = tuple(_parse_entry(e, f"{p}: search_dict.{i}") for i, e in enumerate(entries))
    names = [q.name for q in params]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ConfigError(f"{p}: search_dict: search_key '{dup}' appears twice")
    keys = [k for q in params for k in q.keys]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup:
        raise ConfigError(f"{p}: search_dict: {dup} is set by two parameters")
    metric = raw.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise ConfigError(f"{p}: metric: expected a name like top1")
    direction = raw.get("direction", "minimize" if metric == "loss" else "maximize")
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"{p}: direction: '{direction}' is not maximize or minimize")
    sampler = _optuna_class("sampler", raw.get("sampler", "TPESampler"), SAMPLERS, f"{p}: sampler")
    pruner = _optuna_class("pruner", raw.get("pruner", "MedianPruner"), PRUNERS, f"{p}: pruner")
    return Space(str(p.resolve()), params, metric, direction, sampler, pruner)


def _eval_metric_names(cfg: dict[str, Any]) -> list[str]:
    """The ``eval_*`` names a run of this recipe records, in the recipe's order (``loss`` last)."""
    import numpy as np

    from .train.metrics import compute_metrics

    n = cfg["Arch"]["class_num"]
    # compute_metrics decides the names (TprAtFpr only for two classes): ask it on a dummy batch.
    probs = np.full((2, n), 1.0 / n, dtype=np.float32)
    return [*compute_metrics(probs, np.array([0, 1 % n]), cfg["Metric"]["Eval"]), "loss"]


def _check_against_recipe(space: Space, recipe: Path, overrides: list[str]) -> tuple[dict[str, Any], str]:
    """Every key and sample value of the space must make a valid recipe; returns (config, metric)."""
    from .models import arch_options
    from .train.config import DEFAULTS, load_config

    cfg = load_config(recipe, overrides)
    for param in space.params:
        for value in param.samples():
            try:
                trial_cfg = load_config(recipe, overrides + param.overrides(value))
            except ConfigError as e:
                raise ConfigError(f"{space.path}: search_key {param.name} = {value!r}: {e.message}", hint=e.hint) from None
            for key in param.keys:
                head, _, rest = key.partition(".")
                # Arch takes the architecture's own options, which the recipe check leaves to build_model.
                if head == "Arch" and rest and "." not in rest and rest not in DEFAULTS["Arch"]:
                    allowed = arch_options(trial_cfg["Arch"]["name"])
                    if rest not in allowed:
                        raise ConfigError(f"{space.path}: search_key {param.name}: {key}: not an option of "
                                          f"{trial_cfg['Arch']['name']}", hint=did_you_mean(rest, allowed))
    if not cfg["Global"]["eval_during_train"]:
        raise ConfigError(f"{recipe}: Global.eval_during_train is False: trials are judged on eval metrics",
                          hint="set it True (and Global.eval_interval to how often a trial may be pruned)")
    names = _eval_metric_names(cfg)
    metric = space.metric or names[0]
    if metric not in names:
        raise ConfigError(f"{space.path}: metric: '{metric}' is not an eval metric of {recipe}",
                          hint=f"one of: {', '.join(names)}")
    return cfg, metric


# ---- storage ---------------------------------------------------------------------------------


def default_storage(out: str | os.PathLike[str]) -> str:
    return f"sqlite:///{Path(out).resolve() / DB_NAME}"


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing secret to hide
        return url


def _open_storage(url: str, *, create: bool = True):
    """Optuna's RDB storage with heartbeats and re-queueing of stale trials; unusable URLs are ConfigErrors."""
    import optuna
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    shown = _shown(url)
    hint = f"check the URL, or omit --storage for an SQLite file in the output directory ({DB_NAME})"
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(f"--storage {shown}: not a database URL",
                          hint="e.g. sqlite:///runs/search.db or postgresql://user@host/db") from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:" and not create and not Path(db).is_file():
            raise ConfigError(f"{db}: no search database here", hint="run `edgeclas search` first, or pass --storage")
        if db and db != ":memory:":
            try:
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"--storage {shown}: cannot create {Path(db).parent} ({e.strerror})", hint=hint) from None
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}  # wait for other workers' writes
    else:
        engine_kwargs = {"pool_pre_ping": True}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY))
    except (ImportError, sqlalchemy.exc.NoSuchModuleError) as e:
        cause = e.__cause__ or e  # Optuna wraps the driver's ModuleNotFoundError
        raise ConfigError(f"--storage {shown}: the database driver is not installed ({cause})",
                          hint="pip install that module, or name an installed driver in the URL "
                               "(e.g. postgresql+psycopg2://, mysql+pymysql://)") from None
    except sqlalchemy.exc.SQLAlchemyError as e:
        first = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise ConfigError(f"--storage {shown}: cannot reach the database: {first}", hint=hint) from None


# ---- workers ---------------------------------------------------------------------------------


def _proc_start(pid: int) -> str | None:
    """Start time of ``pid`` (clock ticks since boot), None when there is no such process: tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_proc_start(os.getpid())}"


def _worker_alive(worker: str) -> bool:
    host, _, rest = worker.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit() or not Path("/proc/self/stat").is_file():
        return True  # another machine's worker (or no procfs): its heartbeat tells
    return _proc_start(int(pid)) == start


class _Lock:
    """An exclusive ``flock`` on a file; held from choosing to start a trial until the trial is claimed."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.held = False

    def acquire(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.release()
        os.close(self._fd)


def _requeue(study, storage, trial) -> None:
    """Optuna's own re-queueing (the storage's stale-trial callback) for a trial whose run was cut short."""
    callback = storage.get_heartbeat_stale_trial_callback()
    callback(study, storage.get_trial(trial._trial_id))


def _fail_dead_local_trials(study, storage) -> None:
    """Fail and re-queue RUNNING trials whose worker on this machine no longer exists."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if worker and not _worker_alive(worker):
            with contextlib.suppress(UpdateFinishedTrialError):  # another worker may have failed it first
                if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                    _requeue(study, storage, t)


def _budget_used(study) -> tuple[int, int]:
    """(trials that count toward --trials, trials waiting to be re-run)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    used = sum(t.state != TrialState.FAIL or t.number not in retried for t in trials)
    return used, waiting


@dataclass
class _Ctx:
    """Everything a worker process needs (picklable)."""

    recipe: str
    overrides: list[str]
    space: Space
    metric: str
    trials: int
    storage: str
    study: str
    out: str
    progress: Callable[["TrialRow"], None] | None = None


def _retry_of(frozen) -> int | None:
    """The trial a re-queued trial re-runs (Optuna's record of it), None for a fresh one."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)


def _trial_dir(ctx: _Ctx, frozen) -> Path:
    first = _retry_of(frozen)  # a re-queued trial continues the original's run
    return Path(ctx.out) / ctx.study / f"trial-{frozen.number if first is None else first:04d}"


def _objective(ctx: _Ctx, storage, lock: _Lock, current: dict[str, Any]):
    import optuna

    from .train import train

    best = max if ctx.space.direction == "maximize" else min

    def objective(trial) -> float:
        trial.set_user_attr("worker", _me())  # before the lock goes: a dead-worker check sees us alive
        current["trial"] = trial
        lock.release()
        values = [p.suggest(trial) for p in ctx.space.params]
        run_dir = _trial_dir(ctx, storage.get_trial(trial._trial_id))
        trial.set_user_attr("run_dir", str(run_dir.relative_to(ctx.out)))
        reported: list[float] = []

        def report(record: dict[str, Any]) -> None:
            value = record.get(f"eval_{ctx.metric}")
            if value is None:  # an epoch without evaluation
                return
            trial.report(float(value), int(record["epoch"]))
            reported.append(float(value))
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {record['epoch']}")

        resume = (run_dir / "latest").is_dir()
        if resume:  # a re-queued trial: its recorded epochs count again, then training continues
            lines = (run_dir / "metrics.jsonl").read_text().splitlines() if (run_dir / "metrics.jsonl").is_file() else []
            for line in lines:
                with contextlib.suppress(ValueError):
                    report(json.loads(line))
        overrides = [*ctx.overrides, *(o for p, v in zip(ctx.space.params, values) for o in p.overrides(v)),
                     f"Global.output_dir={run_dir}"]
        result = train(ctx.recipe, overrides, resume=resume, on_epoch=report)
        trial.set_user_attr("epochs", result.epochs)
        if not reported:
            raise ModelError(f"{run_dir}: no epoch was evaluated", hint="set Global.eval_during_train True")
        return best(reported)

    return objective


def _sampler(space: Space, worker: int, existing: int):
    import optuna

    args = {k: v for k, v in space.sampler.items() if k != "name"}
    if args.get("seed") is not None:
        # Parallel workers, and a search resumed after `existing` trials, must not draw the same points again.
        args["seed"] = int(args["seed"]) + 1000 * worker + existing
    return getattr(optuna.samplers, space.sampler["name"])(**args)


def _pruner(space: Space):
    import optuna

    return getattr(optuna.pruners, space.pruner["name"])(**{k: v for k, v in space.pruner.items() if k != "name"})


def _work(ctx: _Ctx, worker: int = 0) -> None:
    """One worker: start trials while the study's budget allows, one at a time."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # each trial gets one line from `progress` instead
    storage = _open_storage(ctx.storage)
    study = optuna.load_study(study_name=ctx.study, storage=storage, pruner=_pruner(ctx.space))
    study.sampler = _sampler(ctx.space, worker, len(study.get_trials(deepcopy=False)))
    lock = _Lock(Path(ctx.out) / ctx.study / ".lock")
    callbacks = [lambda s, t: ctx.progress(_row(ctx.space, t))] if ctx.progress else []
    try:
        while True:
            lock.acquire()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
            _fail_dead_local_trials(study, storage)
            used, waiting = _budget_used(study)
            if used >= ctx.trials and not waiting:
                break
            current: dict[str, Any] = {}
            try:
                study.optimize(_objective(ctx, storage, lock, current), n_trials=1, callbacks=callbacks, gc_after_trial=True)
            except KeyboardInterrupt:
                # Optuna failed the trial; an interrupted trial is re-run (resumed) next time, not lost.
                if "trial" in current:
                    _requeue(study, storage, current["trial"])
                raise
            finally:
                lock.release()
    finally:
        lock.close()


def _child(ctx: _Ctx, worker: int, errors) -> None:
    """Entry point of a --jobs worker process."""
    with contextlib.suppress(OSError, AttributeError):  # Linux: die with the parent, so a killed search leaves no orphans
        import ctypes

        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    try:
        _work(ctx, worker)
    except EdgeclasError as e:
        errors.put((type(e).__name__, e.message, e.hint))
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


# ---- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # COMPLETE, PRUNED, RUNNING, WAITING, FAIL
    value: float | None  # the objective (COMPLETE) or the last reported value (PRUNED)
    params: dict[str, Any]  # recipe values
    epochs: int  # evaluated epochs reported
    seconds: float | None
    run_dir: str | None  # relative to the search's output directory
    retry_of: int | None  # the trial this one re-runs


@dataclass
class SearchResult:
    study: str
    storage: str  # without password
    direction: str
    metric: str
    out: str | None
    trials: list[TrialRow]
    counts: dict[str, int]
    attrs: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def best(self) -> TrialRow | None:
        done = [t for t in self.trials if t.state == "COMPLETE"]
        if not done:
            return None
        return (max if self.direction == "maximize" else min)(done, key=lambda t: t.value)


def _row(space: Space, t) -> TrialRow:
    by_name = {p.name: p for p in space.params}
    params = {k: by_name[k].decode(v) if k in by_name else v for k, v in t.params.items()}
    value = t.value if t.value is not None else (t.intermediate_values[t.last_step] if t.last_step is not None else None)
    return TrialRow(t.number, t.state.name, value, params, len(t.intermediate_values),
                    t.duration.total_seconds() if t.duration else None, t.user_attrs.get("run_dir"),
                    _retry_of(t))


def _result(study, storage_url: str, out: str | None) -> SearchResult:
    attrs = study.user_attrs.get("edgeclas", {})
    space = _space_from_attrs(attrs)
    trials = [_row(space, t) for t in study.get_trials(deepcopy=False)]
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    direction = study.direction.name.lower()
    return SearchResult(study.study_name, _shown(storage_url), direction, attrs.get("metric", "value"),
                        out, trials, counts, attrs)


def _space_from_attrs(attrs: dict[str, Any]) -> Space:
    d = dict(attrs.get("space") or {"params": ()})
    params = tuple(Param(**{**p, "keys": tuple(p["keys"]), "choices": tuple(p["choices"])}) for p in d.pop("params"))
    return Space("", params, **d)


def _user_overrides(overrides: list[str]) -> list[str]:
    # Global.output_dir belongs to the search (it places the trials), not to the recipe being searched.
    return [o for o in overrides if o.split("=", 1)[0].strip() != "Global.output_dir"]


def search(recipe: str | os.PathLike[str], space_file: str | os.PathLike[str], overrides: list[str] = (),
           trials: int = 10, jobs: int = 1, storage: str | None = None, study: str | None = None,
           out: str | os.PathLike[str] | None = None,
           progress: Callable[[TrialRow], None] | None = None) -> SearchResult:
    """Run (or resume) a study until it holds ``trials`` finished trials; returns every trial.

    ``out`` defaults to the recipe's ``Global.output_dir``; ``storage`` to ``sqlite:///OUT/search.db``;
    ``study`` to the recipe's file name. ``jobs`` > 1 starts that many worker processes on this
    machine; more machines join by running the same command with the same ``storage`` URL.
    ``progress`` (picklable for ``jobs`` > 1) is called with each trial as it ends.
    """
    import optuna

    if trials < 1 or jobs < 1:
        raise ConfigError(f"--trials and --jobs must be ≥ 1, got {trials} and {jobs}")
    recipe = Path(recipe).resolve()
    overrides = list(overrides)
    space = load_space(space_file)
    cfg, metric = _check_against_recipe(space, recipe, overrides)
    out = Path(out or cfg["Global"]["output_dir"]).resolve()
    storage_url = storage or default_storage(out)
    study_name = study or recipe.stem
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    rdb = _open_storage(storage_url)
    wanted = {"recipe": str(recipe), "recipe_sha256": sha256_file(recipe), "recipe_text": recipe.read_text(),
              "overrides": _user_overrides(overrides), "space": space.to_dict(), "metric": metric}
    wanted = json.loads(json.dumps(wanted))  # as the storage gives it back (tuples become lists)
    st = optuna.create_study(study_name=study_name, storage=rdb, direction=space.direction, load_if_exists=True)
    have = st.user_attrs.get("edgeclas")
    if have is None:
        st.set_user_attr("edgeclas", wanted)
    else:
        differs = [k for k in ("recipe_sha256", "overrides", "space", "metric") if have.get(k) != wanted[k]]
        if differs or st.direction.name.lower() != space.direction:
            what = ", ".join(differs) or "direction"
            raise ConfigError(f"study '{study_name}' in {_shown(storage_url)} was started with another {what}",
                              hint="resume with the same -c, -o and --space, or start a new one with --study NAME")

    ctx = _Ctx(str(recipe), overrides, space, metric, trials, storage_url, study_name, str(out), progress)
    if jobs == 1:
        _work(ctx)
    else:
        _run_workers(ctx, jobs)
    return _result(st, storage_url, str(out))


def _run_workers(ctx: _Ctx, jobs: int) -> None:
    import multiprocessing

    mp = multiprocessing.get_context("spawn")  # paddle and sqlite connections do not survive fork
    errors = mp.SimpleQueue()
    procs = [mp.Process(target=_child, args=(ctx, i, errors), name=f"search-worker-{i}") for i in range(jobs)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:  # they got the same SIGINT and re-queue their trials; wait for that
            p.join()
        raise
    if not errors.empty():
        name, message, hint = errors.get()
        import edgeclas.errors as errs

        raise getattr(errs, name, EdgeclasError)(message, hint=hint)
    failed = [p for p in procs if p.exitcode]
    if failed:
        raise ModelError(f"search worker {failed[0].name} ended with exit code {failed[0].exitcode}",
                         hint="re-run the same command: unfinished trials are re-queued")


def _find_study(storage_url: str, study: str | None, rdb) -> str:
    import optuna

    names = optuna.get_all_study_names(storage=rdb)
    if study:
        if study not in names:
            raise ConfigError(f"--study {study}: no such study in {_shown(storage_url)}",
                              hint=f"studies there: {', '.join(names) or 'none'}")
        return study
    if len(names) != 1:
        raise ConfigError(f"{_shown(storage_url)} holds {len(names)} studies", hint=f"pick one with --study "
                          f"({', '.join(names) or 'none yet: run edgeclas search first'})")
    return names[0]


def show(storage: str | None = None, study: str | None = None, out: str | os.PathLike[str] | None = None) -> SearchResult:
    """The trials of a study (``storage`` URL, or the SQLite file in ``out``) without running any."""
    import optuna

    if storage is None and out is None:
        raise ConfigError("say where the search is: --out DIR (or -c RECIPE) or --storage URL")
    storage_url = storage or default_storage(out)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = _open_storage(storage_url, create=False)
    name = _find_study(storage_url, study, rdb)
    return _result(optuna.load_study(study_name=name, storage=rdb), storage_url,
                   str(Path(out).resolve()) if out else None)


def export_best(result: SearchResult, dest: str | os.PathLike[str]) -> Path:
    """Write the recipe the study searched with the best trial's values applied (validated first)."""
    import yaml

    from .train.config import apply_override, validate

    best = result.best
    if best is None:
        raise ModelError(f"study '{result.study}': no complete trial yet", hint="run or resume the search first")
    attrs = result.attrs
    raw = yaml.safe_load(attrs["recipe_text"]) or {}
    space = _space_from_attrs(attrs)
    by_name = {p.name: p for p in space.params}
    values = [o for name, v in best.params.items() if name in by_name for o in by_name[name].overrides(v)]
    for o in [*attrs["overrides"], *values]:
        apply_override(raw, o)
    try:
        validate(raw)
    except ConfigError as e:
        raise ConfigError(f"the best trial's recipe does not validate: {e.message}", hint=e.hint) from None
    header = (f"# {Path(attrs['recipe']).name} with the best trial of study '{result.study}' "
              f"(trial {best.number}: {result.metric} {best.value:.6g})\n"
              + "".join(f"#   {k} = {v!r}\n" for k, v in best.params.items())
              + "".join(f"#   -o {o}\n" for o in attrs["overrides"]))
    dest = Path(dest)
    atomic_write_text(dest, header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    return dest
