"""``edgeclas convert MODEL_DIR --to onnx``: Paddle inference program → ``MODEL_DIR/model.onnx``.

paddle2onnx 2.1.0 forces ``POLYGRAPHY_AUTOINSTALL_DEPS=1`` inside ``export`` and then pip-installs
what constant folding misses (FINDINGS). The conversion therefore runs in a child process that imports
polygraphy's config first with auto-install off (the flag is read once, at import), and the parent
refuses to start unless every helper is installed. Offline, a conversion that could not fold still
"succeeds" with a batch dim no longer tied to the input, so the result is checked: opset as asked,
input and output dim 0 symbolic.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .errors import ConversionError, ToolchainError
from .manifest import update_manifest
from .model_dir import ModelDir, score_rows_ok

__all__ = ["DEFAULT_OPSET", "convert_onnx"]

DEFAULT_OPSET = 13
ONNX_FILE = "model.onnx"
# (module, distribution) paddle2onnx needs without installing anything at run time
_NEEDED = (("paddle2onnx", "paddle2onnx"), ("onnx", "onnx"), ("onnx_graphsurgeon", "onnx_graphsurgeon"),
           ("sympy", "sympy"), ("polygraphy", "polygraphy"), ("paddle", "paddlepaddle"))
_CHILD_TIMEOUT_S = 600
_log = logging.getLogger(__name__)


def convert_onnx(model_dir: str | os.PathLike[str], opset: int = DEFAULT_OPSET, source: str | None = None, *,
                 verify: bool = True) -> Path:
    """Write ``model_dir/model.onnx`` from the PIR (else legacy) program; update the manifest. Returns the file.

    The program is checked against the manifest first (``verify``); the result must pass ``onnx.checker``,
    load in ONNX Runtime and answer a batch with probabilities before it replaces ``model.onnx``.
    """
    import importlib.metadata
    import importlib.util

    model = ModelDir.load(model_dir, verify=verify)
    missing = [dist for mod, dist in _NEEDED if importlib.util.find_spec(mod) is None]
    if missing:
        raise ToolchainError(
            f"ONNX conversion needs {', '.join(missing)} (paddle2onnx would pip-install them mid-conversion)",
            hint="pip install 'edgeclas[paddle]'",
        )
    if not 7 <= opset <= 19:
        raise ConversionError(f"opset {opset} is outside what paddle2onnx 2.1 writes (7..19)", hint="use --opset 13")
    source = source or ("pir" if model.has("pir") else "legacy")
    prog, params = model.paddle_files(source)
    final = model.path / ONNX_FILE
    tmp = final.with_name(f".{ONNX_FILE}.{os.getpid()}.tmp")
    try:
        _run_child(prog, params, tmp, opset)
        _check(tmp, opset)
        _check_runs(tmp, model, prog)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)

    def record(m: dict[str, Any]) -> list[str]:
        m.setdefault("formats", {})["onnx"] = {
            "file": ONNX_FILE,
            "opset": opset,
            "paddle2onnx_version": importlib.metadata.version("paddle2onnx"),
            "source": source,
            "dynamic_batch": True,
        }
        return [ONNX_FILE]

    update_manifest(model.path, "model", record)
    return final


def _run_child(prog: Path, params: Path, out: Path, opset: int) -> None:
    env = dict(os.environ, POLYGRAPHY_AUTOINSTALL_DEPS="0", CUDA_VISIBLE_DEVICES="")
    env.pop("FLAGS_enable_pir_api", None)
    spec = json.dumps({"prog": str(prog), "params": str(params), "out": str(out), "opset": opset})
    code = "import sys; from edgeclas.onnx_convert import _child; _child(sys.argv[1])"
    try:
        proc = subprocess.run([sys.executable, "-c", code, spec], env=env, capture_output=True, text=True,
                              timeout=_CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"paddle2onnx on {prog} took longer than {_CHILD_TIMEOUT_S} s") from None
    _log.debug("paddle2onnx child output:\n%s%s", proc.stdout, proc.stderr)
    if proc.returncode != 0 or not out.is_file():
        lines = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()] or proc.stderr.splitlines()[-1:]
        reason = lines[-1].strip().removeprefix("error: ") if lines else "no output"
        raise ConversionError(f"paddle2onnx failed on {prog}: {reason}", hint="run with --debug to see its full log")


def _check(path: Path, opset: int) -> None:
    import onnx

    m = onnx.load(str(path))
    got = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=None)
    if got != opset:
        raise ConversionError(f"{path.name}: paddle2onnx wrote opset {got}, asked for {opset}")
    for kind, values in (("input", m.graph.input), ("output", m.graph.output)):
        dims = values[0].type.tensor_type.shape.dim if values else []
        if not dims or dims[0].HasField("dim_value") and dims[0].dim_value > 0:
            raise ConversionError(
                f"{path.name}: {kind} batch dimension is fixed, not dynamic",
                hint="paddle2onnx could not fold the graph; check onnx_graphsurgeon and sympy are installed",
            )


def _check_runs(path: Path, model: ModelDir, prog: Path) -> None:
    """The written model must be valid ONNX (``onnx.checker``, with the external weights it names), load in
    ONNX Runtime and turn a batch of two inputs into two finite probability rows: paddle2onnx exits 0 on a
    truncated parameter file and writes a model that fails only here."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    what = f"paddle2onnx wrote an unusable {ONNX_FILE} from {prog}"
    hint = f"the Paddle program or its parameters are damaged: re-export with: edgeclas export CHECKPOINT --out {model.path}"
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:  # noqa: BLE001 - onnx raises ValidationError, InferenceError, protobuf errors
        raise ConversionError(f"{what}: onnx.checker: {_first_line(e)}", hint=hint) from None
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((2, *model.input_size)).astype(np.float32)
        probs = np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])
    except Exception as e:  # noqa: BLE001 - ORT raises its own Fail/InvalidGraph/RuntimeException types
        raise ConversionError(f"{what}: ONNX Runtime cannot run it: {_first_line(e)}", hint=hint) from None
    if not score_rows_ok(probs, 2, model.class_num, model.multilabel):
        kind = "multi-label score" if model.multilabel else "probability"
        raise ConversionError(f"{what}: its output for two inputs is not two {kind} rows of "
                              f"{model.class_num} classes (shape {probs.shape})", hint=hint)


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:300]


def _child(spec_json: str) -> None:
    """Child process: paddle2onnx with polygraphy's auto-install switched off before paddle2onnx can flip it."""
    spec = json.loads(spec_json)
    import polygraphy.config

    polygraphy.config.AUTOINSTALL_DEPS = False
    import paddle2onnx

    paddle2onnx.export(
        spec["prog"], spec["params"], save_file=spec["out"], opset_version=spec["opset"],
        auto_upgrade_opset=False, enable_onnx_checker=True, optimize_tool="polygraphy",
    )
    if not Path(spec["out"]).is_file():
        print("error: paddle2onnx wrote no file (see the messages above)", file=sys.stderr)
        sys.exit(1)
