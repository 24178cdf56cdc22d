"""Training recipes: PaddleClas-style YAML (the subset edgeclas implements), ``-o`` overrides, validation.

Every key edgeclas understands is in :data:`DEFAULTS` with its default value (which also fixes its
type). ``None`` means "optional, no default". Unknown keys are rejected with the closest valid key.
``Arch`` also takes the chosen architecture's constructor options (checked by ``build_model``).
Ops lists (``Loss.*``, ``Metric.*``, ``DataLoader.*.dataset.transform_ops``) are PaddleClas's
one-key mappings, e.g. ``- CELoss: {epsilon: 0.1}``.

PaddleClas's own recipes (the PULC ones included) load unchanged apart from their paths: keys for
things edgeclas does differently (GPUs, worker processes, VisualDL, …) are accepted, and
:func:`ignored_settings` names every one whose value asks for something edgeclas does not do, with
the reason (``train`` prints them).

Overrides: ``-o Optimizer.lr.learning_rate=0.05``; values are parsed with :func:`ast.literal_eval`
(``[1, 5]``, ``True``, ``0.1``; anything else is a string), never ``eval``; a number in the path
indexes a list (``Loss.Train.0.CELoss.epsilon=0.2``).
"""

from __future__ import annotations

import ast
import copy
import difflib
import inspect
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..fsutil import read_yaml
from .distill import DISTILL_LOSSES, check_distillation

__all__ = ["DEFAULTS", "LOSSES", "METRICS", "MULTILABEL_METRICS", "POSTPROCESS", "load_config", "apply_override",
           "validate", "ignored_settings", "is_multilabel"]

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
        "device": "cpu",                 # str: "cpu", or "gpu" (a CUDA build of Paddle and a GPU; --gpus sets it); a
                                         # recipe's "gpu" where none exists trains on the CPU and says so
        "eval_during_train": True,       # bool
        "eval_interval": 1,              # int: epochs between evaluations (and `best` updates)
        "print_batch_step": 10,          # int: steps between progress-bar refreshes of loss/lr
        "image_shape": [3, 224, 224],    # list: network input, CHW
        "pretrained_model": None,        # str: .pdparams to start from (same as Arch.pretrained)
        "dataset_dir": None,             # str: an edgeclas dataset dir; fills image_root/cls_label_path/label_list
        "steps_per_epoch": None,         # int: cap on steps per epoch (quick runs); null = whole train list
        "start_eval_epoch": 0,           # int: no evaluation before this epoch
        "save_interval": None,           # int: also keep RUN_DIR/epoch_N every N epochs; null = latest/ and best/ only
        "use_multilabel": False,         # bool: 0/1 label vectors, sigmoid head (MultiLabelDataset implies it)
        # PaddleClas keys accepted so its recipes load; see ignored_settings() for what they do here
        "checkpoints": None,             # str: PaddleClas's resume path; edgeclas resumes with --resume
        "use_visualdl": False,           # bool: VisualDL logging (edgeclas writes metrics.jsonl)
        "save_inference_dir": None,      # str: PaddleClas's export folder (edgeclas export --out chooses it)
        "to_static": False,              # bool: PaddleClas's static-graph training
        "use_dali": False,               # bool: NVIDIA DALI loading
    },
    "Arch": {
        "name": "PPLCNet_x1_0",          # str: a name from edgeclas.models.ARCHS
        "class_num": 1000,               # int
        "pretrained": None,              # str|bool: a .pdparams, or a PaddleClas name (PPLCNet_x1_0_ssld); True: this
                                         # arch's ImageNet weights (SSLD with use_ssld); classifier re-initialised
        "use_ssld": False,               # bool: with pretrained: True, the SSLD weights
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
                        "transform_ops": ops,
                        # CustomLabelDataset (PULC clarity): a list of images, labels made by an op (label_key)
                        "sample_list_path": None, "label_key": None, "delimiter": None,
                        **({"batch_transform_ops": None} if split == "Train" else {})},
            "sampler": {"name": "DistributedBatchSampler", "batch_size": bs, "drop_last": split == "Train",
                        "shuffle": split == "Train"},
            "loader": {"num_workers": 0, "use_shared_memory": False},  # PaddleClas's; loading is in-process
        }
        for split, ops, bs in (("Train", _TRAIN_OPS_DEFAULT, 64), ("Eval", _EVAL_OPS_DEFAULT, 64))
    },
    "Metric": {
        "Train": [{"TopkAcc": {"topk": [1]}}],
        "Eval": [{"TopkAcc": {"topk": [1, 5]}}],
    },
    "Infer": {
        "infer_imgs": None,              # str: PaddleClas's images for `infer` (edgeclas predict --images)
        "batch_size": 1,                 # int
        "transforms": None,              # list: must describe the Eval preprocessing (what is deployed)
        "PostProcess": None,             # mapping: {name: Topk|ThreshOutput|MultiLabelThreshOutput, ...}; recorded
                                         # in the checkpoint, applied by predict/verify/deploy and clas_system
    },
}


