"""PaddleClas's published ImageNet weights by name: ``PPLCNet_x1_0`` (ImageNet) or ``PPLCNet_x1_0_ssld``.

The names and addresses are PaddleClas's (``MODEL_URLS`` of ``ppcls/arch/backbone/legendary_models/``
``pp_lcnet.py``, ``pp_lcnet_v2.py``, ``mobilenet_v3.py``, ``resnet.py``, and the SSLD files of its model list):
``<base>/<arch>_pretrained.pdparams`` and ``<base>/<arch>_ssld_pretrained.pdparams``. A file is
downloaded once into ``cache_dir("pretrained")``; PaddleClas publishes no digests, so a download is
checked by the size the server announces and by loading it as a ``.pdparams`` state dict.
``$EDGECLAS_PRETRAINED_URL`` replaces the base address (a mirror, or the tests' local server).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..paths import cache_dir

__all__ = ["BASE_URL", "BASE_URL_ENV", "PRETRAINED", "PretrainedWeights", "lookup", "is_name", "fetch"]

BASE_URL = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/"
BASE_URL_ENV = "EDGECLAS_PRETRAINED_URL"


@dataclass(frozen=True)
class PretrainedWeights:
    name: str  # the name a recipe uses: "PPLCNet_x1_0" or "PPLCNet_x1_0_ssld"
    arch: str  # the edgeclas.models.ARCHS entry the weights are for
    file: str  # PaddleClas's file name

    @property
    def url(self) -> str:
        return os.environ.get(BASE_URL_ENV, BASE_URL).rstrip("/") + "/" + self.file

    @property
    def cached(self) -> Path:
        return cache_dir("pretrained", self.file)


_LCNET = ("0_25", "0_35", "0_5", "0_75", "1_0", "1_5", "2_0", "2_5")
_MNV3 = ("0_35", "0_5", "0_75", "1_0", "1_25")
_IMAGENET = ([f"PPLCNet_x{s}" for s in _LCNET] + [f"PPLCNetV2_{s}" for s in ("small", "base", "large")]
             + [f"MobileNetV3_{size}_x{s}" for size in ("small", "large") for s in _MNV3]
             + [f"ResNet{d}_vd" for d in (18, 34, 50, 101)])  # the distillation teachers
# Archs PaddleClas also publishes SSLD (semi-supervised distillation) weights for.
_SSLD = ("PPLCNet_x0_25", "PPLCNet_x0_5", "PPLCNet_x1_0", "PPLCNet_x2_5", "PPLCNetV2_base",
         "MobileNetV3_small_x0_35", "MobileNetV3_small_x1_0", "MobileNetV3_large_x1_0",
         "ResNet34_vd", "ResNet50_vd", "ResNet101_vd")

PRETRAINED: dict[str, PretrainedWeights] = {
    **{a: PretrainedWeights(a, a, f"{a}_pretrained.pdparams") for a in _IMAGENET},
    **{f"{a}_ssld": PretrainedWeights(f"{a}_ssld", a, f"{a}_ssld_pretrained.pdparams") for a in _SSLD},
}


def _canonical(name: str) -> str:
    # PaddleClas's file stems ("PPLCNet_x1_0_ssld_pretrained") name the same weights.
    name = name.removesuffix(".pdparams")
    return name.removesuffix("_pretrained")


def is_name(spec: str) -> bool:
    """Whether ``spec`` reads as a name rather than a path (no directory part, no ``.pdparams``)."""
    return "/" not in spec and os.sep not in spec and not spec.endswith(".pdparams")


def lookup(name: str, where: str = "Arch.pretrained") -> PretrainedWeights:
    """The table entry for ``name``; an unknown name is a :class:`ModelError` listing the nearest ones."""
    entry = PRETRAINED.get(_canonical(name))
    base = _canonical(name).removesuffix("_ssld")
    if entry is None and base != _canonical(name) and base in PRETRAINED:
        raise ModelError(f"{where}: PaddleClas publishes no SSLD weights for {base}",
                         hint=f"use its ImageNet weights, {base}, or one of: "
                              + ", ".join(n for n in PRETRAINED if n.endswith("_ssld")))
    if entry is None:
        near = difflib.get_close_matches(_canonical(name), list(PRETRAINED), n=4, cutoff=0.6)
        raise ModelError(f"{where}: '{name}' is neither a file nor one of PaddleClas's pretrained names",
                         hint=(f"nearest names: {', '.join(near)}" if near else
                               "names look like PPLCNet_x1_0 or PPLCNet_x1_0_ssld (see docs/training.md)")
                         + "; or give the path of a .pdparams file")
    return entry


def _check_pdparams(path: Path) -> None:
    import paddle

    try:
        state = paddle.load(str(path))
    except Exception as e:  # paddle raises assorted types for foreign or truncated files
        raise ModelError(f"{path}: the download is not a .pdparams file ({type(e).__name__}: {e})",
                         hint="the server sent something else (an error page?); check the address "
                              f"(${BASE_URL_ENV} if set) and retry") from None
    if not isinstance(state, dict) or not state:
        raise ModelError(f"{path}: the download is not a state dict of weights",
                         hint=f"check the address (${BASE_URL_ENV} if set) and retry")


def fetch(entry: PretrainedWeights, *, progress: bool = True) -> Path:
    """The cached file of ``entry``, downloaded first when missing (resumable; atomic; checked)."""
    from ..sdk.download import DownloadError, fetch_url

    if entry.cached.is_file():
        return entry.cached
    try:
        return fetch_url(entry.url, entry.cached, validate=_check_pdparams, progress=progress,
                         what=f"{entry.name} weights")
    except DownloadError as e:
        raise ModelError(f"pretrained {entry.name}: {e.message}",
                         hint=e.hint if e.hint else f"offline: download {entry.file} from {entry.url} elsewhere and "
                                                    f"place it at {entry.cached}") from None
