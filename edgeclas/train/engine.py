"""The training loop and checkpoint evaluation (CPU, dygraph)."""

from __future__ import annotations

import logging
import math
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, DataError, ModelError, ValidationError
from ..fsutil import append_jsonl
from ..manifest import write_manifest
from ..models.distillation import DISTILLATION

__all__ = ["TrainResult", "train", "evaluate", "check_run_dir"]

log = logging.getLogger(__name__)
_ARCH_RESERVED = ("name", "class_num", "pretrained", "use_ssld", "use_sync_bn")


@dataclass
class TrainResult:
    run_dir: Path
    latest: Path
    best: Path
    epochs: int  # epochs completed, including any before --resume
    best_metrics: dict[str, float] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)
    images_per_sec: float = 0.0  # training throughput of this invocation
    pretrained: Any = None  # edgeclas.models.PretrainedReport when training started from weights


@dataclass
class _Data:
    train: list
    val: list
    labels: list[str]
    root: Path  # evaluation image root
    val_list: Path


def _resolve_data(cfg: dict[str, Any]) -> _Data:
    from ..data import check_labels_agree, read_label_list, read_list
    from ..data.info import DISTILL_LIST
    from ..data.lists import read_sample_list
    from .config import is_multilabel

    dl, class_num, multilabel = cfg["DataLoader"], cfg["Arch"]["class_num"], is_multilabel(cfg)
    distill = cfg["Arch"]["name"] == DISTILLATION
    ds_dir = cfg["Global"]["dataset_dir"]
    if ds_dir:  # an edgeclas dataset directory fills in the PaddleClas paths
        # a distillation trains on the list with the unlabelled images too, where the dataset has one
        train_list = DISTILL_LIST if distill and (Path(ds_dir) / DISTILL_LIST).is_file() else "train_list.txt"
        for split, name in (("Train", train_list), ("Eval", "val_list.txt")):
            dl[split]["dataset"]["image_root"] = str(ds_dir)
            dl[split]["dataset"]["cls_label_path"] = str(Path(ds_dir) / name)
            dl[split]["dataset"]["label_list"] = str(Path(ds_dir) / "label_list.txt")
    tr, ev = dl["Train"]["dataset"], dl["Eval"]["dataset"]
    label_file = ev["label_list"] or tr["label_list"]
    if label_file is None and (Path(ev["image_root"]) / "label_list.txt").is_file():
        label_file = str(Path(ev["image_root"]) / "label_list.txt")
    if label_file:
        labels = read_label_list(label_file)
        check_labels_agree(labels, label_file, class_num, "Arch.class_num")
    else:
        labels = [str(i) for i in range(class_num)]
    if tr["name"] == "CustomLabelDataset":  # labels come from an op (label_key), e.g. PULC's BlurImage
        train = read_sample_list(tr["sample_list_path"], tr["image_root"], tr["delimiter"])
    else:
        # images without a label only make sense to a teacher–student loss
        train = read_list(tr["cls_label_path"], tr["image_root"], class_num, multilabel, unlabelled=distill)
    # an empty validation list is allowed (a tiny dataset, --val-ratio 0): the run trains without evaluating
    val = read_list(ev["cls_label_path"], ev["image_root"], class_num, multilabel, allow_empty=True)
    if not val:
        log.warning("%s: no validation images: epochs are not evaluated and best/ is the last epoch",
                    ev["cls_label_path"])
    if class_num == 1:
        log.warning("Arch.class_num is 1: a one-class classifier can only ever answer '%s' (softmax of one "
                    "logit is 1.0)", labels[0])
    return _Data(train, val, labels, Path(ev["image_root"]).resolve(), Path(ev["cls_label_path"]).resolve())


def _pretrained_spec(cfg: dict[str, Any]) -> str | None:
    """The weights to start from: a path or a PaddleClas name; ``Arch.pretrained: True`` means the arch's own
    ImageNet weights (its SSLD ones with ``use_ssld``), as in PaddleClas recipes."""
    arch, g = cfg["Arch"], cfg["Global"]
    if arch["pretrained"] is True:
        return arch["name"] + ("_ssld" if arch["use_ssld"] else "")
    return arch["pretrained"] or g["pretrained_model"] or None


