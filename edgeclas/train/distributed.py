"""Training in several processes on ``paddle.distributed``: the launching side and the workers' side.

``edgeclas train --nproc N`` (CPU, gloo) and ``--gpus 0,1,…`` (one process per GPU, NCCL) hand the
work to Paddle's own collective launcher, as PaddleClas's ``python -m paddle.distributed.launch
--gpus=0,1,2,3 tools/train.py`` does::

    python -m paddle.distributed.launch --log_dir RUN_DIR/log --max_restart 0
        (--host 127.0.0.1 | --ips host1,host2) (--nproc_per_node N | --gpus 0,1)
        edgeclas/train/_launch_worker.py SPEC

Each worker runs the ordinary :func:`edgeclas.train.train`, which sees the launcher's environment
(``PADDLE_TRAINER_ID``/``PADDLE_TRAINERS_NUM``), joins the process group and wraps the model in
``paddle.DataParallel``. Every rank reads its own shard of each epoch
(:func:`edgeclas.data.dataset.shard`, PaddleClas's ``DistributedBatchSampler``), with the recipe's
batch size per process; gradients are averaged across ranks, so N processes of batch B step like
one process of batch N×B (batch-norm statistics stay per process, as in PaddleClas without SyncBN).
Only rank 0 evaluates and writes checkpoints, ``metrics.jsonl``, the manifest and the progress bar.

A worker that fails with an edgeclas error leaves ``RUN_DIR/log/error.rankN.json`` and the parent
raises that same error; a worker that dies otherwise (a signal, a crash) makes the launcher stop the
others, and the parent names the rank, how it died and its log. Nothing waits forever.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import traceback
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import errors as _errors
from ..errors import ConfigError, EdgeclasError, ToolchainError, TrainingError
from ..fsutil import atomic_write_json

__all__ = ["Workers", "current", "gpu_count", "launch", "require_gpus", "worker_main", "WORKER_SCRIPT", "LOG_DIR"]

WORKER_SCRIPT = Path(__file__).with_name("_launch_worker.py")
LOG_DIR = "log"  # under the run directory: the launcher's workerlog.N and our error/result files
_RESULT = "result.json"


@dataclass(frozen=True)
class Workers:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def current() -> Workers:
    """From the environment ``paddle.distributed.launch`` gives each worker; one process otherwise."""
    return Workers(int(os.environ.get("PADDLE_TRAINER_ID", "0")), int(os.environ.get("PADDLE_TRAINERS_NUM", "1")))


def _paddle():
    with warnings.catch_warnings():  # paddle's import warns about ccache, which only matters for C++ extensions
        warnings.filterwarnings("ignore", message="No ccache found")
        import paddle
    return paddle


def gpu_count() -> int:
    """GPUs this Paddle can use: 0 with a CPU build."""
    paddle = _paddle()
    return paddle.device.cuda.device_count() if paddle.device.is_compiled_with_cuda() else 0


def require_gpus(count: int, where: str) -> None:
    """A clear error unless this Paddle can use ``count`` GPUs."""
    paddle = _paddle()

    if not paddle.device.is_compiled_with_cuda():
        raise ToolchainError(f"{where}: this Paddle ({paddle.__version__}) is a CPU build: no GPU can be used",
                             hint="train on the CPU (--nproc N for several processes), or install paddlepaddle-gpu "
                                  "on a machine with NVIDIA GPUs")
    found = gpu_count()
    if found < count:
        raise ToolchainError(f"{where}: {count} GPU(s) asked for, {found} visible",
                             hint="check nvidia-smi and CUDA_VISIBLE_DEVICES")


def _require_no_gpus(nproc: int) -> None:
    """The launcher puts its processes on GPUs wherever it sees any: --nproc is for CPU-only machines."""
    if gpu_count() > 0:
        raise ConfigError(f"--nproc {nproc}: this machine has GPUs, where paddle.distributed.launch trains on them",
                          hint="use --gpus 0,1,… (one process per GPU)")


# ---- inside a worker ------------------------------------------------------------------------------


def gather(obj: Any, workers: Workers) -> list[Any]:
    """Every rank's ``obj``, in rank order (a list of one without other processes)."""
    if workers.world == 1:
        return [obj]
    import paddle.distributed as dist

    out: list[Any] = []
    dist.all_gather_object(out, obj)
    return out


