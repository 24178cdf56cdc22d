"""PaddleClas's ``DistillationModel`` recipe section, read and checked without Paddle.

    Arch:
      name: DistillationModel
      class_num: 2
      freeze_params_list: [True, False]      # per model: weights kept as loaded (the teacher)
      infer_model_name: Student              # the one `edgeclas export` writes
      models:
        - Teacher: {name: ResNet50_vd, pretrained: runs/teacher/best}
        - Student: {name: PPLCNet_x0_25, pretrained: PPLCNet_x0_25_pretrained.pdparams}

Every model classifies ``Arch.class_num`` classes (a teacher with another class count cannot teach
them). ``pretrained`` is a ``.pdparams`` file or an edgeclas checkpoint directory; ``pretrained_list``
(PaddleClas's per-model list) may give the same. The network is
:class:`edgeclas.models.distillation_model.DistillationModel`; its parameters are named after the
models' keys (``Teacher.blocks.0.conv0.conv.weight``), as in PaddleClas's checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, did_you_mean

__all__ = ["DISTILLATION", "Member", "parse_members", "infer_member", "member_prefix"]

DISTILLATION = "DistillationModel"
_MEMBER_RESERVED = ("name", "class_num", "pretrained")


@dataclass(frozen=True)
class Member:
    key: str  # the model's name in the recipe ("Teacher", "Student"), also its parameters' prefix
    arch: str
    kwargs: dict[str, Any] = field(default_factory=dict)  # the architecture's own options
    frozen: bool = False
    pretrained: str | None = None


def parse_members(class_num: int, models: Any, freeze_params_list: Any = None, infer_model_name: Any = None,
                  pretrained_list: Any = None) -> list[Member]:
    """The ``Arch.models`` of a DistillationModel as :class:`Member` rows; every mistake a ConfigError."""
    if not isinstance(models, list) or len(models) < 2:
        raise ConfigError("Arch.models: a DistillationModel needs a list of at least two models",
                          hint="e.g. - Teacher: {name: ResNet50_vd}  - Student: {name: PPLCNet_x0_25}")
    for name, value in (("freeze_params_list", freeze_params_list), ("pretrained_list", pretrained_list)):
        if value is not None and (not isinstance(value, list) or len(value) != len(models)):
            raise ConfigError(f"Arch.{name}: expected a list of {len(models)} values (one per model), got {value!r}")
    if freeze_params_list is not None and not all(isinstance(v, bool) for v in freeze_params_list):
        raise ConfigError(f"Arch.freeze_params_list: expected True/False per model, got {freeze_params_list!r}")
    members: list[Member] = []
    for i, entry in enumerate(models):
        where = f"Arch.models.{i}"
        if not isinstance(entry, dict) or len(entry) != 1 or not isinstance(next(iter(entry.values())), dict):
            raise ConfigError(f"{where}: expected a one-key mapping like '- Teacher: {{name: ResNet50_vd}}'")
        (key, spec), = entry.items()
        where = f"{where}.{key}"
        if key in (m.key for m in members):
            raise ConfigError(f"{where}: the name {key} is used twice", hint="name each model once")
        arch = spec.get("name")
        if not isinstance(arch, str):
            raise ConfigError(f"{where}.name: an architecture name is required, e.g. ResNet50_vd")
        if arch == DISTILLATION:
            raise ConfigError(f"{where}.name: a DistillationModel cannot hold another one")
        own = spec.get("class_num", class_num)
        if own != class_num:
            raise ConfigError(f"{where}.class_num: {own} classes, but Arch.class_num is {class_num}",
                              hint="teacher and student must classify the same classes: train the teacher on this "
                                   "task first, and give every model Arch.class_num")
        pretrained = spec.get("pretrained")
        listed = pretrained_list[i] if pretrained_list is not None else None
        if pretrained is not None and listed is not None:
            raise ConfigError(f"{where}.pretrained and Arch.pretrained_list.{i} are both set", hint="keep one")
        pretrained = pretrained if pretrained is not None else listed
        if pretrained is not None and not isinstance(pretrained, str):
            raise ConfigError(f"{where}.pretrained: expected the path of weights (.pdparams or a checkpoint "
                              f"directory), got {pretrained!r}",
                              hint="PaddleClas's 'pretrained: True' downloads; here give the file you downloaded")
        kwargs = {k: v for k, v in spec.items() if k not in _MEMBER_RESERVED}
        members.append(Member(key, arch, kwargs, bool(freeze_params_list[i]) if freeze_params_list else False,
                              pretrained))
    keys = [m.key for m in members]
    if infer_model_name is None:
        raise ConfigError("Arch.infer_model_name: which model export writes is not set",
                          hint=f"set it to one of: {', '.join(keys)} (usually the student)")
    if infer_model_name not in keys:
        raise ConfigError(f"Arch.infer_model_name: '{infer_model_name}' is not one of the models",
                          hint=did_you_mean(str(infer_model_name), keys, "models"))
    if all(m.frozen for m in members):
        raise ConfigError("Arch.freeze_params_list: every model is frozen, nothing would train")
    return members


def infer_member(model_section: dict[str, Any]) -> Member | None:
    """The member a checkpoint's ``model`` section exports (None for an ordinary model)."""
    if model_section.get("arch") != DISTILLATION:
        return None
    kw = dict(model_section.get("arch_kwargs") or {})
    members = parse_members(int(model_section["class_num"]), kw.get("models"), kw.get("freeze_params_list"),
                            kw.get("infer_model_name"), kw.get("pretrained_list"))
    return next(m for m in members if m.key == kw["infer_model_name"])


def member_prefix(member: Member) -> str:
    """How the member's parameter names start in the DistillationModel's state dict."""
    return f"{member.key}."
