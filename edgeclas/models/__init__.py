"""Backbones with PaddleClas parameter names, built from one table.

>>> model = build_model("PPLCNet_x0_25", class_num=2)          # doctest: +SKIP
>>> report = load_pretrained(model, "PPLCNet_x0_25_pretrained.pdparams")  # doctest: +SKIP

Every arch is a row of :data:`ARCHS` (family + fixed constructor arguments); recipe keys under
``Arch`` other than ``name`` and ``class_num`` are passed through as ``**kw`` and checked against
the family's constructor, so a typo is a :class:`ConfigError` naming the closest valid key.
``DistillationModel`` (PaddleClas's teacher + student under one ``Arch``, :mod:`.distillation`) is
built by the same function from its ``models`` list.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, did_you_mean
from ._pretrained import PretrainedReport, load_pretrained, read_state_dict
from .distillation import DISTILLATION

__all__ = ["ARCHS", "ArchSpec", "arch_options", "build_model", "check_arch", "load_pretrained", "read_state_dict",
           "PretrainedReport", "reparameterize"]


@dataclass(frozen=True)
class ArchSpec:
    family: str  # "pp_lcnet" | "pp_lcnet_v2" | "mobilenet_v3" | "resnet_vd"
    fixed: dict[str, Any] = field(default_factory=dict)


def _scales(prefix: str, family: str, scales: dict[str, float], **extra: Any) -> dict[str, ArchSpec]:
    return {f"{prefix}_x{tag}": ArchSpec(family, {"scale": s, **extra}) for tag, s in scales.items()}


_LCNET_SCALES = {"0_25": 0.25, "0_35": 0.35, "0_5": 0.5, "0_75": 0.75, "1_0": 1.0, "1_5": 1.5, "2_0": 2.0, "2_5": 2.5}
_MNV3_SCALES = {"0_35": 0.35, "0_5": 0.5, "0_75": 0.75, "1_0": 1.0, "1_25": 1.25}

ARCHS: dict[str, ArchSpec] = {
    **_scales("PPLCNet", "pp_lcnet", _LCNET_SCALES),
    "PPLCNetV2_small": ArchSpec("pp_lcnet_v2", {"scale": 0.75, "depths": (2, 2, 4, 2)}),
    "PPLCNetV2_base": ArchSpec("pp_lcnet_v2", {"scale": 1.0, "depths": (2, 2, 6, 2)}),
    "PPLCNetV2_large": ArchSpec("pp_lcnet_v2", {"scale": 1.25, "depths": (2, 2, 8, 2)}),
    **_scales("MobileNetV3_small", "mobilenet_v3", _MNV3_SCALES, size="small"),
    **_scales("MobileNetV3_large", "mobilenet_v3", _MNV3_SCALES, size="large"),
    # Teacher-sized models for distillation (SSLD, PULC's SKL-UGI).
    **{f"ResNet{d}_vd": ArchSpec("resnet_vd", {"depth": d}) for d in (18, 34, 50, 101)},
}


def _family_class(family: str):
    # Imported on demand: paddle is heavy and only needed once a model is actually built.
    if family == "pp_lcnet":
        from .pp_lcnet import PPLCNet

        return PPLCNet
    if family == "pp_lcnet_v2":
        from .pp_lcnet_v2 import PPLCNetV2

        return PPLCNetV2
    if family == "mobilenet_v3":
        from .mobilenet_v3 import MobileNetV3

        return MobileNetV3
    from .resnet_vd import ResNetVd

    return ResNetVd


def _spec(arch: str) -> ArchSpec:
    spec = ARCHS.get(arch)
    if spec is None:
        raise ConfigError(f"Arch.name: unknown architecture '{arch}'", hint=did_you_mean(arch, [*ARCHS, DISTILLATION]))
    return spec


def _class(arch: str):
    if arch == DISTILLATION:
        from .distillation_model import DistillationModel

        return DistillationModel
    return _family_class(_spec(arch).family)


def arch_options(arch: str) -> list[str]:
    """The optional constructor arguments ``arch`` takes as ``Arch`` keys (``dropout_prob``, ``lr_mult_list``…)."""
    fixed = () if arch == DISTILLATION else tuple(_spec(arch).fixed)
    return [p for p in inspect.signature(_class(arch).__init__).parameters if p not in ("self", "class_num", *fixed)]


def check_arch(arch: str, kw: dict[str, Any], also: tuple[str, ...] = ()):
    """The class of ``arch`` after checking the option names ``kw`` (``also``: other valid keys of the
    ``Arch`` section, offered as nearest names); a wrong name is a :class:`ConfigError` with the closest one."""
    allowed = arch_options(arch)
    for key in kw:
        if key not in allowed:
            hint = did_you_mean(key, allowed + list(also))
            if arch == DISTILLATION:  # a single-model recipe turned into a distillation one keeps its options
                hint = f"a member's option goes under it: Arch.models.N.<Name>.{key}; {hint}"
            raise ConfigError(f"Arch.{key}: not an option of {arch}", hint=hint)
    return _class(arch)


def build_model(arch: str, class_num: int, **kw: Any):
    """A freshly initialised ``paddle.nn.Layer`` for ``arch`` with a ``class_num``-way classifier.

    ``kw`` are the family's optional constructor arguments (e.g. ``dropout_prob``,
    ``class_expand``, ``use_last_conv``, ``lr_mult_list`` for PP-LCNet).
    """
    if not isinstance(class_num, int) or isinstance(class_num, bool) or class_num < 1:
        raise ConfigError(f"Arch.class_num must be a positive integer, got {class_num!r}")
    cls = check_arch(arch, kw)
    fixed = {} if arch == DISTILLATION else _spec(arch).fixed
    return cls(class_num=class_num, **fixed, **kw)


def reparameterize(model) -> None:
    """Fuse re-parameterised branches (PP-LCNetV2) before export; a no-op for other families."""
    from .pp_lcnet_v2 import reparameterize as _rep

    _rep(model)
