"""Checkpoint directories (``RUN_DIR/latest``, ``RUN_DIR/best``): weights, optimizer state, manifest.

``manifest.json`` (kind ``checkpoint``) tells ``export`` and ``eval`` everything they need: the
architecture and its options, input size, preprocessing, labels, dataset, epoch, metrics, recipe.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..fsutil import staging_dir
from ..manifest import read_manifest, verify_file, write_manifest
from ..preprocess import MAX_SIDE, PreprocessConfig

__all__ = ["save_checkpoint", "load_optimizer_state", "copy_checkpoint", "read_checkpoint", "load_model", "WEIGHTS", "OPTIMIZER"]

WEIGHTS = "model.pdparams"
OPTIMIZER = "model.pdopt"


def _rename_optimizer_state(state: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Paddle keys optimizer state by the parameters' process-unique names (``conv2d_32.w_0_velocity_0``);
    rewrite the prefixes through ``names`` so a state saved by one model instance loads into another."""
    out = {}
    for key, value in state.items():
        prefix = max((p for p in names if key.startswith(p + "_")), key=len, default=None)
        out[names[prefix] + key[len(prefix):] if prefix else key] = value
    return out


def save_checkpoint(directory: str | os.PathLike[str], model, optimizer, body: dict[str, Any]) -> Path:
    """Write weights + optimizer state + manifest into a staging dir and swap it in (never half-written)."""
    import paddle

    directory = Path(directory)
    to_structured = {p.name: n for n, p in model.named_parameters()}
    with staging_dir(directory) as tmp:
        paddle.save(model.state_dict(), str(tmp / WEIGHTS))
        paddle.save(_rename_optimizer_state(optimizer.state_dict(), to_structured), str(tmp / OPTIMIZER))
        write_manifest(tmp, "checkpoint", body, files=[WEIGHTS, OPTIMIZER])
    return directory


def load_optimizer_state(directory: str | os.PathLike[str], model, optimizer) -> None:
    from ..models import read_state_dict

    state = read_state_dict(Path(directory) / OPTIMIZER, hint=_REMAKE)
    optimizer.set_state_dict(_rename_optimizer_state(state, {n: p.name for n, p in model.named_parameters()}))


def copy_checkpoint(src: Path, dst: Path) -> Path:
    with staging_dir(dst) as tmp:
        for name in (WEIGHTS, OPTIMIZER, "manifest.json"):
            shutil.copy2(src / name, tmp / name)
    return dst


_REMAKE = "re-run `edgeclas train` or use another checkpoint (RUN_DIR/best or RUN_DIR/latest)"


def read_checkpoint(directory: str | os.PathLike[str], *, verify: bool = True,
                    files: tuple[str, ...] = (WEIGHTS,)) -> dict[str, Any]:
    """The checkpoint's manifest, after checking ``files`` against its sizes and sha256 (unless ``verify``
    is off: ``--no-verify``) and the values later stages read (model, preprocess, labels)."""
    directory = Path(directory)
    manifest = read_manifest(directory, "checkpoint")
    where = directory / "manifest.json"
    for key in ("model", "preprocess", "labels"):
        if key not in manifest:
            raise ModelError(f"{where}: no '{key}' section", hint=_REMAKE)
    model = manifest["model"]
    if not isinstance(model, dict) or not isinstance(model.get("arch"), str):
        raise ModelError(f"{where}: model.arch: missing or not a string", hint=_REMAKE)
    num = model.get("class_num")
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ModelError(f"{where}: model.class_num: {num!r} is not a positive integer", hint=_REMAKE)
    size = model.get("input_size")
    if not (isinstance(size, list) and len(size) == 3
            and all(isinstance(x, int) and not isinstance(x, bool) and 0 < x <= MAX_SIDE for x in size)):
        raise ModelError(f"{where}: model.input_size: {size!r} is not [C, H, W] of positive integers", hint=_REMAKE)
    if not isinstance(model.get("arch_kwargs", {}), dict):
        raise ModelError(f"{where}: model.arch_kwargs: not an object", hint=_REMAKE)
    PreprocessConfig.from_dict(manifest["preprocess"], str(where))
    for name in files:
        if not (directory / name).is_file():
            raise ModelError(f"{directory}: {name} is missing", hint=_REMAKE)
        if verify:
            verify_file(directory, manifest, name, remake=_REMAKE)
    return manifest


def load_model(directory: str | os.PathLike[str], *, verify: bool = True):
    """``(model in eval mode, manifest)`` from a checkpoint directory; the weights must fit exactly.

    For a DistillationModel the model is its ``infer_model_name`` member (the student), as exported.
    """
    from ..models import build_model, read_state_dict

    directory = Path(directory)
    manifest = read_checkpoint(directory, verify=verify)
    m = manifest["model"]
    model = build_model(m["arch"], int(m["class_num"]), **m.get("arch_kwargs", {}))
    state = read_state_dict(directory / WEIGHTS, hint=_REMAKE)
    own = model.state_dict()
    bad = sorted(set(own) ^ set(state)) + [k for k in own if k in state and list(own[k].shape) != list(state[k].shape)]
    if bad:
        raise ModelError(f"{directory / WEIGHTS}: does not fit {m['arch']} ({len(bad)} keys differ, e.g. {bad[0]})")
    model.set_state_dict(state)
    model.eval()
    return getattr(model, "infer_model", model), manifest
