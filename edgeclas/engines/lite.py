"""Paddle Lite on the host: ``MODEL_DIR/nb/<name>_x86.nb`` through ``MobileConfig`` in a worker process.

paddlelite is never imported here: the predictor starts :mod:`edgeclas.lite.worker` in ``serve``
mode through the module or compat route (:mod:`edgeclas.lite.runtime`) and sends batches over a
pipe as raw float32 bytes. Paddle Lite 2.13 silently returns zeros (or NaN) when the worker has
numpy 2 on its path; such a result is raised as a :class:`ValidationError`, never returned.
"""

from __future__ import annotations

import os
import select
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import ConversionError, EdgeclasError, IntegrityError, ToolchainError, ValidationError
from ..model_dir import ModelDir, score_rows_ok
from ..lite.formats import check_nb_file
from ..lite.runtime import Route, compat_route, describe_returncode, resolve_route, summarize_stderr, worker_command
from ..lite.worker import FRAME_LENGTH, write_message
from ._base import Predictor

__all__ = ["check", "check_nb", "load", "LitePredictor"]

_TARGET = "x86"  # the only .nb target that runs on this host
_TIMEOUT_S = 300.0
_NUMPY_HINT = "Paddle Lite 2.13 needs numpy < 2 in its worker; re-create the runtime: edgeclas sdk install lite-opt"


def check(model: ModelDir | None) -> tuple[bool, str]:
    if model is not None and not (model.formats.get("nb") or {}).get(_TARGET):
        return False, f"{model.path}: no {_TARGET} .nb (make it with: edgeclas convert {model.path} --to nb --target {_TARGET})"
    try:
        route = resolve_route(run_models=True)
        if model is not None:
            model.nb_file(_TARGET)
    except IntegrityError:
        raise  # a damaged file is an error, never a reason to skip this engine or pick another
    except EdgeclasError as e:
        if compat_route() is None and isinstance(e, ToolchainError):
            return False, "no Paddle Lite runtime (run: edgeclas sdk install lite-opt)"
        return False, e.message + (f" ({e.hint})" if e.hint else "")
    return True, f"paddlelite {route.version or '?'} ({route.kind} route)"


class _Worker:
    """A ``worker.py serve`` process and its framed pipe, with a deadline on every reply."""

    def __init__(self, route: Route, threads: int) -> None:
        argv, env = worker_command(route, ["serve"])
        env["OMP_NUM_THREADS"] = str(threads)  # Lite's x86 kernels use MKL/OpenMP; MobileConfig has no set_threads
        self._stderr = tempfile.TemporaryFile()
        self.route = route
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        self._buf = bytearray()

    def request(self, header: dict, payload: bytes = b"", timeout: float = _TIMEOUT_S) -> tuple[dict, bytes]:
        try:
            write_message(self.proc.stdin, header, payload)
        except (BrokenPipeError, OSError):
            self._died()
        return self.reply(timeout)

    def reply(self, timeout: float = _TIMEOUT_S) -> tuple[dict, bytes]:
        import json

        deadline = time.monotonic() + timeout
        head = self._read(FRAME_LENGTH.size, deadline)
        (n,) = FRAME_LENGTH.unpack(head)
        header = json.loads(self._read(n, deadline))
        payload = self._read(int(header.get("nbytes") or 0), deadline)
        if header.get("kind") == "input_corrupted":
            raise ValidationError(f"lite: {header['error']}; refusing its outputs", hint=_NUMPY_HINT)
        if not header.get("ok"):
            raise ValidationError(f"lite worker: {header.get('error')}", hint=self._hint())
        return header, payload

    def _read(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise ToolchainError(f"lite worker gave no reply within {_TIMEOUT_S:.0f} s; stopped it")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, max(n - len(self._buf), 1 << 16))
                if not chunk:
                    self._died()
                self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def _died(self):
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        raise ToolchainError(
            f"lite worker ({self.route.kind} route) {describe_returncode(rc)}: {summarize_stderr(self.stderr_text())}",
            hint=self._hint(),
        )

    def _hint(self) -> str:
        return "check the runtime with: edgeclas doctor  (re-create it with: edgeclas sdk install lite-opt)"

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                write_message(self.proc.stdin, {"op": "quit"})
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):  # both ends of ours, whichever way the worker ended
            try:
                pipe.close()
            except OSError:
                pass  # stdin with unsent bytes to a dead worker: nothing left to deliver
        self._stderr.close()


