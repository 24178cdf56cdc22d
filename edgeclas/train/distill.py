"""Distillation losses (PaddleClas's names and arguments) over a DistillationModel's ``{model: logits}``.

| loss | what | PaddleClas |
|---|---|---|
| ``DistillationGTCELoss`` | cross-entropy of each of ``model_names`` with the ground truth | ``loss/distillationloss.py`` |
| ``DistillationCELoss`` | cross-entropy of the first of each pair with the second's softmax as soft label | same |
| ``DistillationDMLLoss`` | symmetric KL (SKL) of each pair, after ``act`` (softmax or sigmoid) | ``loss/dmlloss.py`` |
| ``DistillationKLDivLoss`` | KL(second ‖ first) at ``temperature`` T, × T² | ``loss/kldivloss.py`` |

Images a distillation list gives without a label (SKL-UGI's general images) count only in the
model-to-model losses: the ground-truth loss averages over the labelled images of a batch (zero when
it has none). The second model of a CE or KL pair is the target and gets no gradient from it (a
frozen teacher has none anyway); DML, mutual learning, trains both models of a pair.
``epsilon`` smooths labels: the ground truth as ``CELoss`` does, and for ``DistillationCELoss`` the
target's probabilities (PaddleClas applies it to the target's logits).
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConfigError, did_you_mean

__all__ = ["DISTILL_LOSSES", "GT_LOSSES", "check_distillation", "build_distill_loss"]

DISTILL_LOSSES: dict[str, dict[str, Any]] = {
    "DistillationGTCELoss": {"weight": 1.0, "model_names": [], "epsilon": None},
    "DistillationCELoss": {"weight": 1.0, "model_name_pairs": [], "epsilon": None},
    "DistillationDMLLoss": {"weight": 1.0, "model_name_pairs": [], "act": "softmax", "sum_across_class_dim": False},
    "DistillationKLDivLoss": {"weight": 1.0, "model_name_pairs": [], "temperature": 4.0},
}
GT_LOSSES = ("DistillationGTCELoss",)  # the losses that read labels


def _names(args: dict[str, Any], where: str, keys: list[str]) -> None:
    """``model_names`` / ``model_name_pairs`` must name models of ``Arch.models``."""
    if "model_names" in args:
        names = args["model_names"]
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{where}.model_names: expected a list of model names like [Student]")
        flat = names
    else:
        pairs = args.get("model_name_pairs")
        if not isinstance(pairs, list) or not pairs or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ConfigError(f"{where}.model_name_pairs: expected a list of pairs like [[Student, Teacher]]")
        flat = [n for p in pairs for n in p]
        if any(a == b for a, b in pairs):
            raise ConfigError(f"{where}.model_name_pairs: a model paired with itself")
    for n in flat:
        if n not in keys:
            raise ConfigError(f"{where}: '{n}' is not one of Arch.models", hint=did_you_mean(str(n), keys, "models"))


def check_distillation(cfg: dict[str, Any]) -> None:
    """Distillation losses go with a DistillationModel and name its models; the eval loss is the plain one."""
    from ..models.distillation import DISTILLATION, parse_members

    arch = cfg["Arch"]
    train_losses = cfg["Loss"]["Train"]
    if arch["name"] != DISTILLATION:
        for i, entry in enumerate(train_losses + cfg["Loss"]["Eval"]):
            name = next(iter(entry))
            if name in DISTILL_LOSSES:
                raise ConfigError(f"Loss: {name} compares the models of a DistillationModel",
                                  hint="set Arch.name: DistillationModel with Arch.models, or use CELoss")
        return
    members = parse_members(arch["class_num"], arch.get("models"), arch.get("freeze_params_list"),
                            arch.get("infer_model_name"), arch.get("pretrained_list"))
    keys = [m.key for m in members]
    for i, entry in enumerate(train_losses):
        (name, args), = entry.items()
        if name not in DISTILL_LOSSES:
            raise ConfigError(f"Loss.Train.{i}: {name} takes one network's output; a DistillationModel has {len(keys)}",
                              hint=f"use DistillationGTCELoss with model_names: [{arch['infer_model_name']}] "
                                   "for the ground truth")
        _names(args or {}, f"Loss.Train.{i}.{name}", keys)
        if name == "DistillationDMLLoss" and (args or {}).get("act", "softmax") not in ("softmax", "sigmoid", None):
            raise ConfigError(f"Loss.Train.{i}.{name}.act: '{args['act']}' is not softmax, sigmoid or null")
    for i, entry in enumerate(cfg["Loss"]["Eval"]):
        name = next(iter(entry))
        if name in DISTILL_LOSSES:
            raise ConfigError(f"Loss.Eval.{i}: {name}: evaluation scores the {arch['infer_model_name']} alone",
                              hint="use CELoss")


def build_distill_loss(spec: list[dict[str, Any]], class_num: int) -> Callable:
    """Weighted sum of the listed losses: ``loss({model: logits}, labels) -> scalar tensor``."""
    import paddle
    import paddle.nn.functional as F

    def soft_ce(logits, target_probs):
        return paddle.mean(paddle.sum(-F.log_softmax(logits, axis=-1) * target_probs, axis=-1))

    def gt_ce(logits, labels, eps):
        labelled = paddle.nonzero(labels >= 0).flatten()
        if labelled.shape[0] == 0:  # a batch of unlabelled images only: nothing to compare with
            return paddle.sum(logits) * 0.0
        logits, labels = paddle.gather(logits, labelled), paddle.gather(labels, labelled)
        if eps:
            return soft_ce(logits, F.one_hot(labels, class_num) * (1.0 - eps) + eps / class_num)
        return paddle.mean(F.cross_entropy(logits, labels))

    def dml(a, b, act, sum_classes):
        if act == "softmax":
            a, b = F.softmax(a, axis=-1), F.softmax(b, axis=-1)
        elif act == "sigmoid":
            a, b = F.sigmoid(a), F.sigmoid(b)
        eps = 1e-12

        def kl(x, t):  # PaddleClas's per-element KL term, scaled by the class count
            return t * paddle.log((t + eps) / (x + eps)) * x.shape[-1]

        cost = (kl(a, b) + kl(b, a)) / 2
        return paddle.mean(paddle.sum(cost, axis=1)) if sum_classes else paddle.mean(cost)

    def kldiv(student, teacher, t):
        p_s = F.log_softmax(student / t, axis=1)
        p_t = F.softmax(teacher.detach() / t, axis=1)
        return F.kl_div(p_s, p_t, reduction="sum") * (t ** 2) / student.shape[0]

    terms: list[tuple[float, Callable]] = []
    for entry in spec:
        (name, args), = entry.items()
        a = {**DISTILL_LOSSES[name], **(args or {})}
        w = float(a["weight"])
        if name == "DistillationGTCELoss":
            terms += [(w, lambda out, y, n=n, e=a["epsilon"]: gt_ce(out[n], y, e)) for n in a["model_names"]]
        elif name == "DistillationCELoss":
            def ce(out, y, s, t, e=a["epsilon"]):
                p = F.softmax(out[t].detach(), axis=-1)
                return soft_ce(out[s], p * (1.0 - e) + e / class_num if e else p)
            terms += [(w, lambda out, y, s=s, t=t: ce(out, y, s, t)) for s, t in a["model_name_pairs"]]
        elif name == "DistillationDMLLoss":
            terms += [(w, lambda out, y, s=s, t=t, act=a["act"], sc=a["sum_across_class_dim"]: dml(out[s], out[t], act, sc))
                      for s, t in a["model_name_pairs"]]
        else:
            terms += [(w, lambda out, y, s=s, t=t, T=float(a["temperature"]): kldiv(out[s], out[t], T))
                      for s, t in a["model_name_pairs"]]

    def loss(outputs: dict[str, Any], labels):
        total = 0.0
        for weight, term in terms:
            total = total + weight * term(outputs, labels)
        return total

    return loss
