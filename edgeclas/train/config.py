"""Training recipes: PaddleClas-style YAML (the subset edgeclas implements), ``-o`` overrides, validation.

Every key edgeclas understands is in :data:`DEFAULTS` with its default value (which also fixes its
type). ``None`` means "optional, no default". Unknown keys are rejected with the closest valid key.
``Arch`` also takes the chosen architecture's constructor options (checked by ``build_model``).
Ops lists (``Loss.*``, ``Metric.*``, ``DataLoader.*.dataset.transform_ops``) are PaddleClas's
one-key mappings, e.g. ``- CELoss: {epsilon: 0.1}``.

Overrides: ``-o Optimizer.lr.learning_rate=0.05``; values are parsed with :func:`ast.literal_eval`
(``[1, 5]``, ``True``, ``0.1``; anything else is a string), never ``eval``; a number in the path
indexes a list (``Loss.Train.0.CELoss.epsilon=0.2``).
"""

from __future__ import annotations

import ast
import copy
import difflib
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .distill import DISTILL_LOSSES, check_distillation

__all__ = ["DEFAULTS", "LOSSES", "METRICS", "load_config", "apply_override", "validate"]

_TRAIN_OPS_DEFAULT = [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
                      {"RandCropImage": {"size": 224}}, {"RandFlipImage": {"flip_code": 1}},
                      {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.485, 0.456, 0.406],
                                          "std": [0.229, 0.224, 0.225], "order": ""}}]
_EVAL_OPS_DEFAULT = [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
                     {"ResizeImage": {"resize_short": 256}}, {"CropImage": {"size": 224}},
                     {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.485, 0.456, 0.406],
                                         "std": [0.229, 0.224, 0.225], "order": ""}}]

DEFAULTS: dict[str, Any] = {
    "Global": {
        "output_dir": "./output/",       # str: run directory (checkpoints, metrics.jsonl, manifest.json)
        "epochs": 10,                    # int
        "seed": 42,                      # int: weights init, shuffling and augmentation
        "device": "cpu",                 # str: "cpu", or "gpu" (a CUDA build of Paddle and a GPU; --gpus sets it)
        "eval_during_train": True,       # bool
        "eval_interval": 1,              # int: epochs between evaluations (and `best` updates)
        "print_batch_step": 10,          # int: steps between progress-bar refreshes of loss/lr
        "image_shape": [3, 224, 224],    # list: network input, CHW
        "pretrained_model": None,        # str: .pdparams to start from (same as Arch.pretrained)
        "dataset_dir": None,             # str: an edgeclas dataset dir; fills image_root/cls_label_path/label_list
        "steps_per_epoch": None,         # int: cap on steps per epoch (quick runs); null = whole train list
    },
    "Arch": {
        "name": "PPLCNet_x1_0",          # str: a name from edgeclas.models.ARCHS
        "class_num": 1000,               # int
        "pretrained": None,              # str: .pdparams; classifier re-initialised when class_num differs
        "use_sync_bn": False,            # bool: batch norm statistics over all GPU processes (--gpus); none on CPU
    },
    "Loss": {
        "Train": [{"CELoss": {"weight": 1.0, "epsilon": 0.1}}],
        "Eval": [{"CELoss": {"weight": 1.0}}],
    },
    "Optimizer": {
        "name": "Momentum",
        "momentum": 0.9,
        "lr": {"name": "Cosine", "learning_rate": 0.1, "eta_min": 0.0, "warmup_epoch": 0,
               "warmup_start_lr": 0.0},
        "regularizer": {"name": "L2", "coeff": 3e-5},
        "clip_norm": None,               # float: clip each gradient tensor to this L2 norm (PaddleClas's clip_norm)
    },
    "DataLoader": {
        split: {
            "dataset": {"name": "ImageNetDataset", "image_root": "./dataset/",
                        "cls_label_path": f"./dataset/{split.lower()}_list.txt", "label_list": None,
                        "transform_ops": ops},
            "sampler": {"name": "DistributedBatchSampler", "batch_size": bs, "drop_last": split == "Train",
                        "shuffle": split == "Train"},
        }
        for split, ops, bs in (("Train", _TRAIN_OPS_DEFAULT, 64), ("Eval", _EVAL_OPS_DEFAULT, 64))
    },
    "Metric": {
        "Train": [{"TopkAcc": {"topk": [1]}}],
        "Eval": [{"TopkAcc": {"topk": [1, 5]}}],
    },
}