def barrier(workers: Workers) -> None:
    if workers.world > 1:
        import paddle.distributed as dist

        dist.barrier()


def write_result(run_dir: Path, result) -> None:
    """Rank 0 leaves its :class:`TrainResult` for the launching process."""
    body = asdict(result)
    body = {k: (str(v) if isinstance(v, Path) else v) for k, v in body.items()}
    atomic_write_json(run_dir / LOG_DIR / _RESULT, body)


def worker_main(argv: list[str]) -> int:
    """The body of ``_launch_worker.py``: train, and leave an error file where training fails."""
    spec = json.loads(argv[0])
    log_dir = Path(spec["log_dir"])
    rank = current().rank
    try:
        from . import train

        result = train(spec["config"], spec["overrides"], resume=spec["resume"])
        if rank == 0:
            write_result(Path(result.run_dir), result)
        return 0
    except EdgeclasError as e:
        atomic_write_json(log_dir / f"error.rank{rank}.json",
                          {"type": type(e).__name__, "message": e.message, "hint": e.hint})
        print(f"error: {e.message}", file=sys.stderr)
        return e.exit_code
    except BaseException as e:  # a crash: keep the last line for the launching process, the traceback in the log
        traceback.print_exc()
        atomic_write_json(log_dir / f"error.rank{rank}.json",
                          {"type": None, "message": f"{type(e).__name__}: {e}".strip().splitlines()[0]})
        return 1


# ---- the launching process ------------------------------------------------------------------------


def _parse_gpus(gpus: str) -> list[str]:
    ids = [g.strip() for g in gpus.split(",") if g.strip()]
    if not ids or not all(g.isdigit() for g in ids) or len(set(ids)) != len(ids):
        raise ConfigError(f"--gpus {gpus}: expected distinct GPU ids like 0,1,2,3")
    return ids


_FAILED = re.compile(r"Container rank (\d+) status failed .*? code (-?\d+)")
# What a worker's log shows when it ended on an error of its own (Python, or C++ such as gloo's abort
# after losing a peer); a worker killed from outside leaves none of these.
_SAID = re.compile(r"Traceback|terminate called|FatalError|Error Message Summary|^error: ", re.M)


def _signal(code: int | None) -> str | None:
    """The signal name of a negative exit code (a process killed by it)."""
    try:
        return signal.Signals(-code).name if code is not None and code < 0 else None
    except ValueError:
        return None


def _rank_of(path: Path) -> int:
    return int(re.sub(r"\D", "", path.name.rsplit(".", 1)[-1] if path.name.startswith("workerlog") else path.stem))


def _failure(log_dir: Path, returncode: int, output: list[str]) -> EdgeclasError:
    """The error that best explains a failed launch: an edgeclas error of a rank, a rank killed from
    outside (the others then fail on losing it), a crash, and only then what the launcher said."""
    reports = {_rank_of(p): json.loads(p.read_text()) for p in log_dir.glob("error.rank*.json")}
    for rank in sorted(reports):
        r = reports[rank]
        if r.get("type"):
            return getattr(_errors, r["type"], EdgeclasError)(r["message"], hint=r.get("hint"))
    codes = {int(m.group(1)): int(m.group(2)) for line in output for m in [_FAILED.search(line)] if m}
    for log in sorted(log_dir.glob("workerlog.*"), key=_rank_of):
        rank = _rank_of(log)
        if rank in reports or _SAID.search(log.read_text(errors="replace")):
            continue
        sig = _signal(codes.get(rank))
        how = f" ({sig})" if sig else " (no error in its log: a signal such as SIGKILL, or the out-of-memory killer)"
        return TrainingError(f"training worker rank {rank} was killed{how}; the launcher stopped the others",
                             hint=f"its log: {log}; `edgeclas train --resume` with the same options continues "
                                  "from the last checkpoint")
    if reports:
        rank = min(reports)
        return TrainingError(f"training worker rank {rank} failed: {reports[rank]['message']}",
                             hint=f"the traceback is in {log_dir / f'workerlog.{rank}'}")
    if codes:
        rank, code = min(codes.items())
        return TrainingError(f"training worker rank {rank} ended with {_signal(code) or f'exit code {code}'}",
                             hint=f"see its log: {log_dir / f'workerlog.{rank}'}")
    tail = " | ".join(line.strip() for line in output[-3:] if line.strip())
    return TrainingError(f"paddle.distributed.launch exited with code {returncode}" + (f": {tail}" if tail else ""),
                         hint=f"see the worker logs in {log_dir}")