def _head(multilabel: bool):
    """Scores from logits: per-label sigmoid for multi-label, softmax over classes otherwise."""
    import paddle.nn.functional as F

    return F.sigmoid if multilabel else (lambda logits: F.softmax(logits, axis=-1))


def _is_better(key: str | None, new: dict[str, float], old: dict[str, float]) -> bool:
    from .metrics import LOWER_IS_BETTER

    if not old or key is None or key not in new:
        return not old
    if key not in old:
        return True
    return new[key] < old[key] if key in LOWER_IS_BETTER else new[key] > old[key]


def _seed_everything(seed: int) -> None:
    import paddle

    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def _predict(model, batches, loss_fn=None, multilabel: bool = False) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Scores (softmax, or sigmoid for multi-label) and labels over all batches, plus the mean ``loss_fn``."""
    import paddle

    head = _head(multilabel)
    probs, labels, loss_sum = [], [], 0.0
    with paddle.no_grad():
        for x, y in batches:
            logits = model(paddle.to_tensor(x))
            if loss_fn is not None:
                loss_sum += float(loss_fn(logits, paddle.to_tensor(y))) * len(y)
            probs.append(head(logits).numpy())
            labels.append(y)
    p, l = np.concatenate(probs), np.concatenate(labels)
    return p, l, (loss_sum / len(l) if loss_fn is not None else None)


def _rel_or_abs(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _checkpoint_body(cfg, data: _Data, epoch: int, metrics: dict[str, float], pre) -> dict[str, Any]:
    from .config import is_multilabel

    arch = cfg["Arch"]
    multilabel = is_multilabel(cfg)
    return {
        "model": {"arch": arch["name"], "class_num": arch["class_num"], "input_size": list(cfg["Global"]["image_shape"]),
                  "arch_kwargs": {k: v for k, v in arch.items() if k not in _ARCH_RESERVED},
                  "multilabel": multilabel, "head": "sigmoid" if multilabel else "softmax"},
        # PaddleClas's Infer.PostProcess (Topk / ThreshOutput / MultiLabelThreshOutput), applied after deployment
        "postprocess": cfg["Infer"]["PostProcess"],
        "preprocess": pre.to_dict(),
        "labels": data.labels,
        "dataset": {"root": str(data.root), "val_list": _rel_or_abs(data.val_list, data.root)},
        "epoch": epoch,
        "metrics": metrics,
        "recipe": cfg,
    }


def _progress(show: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]:.4f}  lr {task.fields[lr]:.5f}  {task.fields[ips]:.1f} img/s"),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=False, disable=not show)


def check_run_dir(run_dir: Path, resume: bool) -> None:
    if (run_dir / "latest").exists() and not resume:
        raise ConfigError(f"{run_dir}: already holds a run (latest/)",
                          hint="pass --resume to continue it, or choose another -o Global.output_dir=…")


def train(config_path: str | os.PathLike[str], overrides: list[str] = (), resume: bool = False,
          on_epoch: Callable[[dict[str, Any]], None] | None = None, *, nproc: int = 1, gpus: str | None = None,
          ips: str | None = None) -> TrainResult:
    """Train per the recipe; writes ``RUN_DIR/{latest,best}/``, ``metrics.jsonl`` and ``manifest.json``.

    ``resume`` continues from ``RUN_DIR/latest`` (weights, optimizer and LR schedule state). Without
    it an existing ``RUN_DIR/latest`` is an error, so a finished run is never overwritten by accident.

    ``on_epoch`` gets each epoch's ``metrics.jsonl`` record once it is written; an exception it raises
    ends the run there, checkpoints and metrics kept (``edgeclas search`` prunes trials this way).

    ``nproc`` > 1 (CPU processes), ``gpus`` ("0,1": one process per GPU) or ``ips`` (hosts of a
    multi-machine run) start the workers through ``paddle.distributed.launch``
    (:mod:`edgeclas.train.distributed`); the recipe's batch size is then per process.
    """
    if nproc < 1:
        raise ConfigError(f"--nproc must be ≥ 1, got {nproc}")
    if nproc > 1 or gpus is not None or ips is not None:
        if on_epoch is not None:
            raise ValueError("on_epoch runs in this process; it cannot follow workers started by the launcher")
        from .distributed import launch

        return launch(config_path, list(overrides), resume, nproc=nproc, gpus=gpus, ips=ips)
    from ..data.batch_ops import build_batch_transform
    from ..data.transforms import build_train_transform, eval_preprocess_config
    from .config import ignored_settings, is_multilabel, load_config
    from .distributed import current

    workers = current()  # rank and world size when the launcher started this process

    # Recipe and data are checked before paddle is imported: mistakes are reported in a second.
    cfg = load_config(config_path, list(overrides))
    for note in ignored_settings(cfg):
        log.warning("%s", note)
    g, arch, dl = cfg["Global"], cfg["Arch"], cfg["DataLoader"]
    multilabel = is_multilabel(cfg)
    with warnings.catch_warnings():  # paddle's import warns about ccache, which only matters for C++ extensions
        warnings.filterwarnings("ignore", message="No ccache found")
        from ..models import check_arch

        check_arch(arch["name"], {k: v for k, v in arch.items() if k not in _ARCH_RESERVED}, also=_ARCH_RESERVED)
    data = _resolve_data(cfg)
    transform = build_train_transform(dl["Train"]["dataset"]["transform_ops"], "DataLoader.Train.dataset.transform_ops")
    batch_ops = dl["Train"]["dataset"]["batch_transform_ops"]
    batch_transform = build_batch_transform(batch_ops, "DataLoader.Train.dataset.batch_transform_ops") if batch_ops else None
    train_spec = cfg["Metric"]["Train"]
    if batch_transform is not None and train_spec:
        # PaddleClas does the same: mixed soft labels have no class to be right about
        log.warning("Metric.Train: not computed with batch_transform_ops (Mixup/CutMix targets are soft)")
        train_spec = []
    pre = eval_preprocess_config(dl["Eval"]["dataset"]["transform_ops"], "DataLoader.Eval.dataset.transform_ops")
    run_dir = Path(g["output_dir"]).resolve()
    latest_dir, best_dir = run_dir / "latest", run_dir / "best"
    check_run_dir(run_dir, resume)

    with warnings.catch_warnings():  # paddle's import warns about ccache, which only matters for C++ extensions
        warnings.filterwarnings("ignore", message="No ccache found")
        import paddle

    from ..models import build_model, load_pretrained, read_state_dict
    from .checkpoint import OPTIMIZER, WEIGHTS, copy_checkpoint, load_optimizer_state, read_checkpoint, save_checkpoint
    from .distill import build_distill_loss
    from .distributed import barrier, gather, gpu_count
    from .loss import build_loss
    from .metrics import compute_metrics
    from .optim import build_optimizer

    device = g["device"]
    if device == "gpu" and not gpu_count():
        # PaddleClas recipes say `device: gpu`; --gpus, which asks for GPUs explicitly, refuses instead (launch)
        log.warning("Global.device=gpu: this Paddle sees no GPU, training on the CPU (--gpus 0,… requires one)")
        device = "cpu"
    paddle.set_device(device)
    if workers.world > 1:
        paddle.distributed.init_parallel_env()  # gloo on CPU, NCCL on GPUs (the launcher's choice)
    _seed_everything(g["seed"])  # after joining the group, which draws random numbers: same weights as 1 process
    model = build_model(arch["name"], arch["class_num"], **{k: v for k, v in arch.items() if k not in _ARCH_RESERVED})
    if arch["use_sync_bn"]:
        if device == "gpu" and workers.world > 1:
            model = paddle.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif workers.main:  # as PaddleClas: the setting is ignored off GPUs, and said so
            log.warning("Arch.use_sync_bn ignored: batch norm syncs across GPU processes only "
                        "(Paddle's CPU build has no sync_batch_norm kernel)")
    bs = dl["Train"]["sampler"]["batch_size"]  # per process, as PaddleClas's batch size per card
    per_rank = math.ceil(len(data.train) / workers.world)
    drop_last = dl["Train"]["sampler"]["drop_last"] and per_rank >= bs
    steps = per_rank // bs if drop_last else math.ceil(per_rank / bs)
    if g["steps_per_epoch"]:
        steps = min(steps, int(g["steps_per_epoch"]))
    if steps < 1:
        raise DataError(f"{data.train[0].where.rsplit(':', 1)[0]}: {len(data.train)} images make no batch of {bs}")

    # a DistillationModel's frozen models (the teacher) are left out of the optimizer altogether
    opt, sched = build_optimizer(cfg["Optimizer"], [p for p in model.parameters() if p.trainable], steps, g["epochs"])
    loss_fn = (build_distill_loss if arch["name"] == DISTILLATION else build_loss)(cfg["Loss"]["Train"], arch["class_num"])
    eval_loss_fn = build_loss(cfg["Loss"]["Eval"], arch["class_num"])
    infer = getattr(model, "infer_model", model)  # what is evaluated and exported: a distillation's student

    start, best_metrics, best_key, report = 1, {}, None, None
    last_metrics: dict[str, float] = {}
    if resume:
        if not latest_dir.is_dir():
            raise ModelError(f"{latest_dir}: nothing to resume", hint="run without --resume first")
        manifest = read_checkpoint(latest_dir, files=(WEIGHTS, OPTIMIZER))
        if manifest["model"]["arch"] != arch["name"] or manifest["model"]["class_num"] != arch["class_num"]:
            raise ConfigError(f"{latest_dir}: was trained as {manifest['model']['arch']}/{manifest['model']['class_num']} "
                              f"classes, the recipe asks for {arch['name']}/{arch['class_num']}")
        model.set_state_dict(read_state_dict(latest_dir / WEIGHTS))
        load_optimizer_state(latest_dir, model, opt)
        epoch = manifest.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ModelError(f"{latest_dir / 'manifest.json'}: epoch: {epoch!r} is not a count of epochs",
                             hint="start a new run: another -o Global.output_dir=…")
        start = epoch + 1
        last_metrics = dict(manifest.get("metrics") or {})
        if best_dir.is_dir():
            best_metrics = read_checkpoint(best_dir, files=()).get("metrics", {})
    else:
        pretrained = _pretrained_spec(cfg)
        if pretrained:
            report = load_pretrained(model, pretrained)
            log.info("pretrained %s", report.summary())
            if not report.complete:
                log.warning("pretrained weights cover the backbone only partly: missing %s, mismatched %s",
                            report.missing[:5], [k for k, _, _ in report.mismatched][:5])
        if arch["name"] == DISTILLATION:  # each model's own `pretrained` (the teacher's must fit whole)
            for key, member in model.load_member_weights().items():
                log.info("pretrained %s: %s", key, member.summary())
                report = member if key == model.infer_model_name else report

    # DataParallel averages the gradients of all ranks in backward(); `model` stays the plain network
    # for evaluation and checkpoints (parameter names without the wrapper's prefix).
    net = paddle.DataParallel(model) if workers.world > 1 else model

    eval_spec = cfg["Metric"]["Eval"]
    evaluating = g["eval_during_train"] and bool(data.val)
    head = _head(multilabel)
    images, seconds, started = 0, 0.0, time.perf_counter()
    with _progress(workers.main) as bar, warnings.catch_warnings():
        # BN in train mode always updates running statistics; paddle warns about it on every run
        warnings.filterwarnings("ignore", message="When training, we now always track global mean")
        for epoch in range(start, g["epochs"] + 1):
            # dropout per epoch (and rank), so a resumed epoch replays exactly
            paddle.seed((g["seed"] * 1000 + epoch) * workers.world + workers.rank)
            model.train()
            task = bar.add_task(f"epoch {epoch}/{g['epochs']}", total=steps, loss=0.0, lr=sched.get_lr(), ips=0.0)
            losses, train_probs, train_labels, seen, t0 = [], [], [], 0, time.perf_counter()
            batches = _train_batches(data, transform, bs, g["seed"], epoch, steps, dl, drop_last, workers,
                                     arch["class_num"], batch_transform)
            for step, (x, y) in enumerate(batches, 1):
                out = net(paddle.to_tensor(x))
                loss = loss_fn(out, paddle.to_tensor(y))
                logits = out[model.infer_model_name] if isinstance(out, dict) else out
                value = float(loss)
                if not math.isfinite(value):  # before backward: NaN must not reach the weights or best/
                    raise _diverged(config_path, f"epoch {epoch}, step {step}: the training loss is {value}",
                                    sched.get_lr(), latest_dir, epoch)
                loss.backward()
                opt.step()
                opt.clear_grad()
                sched.step()
                losses.append(value)
                if train_spec:
                    train_probs.append(head(logits.detach()).numpy())
                    train_labels.append(y)
                seen += len(y)
                if step % g["print_batch_step"] == 0 or step == steps:
                    bar.update(task, completed=step, loss=float(np.mean(losses[-g["print_batch_step"]:])),
                               lr=sched.get_lr(), ips=seen * workers.world / (time.perf_counter() - t0))
            # the epoch's train loss and metrics over every rank's shard
            shards = gather((losses, np.concatenate(train_probs) if train_probs else None,
                             np.concatenate(train_labels) if train_labels else None, seen), workers)
            seen = sum(n for *_, n in shards)
            dt = time.perf_counter() - t0
            images, seconds = images + seen, seconds + dt
            if not workers.main:  # rank 0 evaluates and writes; the others wait for it
                barrier(workers)
                continue
            record: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean([v for l, *_ in shards for v in l])),
                                      "lr": float(sched.get_lr()), "images_per_sec": seen / dt,
                                      "world_size": workers.world}
            if train_spec:
                probs, labels = np.concatenate([p for _, p, _, _ in shards]), np.concatenate([t for _, _, t, _ in shards])
                # the unlabelled images of a distillation list have no right answer
                known = labels >= 0 if labels.ndim == 1 else np.ones(len(labels), bool)
                train_metrics = compute_metrics(probs[known], labels[known], train_spec)
                record.update({f"train_{k}": v for k, v in train_metrics.items()})
            evaluated = evaluating and epoch >= g["start_eval_epoch"] and (
                epoch % g["eval_interval"] == 0 or epoch == g["epochs"])
            if evaluated:
                model.eval()
                probs, labels, eval_loss = _predict(infer, _eval_batches(data, pre, dl), eval_loss_fn, multilabel)
                # the recipe's metrics first: the first one decides which epoch is `best`
                last_metrics = {**compute_metrics(probs, labels, eval_spec), "loss": eval_loss}
                record.update({f"eval_{k}": v for k, v in last_metrics.items()})
                bar.console.print(f"epoch {epoch}: " + "  ".join(f"{k} {v:.4f}" for k, v in last_metrics.items()))
            if evaluated and not math.isfinite(last_metrics["loss"]):
                raise _diverged(config_path, f"epoch {epoch}: the evaluation loss is {last_metrics['loss']}",
                                sched.get_lr(), latest_dir, epoch)
            bad = next((n for n, p in model.named_parameters() if not bool(paddle.isfinite(p).all())), None)
            if bad is not None:  # the last step's update can overflow after its (finite) loss was computed
                raise _diverged(config_path, f"epoch {epoch}: parameter {bad} is no longer finite",
                                sched.get_lr(), latest_dir, epoch)
            body = _checkpoint_body(cfg, data, epoch, last_metrics if evaluated else {}, pre)
            save_checkpoint(latest_dir, model, opt, body)
            if g["save_interval"] and epoch % g["save_interval"] == 0:
                copy_checkpoint(latest_dir, run_dir / f"epoch_{epoch}")
            best_key = best_key or next(iter(last_metrics), None)
            better = evaluated and _is_better(best_key, last_metrics, best_metrics)
            if better or (not evaluating and epoch == g["epochs"]) or not best_dir.exists():
                copy_checkpoint(latest_dir, best_dir)
                if evaluated:
                    best_metrics = dict(last_metrics)
            record["elapsed_s"] = time.perf_counter() - started  # this invocation's wall time, evaluation included
            append_jsonl(run_dir / "metrics.jsonl", record)
            barrier(workers)
            if on_epoch is not None:
                on_epoch(record)

    if workers.main:
        write_manifest(run_dir, "run", {
            "run": {"recipe_file": str(Path(config_path).resolve()), "overrides": list(overrides),
                    "epochs": g["epochs"], "world_size": workers.world, "best_metrics": best_metrics,
                    "last_metrics": last_metrics, "latest": "latest", "best": "best"},
            "recipe": cfg,
        }, files=["metrics.jsonl"] if (run_dir / "metrics.jsonl").is_file() else [])
    return TrainResult(run_dir, latest_dir, best_dir, g["epochs"], best_metrics, last_metrics,
                       images / seconds if seconds else 0.0, report)


def _diverged(config_path: str | os.PathLike[str], what: str, lr: float, latest_dir: Path, epoch: int) -> ValidationError:
    """The error that stops a diverged run; nothing of ``epoch`` was saved, earlier checkpoints are kept."""
    kept = (f"{latest_dir} still holds the last good epoch ({epoch - 1}); fix the recipe and continue it with --resume"
            if latest_dir.is_dir() else "no checkpoint was written")
    return ValidationError(f"{config_path}: training diverged at {what}; stopped, epoch {epoch} was not saved",
                           hint=f"lower the learning rate (now {lr:g}: -o Optimizer.lr.learning_rate=…) or check the "
                                f"data; {kept}")


def _train_batches(data: _Data, transform, bs: int, seed: int, epoch: int, steps: int, dl: dict[str, Any],
                   drop_last: bool, workers, class_num: int, batch_transform=None):
    from ..data.dataset import train_batches

    return train_batches(data.train, transform, bs, seed, epoch, steps, drop_last=drop_last,
                         shuffle=dl["Train"]["sampler"]["shuffle"], class_num=class_num,
                         batch_transform=batch_transform, rank=workers.rank, world=workers.world)


def _eval_batches(data: _Data, pre, dl: dict[str, Any]):
    from ..data.dataset import eval_batches

    return eval_batches(data.val, pre, dl["Eval"]["sampler"]["batch_size"])


def evaluate(checkpoint_dir: str | os.PathLike[str], list_file: str | os.PathLike[str] | None = None,
             root: str | os.PathLike[str] | None = None, batch_size: int = 32, *,
             verify: bool = True) -> dict[str, float]:
    """Metrics of a checkpoint on its validation list (or ``list_file``, paths relative to ``root``).

    Preprocessing is the checkpoint's (``edgeclas.preprocess``), metrics are its recipe's ``Metric.Eval``.
    Returns e.g. ``{"top1": 0.9, "top2": 1.0, "loss": 0.31, "images": 40}`` (loss: the recipe's ``Loss.Eval``).
    """
    from ..data import read_list
    from ..data.dataset import eval_batches
    from ..preprocess import PreprocessConfig
    from .checkpoint import load_model
    from .loss import build_loss
    from .metrics import compute_metrics

    model, manifest = load_model(checkpoint_dir, verify=verify)
    multilabel = bool(manifest["model"].get("multilabel"))
    ds = manifest.get("dataset", {})
    root = Path(root) if root is not None else Path(ds.get("root", "."))
    lst = Path(list_file) if list_file is not None else root / ds.get("val_list", "val_list.txt")
    items = read_list(lst, root, int(manifest["model"]["class_num"]), multilabel)
    pre = PreprocessConfig.from_dict(manifest["preprocess"], str(Path(checkpoint_dir) / "manifest.json"))
    recipe = manifest.get("recipe", {})
    loss_spec = recipe.get("Loss", {}).get("Eval") or [{"MultiLabelLoss" if multilabel else "CELoss": {"weight": 1.0}}]
    probs, labels, loss = _predict(model, eval_batches(items, pre, batch_size),
                                   build_loss(loss_spec, int(manifest["model"]["class_num"])), multilabel)
    spec = recipe.get("Metric", {}).get("Eval") or ([{"mAP": {}}] if multilabel else [{"TopkAcc": {"topk": [1]}}])
    out = {**compute_metrics(probs, labels, spec), "loss": loss, "images": len(items)}
    return out
