"""The ``DistillationModel`` network: its models side by side, one output per model.

``forward(x)`` returns ``{key: logits}`` for every model. A frozen model's parameters are not
trainable, but it runs in the same mode as the others: in training its batch norm normalises with
the batch and updates its statistics, as PaddleClas's SSLD does (its teacher in train mode gave the
better students). Evaluation and export use :attr:`infer_model` alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import paddle.nn as nn

from ..errors import ConfigError, ModelError
from ._pretrained import CLASSIFIER_PREFIX, PretrainedReport, load_pretrained
from .distillation import Member, parse_members

__all__ = ["DistillationModel"]


class DistillationModel(nn.Layer):
    def __init__(self, class_num: int, models: list[dict[str, Any]], freeze_params_list: list[bool] | None = None,
                 infer_model_name: str | None = None, pretrained_list: list[str | None] | None = None) -> None:
        from . import build_model

        super().__init__()
        self.members: list[Member] = parse_members(class_num, models, freeze_params_list, infer_model_name,
                                                   pretrained_list)
        self.infer_model_name = infer_model_name
        for i, m in enumerate(self.members):
            try:
                net = build_model(m.arch, class_num, **m.kwargs)
            except ConfigError as e:  # name the member: "Arch.dropout_prb" alone would not say which model
                raise ConfigError(f"Arch.models.{i}.{m.key}: {e.message.removeprefix('Arch.')}", hint=e.hint) from None
            if m.frozen:
                for p in net.parameters():
                    p.trainable = False
            self.add_sublayer(m.key, net)

    @property
    def infer_model(self) -> nn.Layer:
        return getattr(self, self.infer_model_name)

    def forward(self, x) -> dict[str, Any]:
        return {m.key: getattr(self, m.key)(x) for m in self.members}

    def load_member_weights(self) -> dict[str, PretrainedReport]:
        """Load each model's ``pretrained`` weights. A frozen model must take them whole: a teacher with a
        re-initialised classifier or missing layers would teach noise."""
        reports = {}
        for i, m in enumerate(self.members):
            if m.pretrained is None:
                continue
            path = _weights_file(m, i)
            report = load_pretrained(getattr(self, m.key), path)
            if m.frozen and (report.missing or report.mismatched):
                fc = [(k, want, got) for k, want, got in report.mismatched if k.startswith(CLASSIFIER_PREFIX)]
                if fc:
                    raise ConfigError(f"Arch.models.{i}.{m.key}.pretrained: {path} classifies {fc[0][2][-1]} classes, "
                                      f"the distillation {fc[0][1][-1]}",
                                      hint="a frozen teacher must be trained on this task: train it first "
                                           f"(edgeclas train -o Arch.name={m.arch}) and give its checkpoint")
                raise ModelError(f"Arch.models.{i}.{m.key}.pretrained: {path} does not fit {m.arch} "
                                 f"({len(report.missing)} missing, {len(report.mismatched)} of another shape)",
                                 hint="a frozen model must load every weight; check the file and the architecture")
            reports[m.key] = report
        return reports


def _weights_file(m: Member, index: int) -> Path:
    """``pretrained`` as given, or ``model.pdparams`` of an edgeclas checkpoint directory (its arch checked)."""
    p = Path(m.pretrained)
    if not p.is_dir():
        return p
    from ..manifest import read_manifest

    model = read_manifest(p, "checkpoint").get("model", {})
    if model.get("arch") != m.arch:
        raise ConfigError(f"Arch.models.{index}.{m.key}.pretrained: {p} holds a {model.get('arch')}, "
                          f"the recipe asks for {m.arch}", hint=f"set Arch.models.{index}.{m.key}.name: {model.get('arch')}")
    return p / "model.pdparams"