def launch(config_path: str | os.PathLike[str], overrides: list[str], resume: bool, nproc: int = 1,
           gpus: str | None = None, ips: str | None = None):
    """Run :func:`edgeclas.train.train` in ``nproc`` CPU processes (or one per GPU of ``gpus``), on
    every host of ``ips`` when given (run the same command on each); returns rank 0's result."""
    from .config import load_config
    from .engine import TrainResult, check_run_dir

    overrides = list(overrides)
    if nproc < 1:
        raise ConfigError(f"--nproc must be ≥ 1, got {nproc}")
    if gpus is not None:
        ids = _parse_gpus(gpus)
        if nproc not in (1, len(ids)):
            raise ConfigError(f"--nproc {nproc} with --gpus {gpus}: one process per GPU",
                              hint="leave out --nproc, or list as many GPUs as processes")
        overrides.append("Global.device=gpu")
    cfg = load_config(config_path, overrides)  # recipe mistakes are reported before anything starts
    if gpus is not None:
        require_gpus(len(ids), f"--gpus {gpus}")
    elif cfg["Global"]["device"] != "cpu" and gpu_count():  # without a GPU each worker trains on the CPU, saying so
        raise ConfigError(f"--nproc {nproc} trains on the CPU but Global.device is {cfg['Global']['device']}",
                          hint="use --gpus 0,1,… for GPU processes")
    else:
        _require_no_gpus(nproc)
    if ips is not None and not all(h.strip() for h in ips.split(",")):
        raise ConfigError(f"--ips {ips}: expected host addresses like 10.0.0.1,10.0.0.2")
    run_dir = Path(cfg["Global"]["output_dir"]).resolve()
    check_run_dir(run_dir, resume)
    log_dir = run_dir / LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*log_dir.glob("error.rank*.json"), log_dir / _RESULT]:
        stale.unlink(missing_ok=True)

    spec = json.dumps({"config": str(Path(config_path).resolve()), "overrides": overrides, "resume": resume,
                       "log_dir": str(log_dir)})
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--log_dir", str(log_dir), "--log_overwrite", "True",
           "--log_level", "ERROR", "--max_restart", "0", "--job_id", f"edgeclas-{run_dir.name}"]
    # One host: everything on loopback. Several: the launcher finds this host among --ips.
    cmd += ["--ips", ips] if ips else ["--host", "127.0.0.1"]
    cmd += ["--gpus", ",".join(ids)] if gpus is not None else ["--nproc_per_node", str(nproc)]
    cmd += [str(WORKER_SCRIPT), spec]
    env = {**os.environ, "GLOG_minloglevel": "2",  # paddle's C++ INFO lines (stores, sockets) say nothing to a user
           "PYTHONWARNINGS": ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore:No ccache found"]))}
    output: list[str] = []
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:  # the launcher relays rank 0's output; keep a tail to explain a failure
            sys.stderr.write(line)
            output = (output + [line])[-200:]
        returncode = proc.wait()
    result_file = log_dir / _RESULT
    if returncode != 0 or not result_file.is_file():
        raise _failure(log_dir, returncode, output)
    body = json.loads(result_file.read_text())
    body = {**body, **{k: Path(body[k]) for k in ("run_dir", "latest", "best")}}
    if body.get("pretrained"):
        from ..models import PretrainedReport

        body["pretrained"] = PretrainedReport(**body["pretrained"])
    return TrainResult(**body)