# Op tables for the list sections: name → {argument: default}.
LOSSES: dict[str, dict[str, Any]] = {"CELoss": {"weight": 1.0, "epsilon": 0.0}, **DISTILL_LOSSES}
METRICS: dict[str, dict[str, Any]] = {"TopkAcc": {"topk": [1, 5]}, "TprAtFpr": {"max_fpr": 0.001}}
# Names kept from PaddleClas recipes; only these values are implemented (data loading is single-process).
_CHOICES = {("Optimizer", "name"): ["Momentum"], ("Optimizer", "lr", "name"): ["Cosine"],
            ("Optimizer", "regularizer", "name"): ["L2"], ("Global", "device"): ["cpu", "gpu"],
            **{("DataLoader", s, "dataset", "name"): ["ImageNetDataset"] for s in ("Train", "Eval")},
            **{("DataLoader", s, "sampler", "name"): ["DistributedBatchSampler", "BatchSampler"]
               for s in ("Train", "Eval")}}


# Keys whose default is ``None`` ("not set"): the type a set value must have.
_OPTIONAL = {"Global.pretrained_model": str, "Global.dataset_dir": str, "Global.steps_per_epoch": int,
             "Arch.pretrained": str, "Optimizer.clip_norm": float, "DataLoader.Train.dataset.label_list": str,
             "DataLoader.Eval.dataset.label_list": str}


def _near(key: str, valid: list[str]) -> str:
    m = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f"did you mean '{m[0]}'?" if m else f"valid keys: {', '.join(valid)}"


def _type_ok(value: Any, default: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))


def _check_ops(value: Any, table: dict[str, dict[str, Any]], where: str) -> None:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a list like '- {next(iter(table))}: {{...}}'")
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}.{i}: each entry is a one-key mapping, e.g. '- {next(iter(table))}: {{}}'")
        for name in entry:  # an unknown name first: a mistyped -o adds a second key beside the right one
            if name not in table:
                raise ConfigError(f"{where}.{i}: unknown '{name}'", hint=_near(str(name), list(table)))
        if len(entry) != 1:
            raise ConfigError(f"{where}.{i}: each entry is a one-key mapping, e.g. '- {next(iter(table))}: {{}}'")
        (name, args), = entry.items()
        for k in args or {}:
            if k not in table[name]:
                raise ConfigError(f"{where}.{i}.{name}.{k}: unknown argument", hint=_near(k, list(table[name])))


def _merge(defaults: Any, user: Any, where: str) -> Any:
    """Defaults overlaid with the user's values, rejecting unknown keys and wrong types on the way."""
    if isinstance(defaults, dict):
        if not isinstance(user, dict):
            raise ConfigError(f"{where or 'recipe'}: expected a mapping, got {user!r}")
        out = copy.deepcopy(defaults)
        for key, value in user.items():
            path = f"{where}.{key}" if where else str(key)
            if key not in defaults:
                if where == "Arch":  # architecture options, checked against the arch by build_model
                    out[key] = value
                    continue
                raise ConfigError(f"{path}: unknown key", hint=_near(str(key), list(defaults)))
            out[key] = _merge(defaults[key], value, path)
        return out
    if defaults is None and where in _OPTIONAL:
        want = _OPTIONAL[where]
        accepted = (int, float) if want is float else want
        if user is not None and (not isinstance(user, accepted) or isinstance(user, bool)):
            raise ConfigError(f"{where}: expected {want.__name__} or null, got {user!r}")
    elif not _type_ok(user, defaults):
        raise ConfigError(f"{where}: expected {type(defaults).__name__}, got {user!r}")
    return copy.deepcopy(user)