def _start(route: Route, nb: Path, threads: int) -> tuple[_Worker, str]:
    """A worker with ``nb`` loaded, and the worker's numpy version."""
    worker = _Worker(route, threads)
    try:
        hello = worker.reply()[0]["hello"]
        worker.request({"op": "load", "model": str(nb.resolve())})
    except BaseException:
        worker.close()
        raise
    return worker, hello


def _run_checked(worker: _Worker, batch: np.ndarray, source: str, numpy_version: str) -> np.ndarray:
    header, payload = worker.request({"op": "run", "shape": list(batch.shape)}, batch.tobytes())
    probs = np.frombuffer(payload, dtype=np.float32).reshape(header["shape"])
    zero_rows = ~np.any(probs.reshape(len(probs), -1), axis=1)  # a softmax row is never all zeros
    if not np.all(np.isfinite(probs)) or np.any(zero_rows):
        what = "NaN/inf" if not np.all(np.isfinite(probs)) else "all-zero"
        raise ValidationError(
            f"lite: Paddle Lite returned {what} outputs for {source} (worker numpy {numpy_version}); "
            "refusing to use them",
            hint=_NUMPY_HINT
            if not numpy_version.startswith("1.")
            else "the .nb may be broken; re-convert: edgeclas convert MODEL --to nb --target x86",
        )
    return probs


def check_nb(nb: Path, input_size: tuple[int, int, int], class_num: int, multilabel: bool = False) -> str | None:
    """Load a freshly written x86 ``.nb`` in Paddle Lite and run a batch of two on it: the rows must be
    ``class_num`` finite probabilities (independent 0..1 scores for a multi-label head). Returns what was checked, or None when no runtime can run models
    here (only an opt binary); raises :class:`ConversionError` when the runtime refuses the file."""
    try:
        route = resolve_route(run_models=True)
    except ToolchainError:
        return None
    try:
        worker, hello = _start(route, nb, 1)
        try:
            x = np.random.default_rng(0).standard_normal((2, *input_size)).astype(np.float32)
            probs = _run_checked(worker, x, nb.name, hello["numpy"])
        finally:
            worker.close()
    except (ToolchainError, ValidationError) as e:
        raise ConversionError(f"opt wrote {nb.name}, but Paddle Lite {route.kind} cannot run it: {e.message}",
                              hint=e.hint) from None
    if not score_rows_ok(probs, 2, class_num, multilabel):
        raise ConversionError(f"opt wrote {nb.name}, but it answers a batch of two with shape {probs.shape}, "
                              f"not two {'multi-label score' if multilabel else 'probability'} rows of "
                              f"{class_num} classes")
    return f"loaded and run by Paddle Lite {hello['lite']} ({route.kind} route)"


class LitePredictor(Predictor):
    name = "lite"

    def __init__(self, model: ModelDir, *, threads: int | None = None, route: Route | None = None) -> None:
        """``route``: a specific module/compat route (default: the first usable one; none is an error naming
        ``edgeclas sdk install lite-opt``)."""
        nb = model.nb_file(_TARGET)
        check_nb_file(nb, f"edgeclas convert {model.path} --to nb --target {_TARGET}")  # a damaged file, named as such
        self._worker, hello = _start(route or resolve_route(run_models=True), nb, int(threads or 1))
        self.numpy_version = hello["numpy"]
        super().__init__(model, hello["lite"], str(nb.relative_to(model.path)))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return _run_checked(self._worker, batch, self.source, self.numpy_version)

    def close(self) -> None:
        self._worker.close()

    def __del__(self) -> None:
        worker = getattr(self, "_worker", None)
        if worker is not None:
            worker.close()


def load(model: ModelDir, **opts) -> LitePredictor:
    return LitePredictor(model, **opts)
