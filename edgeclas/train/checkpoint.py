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
from ..manifest import read_manifest, write_manifest

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
    import paddle

    state = paddle.load(str(Path(directory) / OPTIMIZER))
    optimizer.set_state_dict(_rename_optimizer_state(state, {n: p.name for n, p in model.named_parameters()}))


def copy_checkpoint(src: Path, dst: Path) -> Path:
    with staging_dir(dst) as tmp:
        for name in (WEIGHTS, OPTIMIZER, "manifest.json"):
            shutil.copy2(src / name, tmp / name)
    return dst


def read_checkpoint(directory: str | os.PathLike[str]) -> dict[str, Any]:
    directory = Path(directory)
    manifest = read_manifest(directory, "checkpoint")
    for key in ("model", "preprocess", "labels"):
        if key not in manifest:
            raise ModelError(f"{directory}/manifest.json: no '{key}' section", hint="re-run `edgeclas train`")
    if not (directory / WEIGHTS).is_file():
        raise ModelError(f"{directory}: {WEIGHTS} is missing", hint="re-run `edgeclas train` or use another checkpoint")
    return manifest


def load_model(directory: str | os.PathLike[str]):
    """``(model in eval mode, manifest)`` from a checkpoint directory; the weights must fit exactly.

    For a DistillationModel the model is its ``infer_model_name`` member (the student), as exported.
    """
    import paddle

    from ..models import build_model

    directory = Path(directory)
    manifest = read_checkpoint(directory)
    m = manifest["model"]
    model = build_model(m["arch"], int(m["class_num"]), **m.get("arch_kwargs", {}))
    state = paddle.load(str(directory / WEIGHTS))
    own = model.state_dict()
    bad = sorted(set(own) ^ set(state)) + [k for k in own if k in state and list(own[k].shape) != list(state[k].shape)]
    if bad:
        raise ModelError(f"{directory / WEIGHTS}: does not fit {m['arch']} ({len(bad)} keys differ, e.g. {bad[0]})")
    model.set_state_dict(state)
    model.eval()
    return getattr(model, "infer_model", model), manifest