def _arguments(table: dict[str, type], skip: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """name → {argument: default}, read from the constructors of a table of named classes."""
    out = {}
    for name, cls in table.items():
        params = inspect.signature(cls.__init__).parameters.values()
        out[name] = {p.name: p.default for p in params if p.name not in ("self", *skip)
                     and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return out


def _tables():
    from . import loss, metrics

    every = _arguments(metrics.METRICS)
    return ({**_arguments(loss.LOSSES, skip=("class_num",)), **DISTILL_LOSSES},
            {k: v for k, v in every.items() if k not in metrics.MULTILABEL},
            {k: v for k, v in every.items() if k in metrics.MULTILABEL})


# Op tables for the list sections: name → {argument: default} (the classes in train/loss.py, train/metrics.py).
LOSSES, METRICS, MULTILABEL_METRICS = _tables()
POSTPROCESS: dict[str, dict[str, Any]] = {
    "Topk": {"topk": 1, "class_id_map_file": None, "delimiter": None},
    "ThreshOutput": {"threshold": 0.5, "label_0": "0", "label_1": "1"},
    "MultiLabelThreshOutput": {"threshold": 0.5, "class_id_map_file": None, "delimiter": None},
}
_DATASETS = {"ImageNetDataset": ("Train", "Eval"), "CustomLabelDataset": ("Train",), "MultiLabelDataset": ("Train", "Eval")}
# Names kept from PaddleClas recipes; only these values are implemented.
_CHOICES = {("Optimizer", "name"): ["Momentum"], ("Optimizer", "lr", "name"): ["Cosine"],
            ("Optimizer", "regularizer", "name"): ["L2"], ("Global", "device"): ["cpu", "gpu"],
            **{("DataLoader", s, "dataset", "name"): [d for d, splits in _DATASETS.items() if s in splits]
               for s in ("Train", "Eval")},
            **{("DataLoader", s, "sampler", "name"): ["DistributedBatchSampler", "BatchSampler"]
               for s in ("Train", "Eval")}}


# Keys whose default is ``None`` ("not set"): the type(s) a set value must have.
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "Global.pretrained_model": str, "Global.dataset_dir": str, "Global.steps_per_epoch": int,
    "Global.save_interval": int, "Global.checkpoints": str, "Global.save_inference_dir": str,
    "Arch.pretrained": (str, bool), "Optimizer.clip_norm": float,
    **{f"DataLoader.{s}.dataset.{k}": str for s in ("Train", "Eval")
       for k in ("label_list", "sample_list_path", "label_key", "delimiter")},
    "DataLoader.Train.dataset.batch_transform_ops": list,
    "Infer.infer_imgs": str, "Infer.transforms": list, "Infer.PostProcess": dict,
}


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
        wants = want if isinstance(want, tuple) else (want,)
        accepted = tuple({float: (int, float)}.get(w, (w,)) for w in wants)
        flat = tuple(t for group in accepted for t in group)
        if user is not None and (not isinstance(user, flat) or (isinstance(user, bool) and bool not in wants)):
            raise ConfigError(f"{where}: expected {' or '.join(w.__name__ for w in wants)} or null, got {user!r}")
    elif not _type_ok(user, defaults):
        raise ConfigError(f"{where}: expected {type(defaults).__name__}, got {user!r}")
    return copy.deepcopy(user)


def is_multilabel(cfg: dict[str, Any]) -> bool:
    """Multi-label training: ``Global.use_multilabel`` or a ``MultiLabelDataset`` (PaddleClas's two switches)."""
    return bool(cfg["Global"]["use_multilabel"]) or any(
        cfg["DataLoader"][s]["dataset"]["name"] == "MultiLabelDataset" for s in ("Train", "Eval"))


def _check_task(out: dict[str, Any], multilabel: bool) -> None:
    """Loss, metrics, datasets and post-processing must all be single-label or all multi-label."""
    want_loss = "MultiLabelLoss" if multilabel else "CELoss"
    kind = "multi-label" if multilabel else "single-label"
    for name in ("Train", "Eval"):
        for i, entry in enumerate(out["Loss"][name]):
            (loss, args), = entry.items()
            if loss in DISTILL_LOSSES and not multilabel:
                continue  # placement and model names: check_distillation
            if loss != want_loss:
                raise ConfigError(f"Loss.{name}.{i}: {loss} does not fit a {kind} recipe",
                                  hint=f"use {want_loss}" + (" (distillation trains single-label models here)"
                                                             if loss in DISTILL_LOSSES else ""))
            if (args or {}).get("weight_ratio"):
                raise ConfigError(f"Loss.{name}.{i}.MultiLabelLoss.weight_ratio: not implemented",
                                  hint="set it to False (it needs per-label positive ratios from the dataset)")
        table, other = (MULTILABEL_METRICS, METRICS) if multilabel else (METRICS, MULTILABEL_METRICS)
        for i, entry in enumerate(out["Metric"][name]):
            metric = next(iter(entry))
            if metric in other:
                raise ConfigError(f"Metric.{name}.{i}: {metric} is a {'single' if multilabel else 'multi'}-label metric, "
                                  f"this recipe is {kind}", hint=f"use one of: {', '.join(table)}")
    for split in ("Train", "Eval"):
        ds = out["DataLoader"][split]["dataset"]
        if multilabel and ds["name"] != "MultiLabelDataset":
            raise ConfigError(f"DataLoader.{split}.dataset.name: a multi-label recipe reads MultiLabelDataset lists "
                              f"('path 0,1,0'), got {ds['name']}")
        if ds["name"] == "CustomLabelDataset":
            from ..data.transforms import LABEL_KEYS

            if not ds["sample_list_path"]:
                raise ConfigError(f"DataLoader.{split}.dataset.sample_list_path: CustomLabelDataset needs the list "
                                  "of images (one path per line)")
            key = ds["label_key"]
            if key not in LABEL_KEYS:
                raise ConfigError(f"DataLoader.{split}.dataset.label_key: '{key}' is made by no op",
                                  hint=f"labels can come from: {', '.join(f'{k} ({v})' for k, v in LABEL_KEYS.items())}")
            if not any(LABEL_KEYS[key] in op for op in ds["transform_ops"]):
                raise ConfigError(f"DataLoader.{split}.dataset.label_key: '{key}' needs {LABEL_KEYS[key]} in "
                                  "transform_ops")
    post = out["Infer"]["PostProcess"]
    if post is not None:
        name = post.get("name")
        if name not in POSTPROCESS:
            raise ConfigError(f"Infer.PostProcess.name: unknown '{name}'", hint=_near(str(name), list(POSTPROCESS)))
        for key in post:
            if key != "name" and key not in POSTPROCESS[name]:
                raise ConfigError(f"Infer.PostProcess.{key}: not an argument of {name}",
                                  hint=_near(key, list(POSTPROCESS[name])))
        if (name == "MultiLabelThreshOutput") != multilabel:
            raise ConfigError(f"Infer.PostProcess.name: {name} does not fit a {kind} recipe",
                              hint="use MultiLabelThreshOutput" if multilabel else "use Topk or ThreshOutput")
        if name == "ThreshOutput" and out["Arch"]["class_num"] != 2:
            raise ConfigError(f"Infer.PostProcess: ThreshOutput is for 2 classes, Arch.class_num is "
                              f"{out['Arch']['class_num']}")
        thr = post.get("threshold", POSTPROCESS[name].get("threshold"))
        if thr is not None and (isinstance(thr, bool) or not isinstance(thr, (int, float)) or not 0 <= thr <= 1):
            raise ConfigError(f"Infer.PostProcess.threshold must be a number in 0..1, got {thr!r}")


def validate(cfg: dict[str, Any]) -> dict[str, Any]:
    """Merge with :data:`DEFAULTS` and check everything that can be checked without data or paddle."""
    from ..data.batch_ops import build_batch_transform
    from ..data.transforms import build_train_transform, eval_preprocess_config

    out = _merge(DEFAULTS, cfg, "")
    for section, name in (("Loss", "Train"), ("Loss", "Eval")):
        _check_ops(out[section][name], LOSSES, f"{section}.{name}")
    for name in ("Train", "Eval"):
        _check_ops(out["Metric"][name], {**METRICS, **MULTILABEL_METRICS}, f"Metric.{name}")
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
    for key in ("steps_per_epoch", "save_interval"):
        if g[key] is not None and g[key] < 1:
            raise ConfigError(f"Global.{key} must be ≥ 1 or null, got {g[key]}")
    if g["checkpoints"]:
        raise ConfigError(f"Global.checkpoints: edgeclas resumes a run from Global.output_dir, not from "
                          f"'{g['checkpoints']}'", hint="pass --resume (it continues RUN_DIR/latest)")
    shape = g["image_shape"]
    if len(shape) != 3 or shape[0] != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
        raise ConfigError(f"Global.image_shape must be [3, H, W], got {shape}")
    if g["pretrained_model"] and out["Arch"]["pretrained"] not in (None, False):
        raise ConfigError("set either Global.pretrained_model or Arch.pretrained, not both")
    if not isinstance(out["Arch"]["class_num"], int) or out["Arch"]["class_num"] < 1:
        raise ConfigError(f"Arch.class_num must be a positive integer, got {out['Arch']['class_num']!r}")
    for split in ("Train", "Eval"):
        if out["DataLoader"][split]["sampler"]["batch_size"] < 1:
            raise ConfigError(f"DataLoader.{split}.sampler.batch_size must be ≥ 1")
    for key in ("shuffle", "drop_last"):
        if out["DataLoader"]["Eval"]["sampler"][key]:
            raise ConfigError(f"DataLoader.Eval.sampler.{key} must be False: evaluation uses every image, in order")
    _check_task(out, is_multilabel(out))
    train_ds = out["DataLoader"]["Train"]["dataset"]
    build_train_transform(train_ds["transform_ops"], "DataLoader.Train.dataset.transform_ops")
    if train_ds["batch_transform_ops"] is not None:
        build_batch_transform(train_ds["batch_transform_ops"], "DataLoader.Train.dataset.batch_transform_ops")
    pre = eval_preprocess_config(out["DataLoader"]["Eval"]["dataset"]["transform_ops"],
                                 "DataLoader.Eval.dataset.transform_ops")
    if [3, pre.crop_size, pre.crop_size] != shape:
        raise ConfigError(f"DataLoader.Eval CropImage size {pre.crop_size} does not match Global.image_shape {shape}",
                          hint="make them agree (the exported model takes image_shape)")
    if out["Infer"]["transforms"] is not None:
        eval_preprocess_config(out["Infer"]["transforms"], "Infer.transforms")
    return out


def ignored_settings(cfg: dict[str, Any]) -> list[str]:
    """One line per setting of a validated recipe that asks for something edgeclas does not do, and why."""
    from ..data.transforms import eval_preprocess_config

    g, notes = cfg["Global"], []
    for key, why in (("use_visualdl", "metrics go to RUN_DIR/metrics.jsonl"), ("to_static", "training runs in dygraph"),
                     ("use_dali", "DALI loads data on NVIDIA GPUs only")):
        if g[key]:
            notes.append(f"Global.{key}=True: ignored, {why}")
    if g["save_inference_dir"]:
        notes.append(f"Global.save_inference_dir={g['save_inference_dir']}: ignored, "
                     "`edgeclas export CHECKPOINT --out DIR` writes the inference model")
    for split in ("Train", "Eval"):
        loader = cfg["DataLoader"][split]["loader"]
        if loader["num_workers"] or loader["use_shared_memory"]:
            notes.append(f"DataLoader.{split}.loader (num_workers={loader['num_workers']}, use_shared_memory="
                         f"{loader['use_shared_memory']}): ignored, images are decoded in the training process")
    infer = cfg["Infer"]
    if infer["infer_imgs"]:
        notes.append(f"Infer.infer_imgs={infer['infer_imgs']}: ignored by train; classify images with "
                     "`edgeclas predict MODEL_DIR --images PATH`")
    if infer["transforms"] is not None:
        want = eval_preprocess_config(cfg["DataLoader"]["Eval"]["dataset"]["transform_ops"], "Eval")
        got = eval_preprocess_config(infer["transforms"], "Infer.transforms")
        if got != want:
            notes.append("Infer.transforms: differ from DataLoader.Eval's; the exported model records (and every "
                         f"engine applies) the Eval preprocessing: {want.to_dict()}")
    post = infer["PostProcess"] or {}
    for key in ("class_id_map_file", "delimiter"):
        if post.get(key):
            notes.append(f"Infer.PostProcess.{key}: ignored, label names come from the dataset's label_list")
    return notes


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
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: recipe not found", hint="see training/*.yaml for examples")
    raw = read_yaml(p, "recipe") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: a recipe is a mapping of sections (Global, Arch, ...)")
    for o in overrides:
        apply_override(raw, o)
    try:
        return validate(raw)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e.message}", hint=e.hint) from None