def validate(cfg: dict[str, Any]) -> dict[str, Any]:
    """Merge with :data:`DEFAULTS` and check everything that can be checked without data or paddle."""
    from ..data.transforms import build_train_transform, eval_preprocess_config

    out = _merge(DEFAULTS, cfg, "")
    for section, name in (("Loss", "Train"), ("Loss", "Eval")):
        _check_ops(out[section][name], LOSSES, f"{section}.{name}")
    for name in ("Train", "Eval"):
        _check_ops(out["Metric"][name], METRICS, f"Metric.{name}")
    check_distillation(out)
    for path, choices in _CHOICES.items():
        node = out
        for p in path:
            node = node[p]
        if node not in choices:
            raise ConfigError(f"{'.'.join(path)}: '{node}' is not supported", hint=f"use one of: {', '.join(choices)}")
    g = out["Global"]
    for key in ("epochs", "eval_interval", "print_batch_step"):
        if g[key] < 1:
            raise ConfigError(f"Global.{key} must be ≥ 1, got {g[key]}")
    if g["steps_per_epoch"] is not None and g["steps_per_epoch"] < 1:
        raise ConfigError(f"Global.steps_per_epoch must be ≥ 1 or null, got {g['steps_per_epoch']}")
    shape = g["image_shape"]
    if len(shape) != 3 or shape[0] != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
        raise ConfigError(f"Global.image_shape must be [3, H, W], got {shape}")
    if g["pretrained_model"] and out["Arch"]["pretrained"]:
        raise ConfigError("set either Global.pretrained_model or Arch.pretrained, not both")
    if not isinstance(out["Arch"]["class_num"], int) or out["Arch"]["class_num"] < 1:
        raise ConfigError(f"Arch.class_num must be a positive integer, got {out['Arch']['class_num']!r}")
    for split in ("Train", "Eval"):
        if out["DataLoader"][split]["sampler"]["batch_size"] < 1:
            raise ConfigError(f"DataLoader.{split}.sampler.batch_size must be ≥ 1")
    for key in ("shuffle", "drop_last"):
        if out["DataLoader"]["Eval"]["sampler"][key]:
            raise ConfigError(f"DataLoader.Eval.sampler.{key} must be False: evaluation uses every image, in order")
    build_train_transform(out["DataLoader"]["Train"]["dataset"]["transform_ops"], "DataLoader.Train.dataset.transform_ops")
    pre = eval_preprocess_config(out["DataLoader"]["Eval"]["dataset"]["transform_ops"],
                                 "DataLoader.Eval.dataset.transform_ops")
    if [3, pre.crop_size, pre.crop_size] != shape:
        raise ConfigError(f"DataLoader.Eval CropImage size {pre.crop_size} does not match Global.image_shape {shape}",
                          hint="make them agree (the exported model takes image_shape)")
    return out


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word or path


def apply_override(cfg: dict[str, Any], override: str) -> None:
    """Apply one ``Key.Sub=Value`` in place (new keys are created here and judged by :func:`validate`)."""
    if "=" not in override:
        raise ConfigError(f"-o {override}: expected Key.Sub=Value")
    path, text = override.split("=", 1)
    keys = path.strip().split(".")
    if not all(keys):
        raise ConfigError(f"-o {override}: empty key in '{path}'")
    node: Any = cfg
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"-o {override}: '{key}' is not an index of {'.'.join(keys[:i])} (0..{len(node) - 1})")
            if last:
                node[int(key)] = _parse_value(text)
            else:
                node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = _parse_value(text)
            else:
                node = node.setdefault(key, {})
        else:
            raise ConfigError(f"-o {override}: {'.'.join(keys[:i])} is a value, not a section")


def load_config(path: str | os.PathLike[str], overrides: list[str] = ()) -> dict[str, Any]:
    """Read a recipe, apply overrides, validate; returns the fully resolved config."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: recipe not found", hint="see training/*.yaml for examples")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{p}{line}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: a recipe is a mapping of sections (Global, Arch, ...)")
    for o in overrides:
        apply_override(raw, o)
    try:
        return validate(raw)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e.message}", hint=e.hint) from None
