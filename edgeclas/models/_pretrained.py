"""Loading ``.pdparams`` (ours or PaddleClas's) into a model with a typed report of what matched."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelError

__all__ = ["PretrainedReport", "load_pretrained", "read_state_dict", "CLASSIFIER_PREFIX"]

# Every family names its classifier ``fc``; its shape depends on the class count of the task.
CLASSIFIER_PREFIX = "fc."


@dataclass
class PretrainedReport:
    path: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model, not in the file: left as initialised
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model: ignored
    mismatched: list[tuple[str, list[int], list[int]]] = field(default_factory=list)  # key, model shape, file shape
    reinitialized: list[str] = field(default_factory=list)  # classifier keys freshly initialised

    @property
    def complete(self) -> bool:
        """Every backbone weight came from the file (only the classifier may have been re-initialised)."""
        backbone_mismatch = [k for k, _, _ in self.mismatched if not k.startswith(CLASSIFIER_PREFIX)]
        return not self.missing and not backbone_mismatch

    def summary(self) -> str:
        parts = [f"{len(self.loaded)} loaded"]
        for name in ("missing", "unexpected", "mismatched", "reinitialized"):
            if getattr(self, name):
                parts.append(f"{len(getattr(self, name))} {name}")
        return f"{self.path}: " + ", ".join(parts)


def read_state_dict(path: str | os.PathLike[str], hint: str | None = None) -> dict:
    """``paddle.load`` of a ``.pdparams`` file; a :class:`ModelError` naming it when it is empty, truncated or
    not a state dict (paddle raises ValueError, EOFError, pickle errors… for those, and an EOFError
    would reach the CLI as a bare "Aborted!")."""
    import paddle

    p = Path(path)
    if p.is_file() and p.stat().st_size == 0:
        raise ModelError(f"{p}: empty file (0 bytes), not a .pdparams state dict", hint=hint)
    try:
        state = paddle.load(str(p))
    except Exception as e:  # noqa: BLE001 - paddle raises assorted types for truncated or foreign files
        raise ModelError(f"{p}: not a readable .pdparams file ({type(e).__name__}: {e})", hint=hint) from None
    if not isinstance(state, dict):
        raise ModelError(f"{p}: expected a state dict, found {type(state).__name__}", hint=hint)
    return state


def _resolve(path: str | os.PathLike[str], *, progress: bool = True) -> Path:
    """A local ``.pdparams`` (with or without the suffix), else one of PaddleClas's names (downloaded once)."""
    from . import zoo

    p = Path(path)
    # PaddleClas recipes name pretrained weights without the suffix.
    if not p.is_file() and p.suffix != ".pdparams" and p.with_name(p.name + ".pdparams").is_file():
        p = p.with_name(p.name + ".pdparams")
    if p.is_file():
        return p
    if zoo.is_name(str(path)):
        return zoo.fetch(zoo.lookup(str(path)), progress=progress)
    raise ModelError(f"{p}: pretrained weights not found",
                     hint="give the path of a .pdparams file (PaddleClas or edgeclas checkpoint), "
                          "or a PaddleClas name such as PPLCNet_x1_0_ssld")


def load_pretrained(model, path: str | os.PathLike[str], *, progress: bool = True) -> PretrainedReport:
    """Load matching weights from ``path`` (a file, or a PaddleClas name from :mod:`.zoo`) into ``model``;
    report what did not match.

    A classifier (``fc.*``) whose shape differs (another class count) is re-initialised with the
    layer's own initialisers; other shape mismatches are reported and left as they are.
    """
    import numpy as np
    import paddle

    p = _resolve(path, progress=progress)
    state = read_state_dict(p)
    own = model.state_dict()
    report = PretrainedReport(path=str(p))
    to_load = {}
    for key, param in own.items():
        if key not in state:
            report.missing.append(key)
            continue
        value = np.asarray(state[key].numpy() if hasattr(state[key], "numpy") else state[key])
        want = list(param.shape)
        if list(value.shape) != want:
            report.mismatched.append((key, want, list(value.shape)))
            continue
        to_load[key] = value.astype(param.numpy().dtype, copy=False)
        report.loaded.append(key)
    report.unexpected = sorted(k for k in state if k not in own)
    with warnings.catch_warnings():  # Paddle warns per skipped key; the report already lists them
        warnings.simplefilter("ignore", UserWarning)
        model.set_state_dict(to_load)

    if any(k.startswith(CLASSIFIER_PREFIX) for k, _, _ in report.mismatched):
        fc = model.fc
        fresh = paddle.nn.Linear(fc.weight.shape[0], fc.weight.shape[1])
        fc.weight.set_value(fresh.weight)
        fc.bias.set_value(fresh.bias)
        report.reinitialized = [CLASSIFIER_PREFIX + "weight", CLASSIFIER_PREFIX + "bias"]
    return report
