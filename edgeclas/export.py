"""``edgeclas export``: a training checkpoint → Paddle inference programs (legacy and/or PIR).

The exported network ends in a softmax (as PaddleClas's export does), or a sigmoid per label for a
multi-label model, so every engine, host or device, returns probabilities. The input is ``x`` of
shape ``[None, C, H, W]``: dynamic batch. The manifest records how scores become answers
(``postprocess``: PaddleClas's ``Infer.PostProcess``, with ``threshold`` chosen at export when asked).

Each format is saved by a child Python process: Paddle 3.x writes the legacy ``.pdmodel`` that
Paddle Lite's opt needs only when ``FLAGS_enable_pir_api=0`` is in the environment *before*
``import paddle`` (FINDINGS), and a child per format also keeps paddle out of the caller's process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from .errors import ConfigError, ModelError
from .fsutil import atomic_write_text, staging_dir
from .manifest import read_manifest, write_manifest
from .model_dir import PostProcess
from .models.distillation import infer_member, member_prefix

__all__ = ["FORMATS", "export", "resolve_postprocess"]

# format → (file suffix of the program, FLAGS_enable_pir_api for the child process)
FORMATS: dict[str, tuple[str, str]] = {
    "legacy": (".pdmodel", "0"),
    "pir": (".json", "1"),
}

_CHILD_TIMEOUT_S = 600


def resolve_postprocess(manifest: dict[str, Any], threshold: str | float | None = None,
                        where: str = "checkpoint") -> tuple[PostProcess, str]:
    """The post-processing to record for a checkpoint, and where it came from.

    ``threshold``: ``None`` keeps the recipe's ``Infer.PostProcess`` (default ``Topk``, or
    ``MultiLabelThreshOutput`` 0.5 for a multi-label model); a number in 0..1 sets it (a binary model then
    decides with ``ThreshOutput``); ``"auto"`` takes the threshold at which the checkpoint's evaluation
    reached the recipe's TPR at FPR (``TprAtFpr`` in ``Metric.Eval``; binary models).
    """
    model = manifest["model"]
    multilabel, class_num = bool(model.get("multilabel")), int(model["class_num"])
    rec = dict(manifest.get("postprocess") or {})
    name = rec.get("name") or ("MultiLabelThreshOutput" if multilabel else "Topk")
    topk = int(rec.get("topk") or (1 if rec.get("name") == "Topk" else 5))
    if threshold is None:
        thr = rec.get("threshold") if name != "Topk" else None
        return PostProcess(name, topk, None if thr is None else float(thr)), "recipe" if rec else "default"
    if threshold == "auto":
        import numpy as np

        keys = [k for k in (manifest.get("metrics") or {}) if k.startswith("threshold@fpr=")]
        if multilabel or class_num != 2:
            raise ConfigError("--threshold auto: picks the threshold at the recipe's FPR, for binary models only",
                              hint="give a number, e.g. --threshold 0.5")
        if not keys:
            raise ConfigError(f"--threshold auto: the {where} has no TPR-at-FPR measurement",
                              hint="add '- TprAtFpr: {max_fpr: 0.01}' to Metric.Eval and train (or re-evaluate) again, "
                                   "or give a number")
        t = float(manifest["metrics"][keys[0]])
        # TprAtFpr counts score > t as positive; PaddleClas's ThreshOutput takes score >= threshold: record
        # the next float32 above t, so both rules agree on every float32 score an engine returns.
        thr = float(np.nextafter(np.float32(t), np.float32(np.inf)))
        return PostProcess("ThreshOutput", topk, thr), f"auto: {keys[0].split('@')[1]} of the {where}"
    try:
        value = float(threshold)
    except ValueError:
        raise ConfigError(f"--threshold {threshold!r}: expected 'auto' or a number between 0 and 1") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"--threshold {value}: must be between 0 and 1")
    if multilabel:
        return PostProcess("MultiLabelThreshOutput", topk, value), "--threshold"
    return PostProcess("ThreshOutput" if class_num == 2 else "Topk", topk, value), "--threshold"


def export(
    checkpoint_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    formats: Sequence[str] = ("legacy", "pir"),
    name: str | None = None,
    threshold: str | float | None = None,
    *,
    verify: bool = True,
) -> Path:
    """Export ``checkpoint_dir`` (``kind: "checkpoint"``) into the model directory ``out``.

    ``threshold``: see :func:`resolve_postprocess`. The checkpoint's weights are checked against its
    manifest first (``verify``); each saved program is loaded back with Paddle Inference and must give
    the checkpoint's own probabilities before it is recorded. ``out`` appears only when every format was
    written (built in a staging directory). Returns ``out``.
    """
    from .train.checkpoint import WEIGHTS, read_checkpoint

    ckpt = Path(checkpoint_dir)
    out = Path(out)
    formats = tuple(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(
            f"unknown export format(s): {', '.join(unknown) or '(none given)'}",
            hint=f"use a comma-separated subset of: {', '.join(FORMATS)}",
        )
    if (ckpt / "best" / "manifest.json").is_file() and not (ckpt / "model.pdparams").is_file():
        raise ModelError(f"{ckpt}: is a training run, not a checkpoint",
                         hint=f"export {ckpt / 'best'} (best validation metric) or {ckpt / 'latest'}")
    read_manifest(ckpt, "checkpoint")
    _check_replaceable(out)  # before the checkpoint's own checks: never risk a folder that is not a model
    manifest = read_checkpoint(ckpt, verify=verify)
    params = ckpt / WEIGHTS
    try:
        model = manifest["model"]
        spec = {
            "params": str(params.resolve()),
            "arch": str(model["arch"]),
            "class_num": int(model["class_num"]),
            "arch_kwargs": dict(model.get("arch_kwargs") or {}),
            "input_size": [int(x) for x in model["input_size"]],
            "head": "sigmoid" if model.get("multilabel") else "softmax",
        }
        preprocess = dict(manifest["preprocess"])
        member = infer_member(model)
    except (KeyError, TypeError, ValueError, ConfigError) as e:
        raise ModelError(f"{ckpt / 'manifest.json'}: malformed checkpoint manifest ({type(e).__name__}: {e})") from None
    distillation = None
    if member is not None:  # a DistillationModel exports its infer_model_name member (the student) alone
        models = [next(iter(m.items())) for m in spec["arch_kwargs"]["models"]]
        distillation = {"infer_model_name": member.key, "models": {key: m["name"] for key, m in models}}
        spec.update(arch=member.arch, arch_kwargs=member.kwargs, state_prefix=member_prefix(member))
    post, post_source = resolve_postprocess(manifest, threshold, where=f"checkpoint {ckpt}")
    labels = [str(x) for x in manifest.get("labels") or range(spec["class_num"])]
    name = name or out.name

    with staging_dir(out) as tmp:
        files: list[str] = []
        sections: dict[str, Any] = {}
        for fmt in formats:
            suffix, pir_flag = FORMATS[fmt]
            _run_child(dict(spec, prefix=str(tmp / fmt / "inference"), program=f"inference{suffix}"), pir_flag, ckpt, fmt)
            prog, par = f"{fmt}/inference{suffix}", f"{fmt}/inference.pdiparams"
            for rel in (prog, par):
                if not (tmp / rel).is_file():
                    raise ModelError(f"export to {fmt} wrote no {rel}", hint="re-run with --debug and report the log")
            sections[fmt] = {"model": prog, "params": par}
            files += [prog, par]
        atomic_write_text(tmp / "labels.txt", "".join(f"{i} {lab}\n" for i, lab in enumerate(labels)))
        files.append("labels.txt")
        ds = manifest.get("dataset") or {}
        write_manifest(
            tmp,
            "model",
            {
                "model": {
                    "name": name,
                    "arch": spec["arch"],
                    "class_num": spec["class_num"],
                    "input_size": spec["input_size"],
                    "arch_kwargs": spec["arch_kwargs"],
                    "input_name": "x",
                    "output": f"{spec['head']} probabilities",
                    "head": spec["head"],
                    "multilabel": spec["head"] == "sigmoid",
                },
                "postprocess": {**post.to_dict(), "source": post_source},
                "preprocess": preprocess,
                "labels": labels,
                "labels_file": "labels.txt",
                "dataset": {"root": ds.get("root"), "val_list": ds.get("val_list")},
                "paddle_version": _paddle_version(),
                "inputs": {"checkpoint": str(ckpt.resolve()), "checkpoint_files": manifest.get("files", {})},
                "formats": sections,
                **({"distillation": distillation} if distillation else {}),
            },
            files=files,
        )
    return out


def _check_replaceable(out: Path) -> None:
    """``out`` is replaced as a whole: only an empty folder or an earlier model directory may be."""
    if out.is_dir() and any(out.iterdir()):
        try:
            read_manifest(out, "model")
        except ModelError:
            raise ConfigError(
                f"{out}: exists and is not a model directory; export replaces --out as a whole",
                hint="pass a new or empty folder as --out",
            ) from None
    elif out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder", hint="pass a new or empty folder as --out")


def _paddle_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("paddlepaddle")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _run_child(spec: dict[str, Any], pir_flag: str, ckpt: Path, fmt: str) -> None:
    env = dict(os.environ, FLAGS_enable_pir_api=pir_flag, CUDA_VISIBLE_DEVICES="")
    code = "import sys; from edgeclas.export import _save_static; _save_static(sys.argv[1])"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, json.dumps(spec)],
            env=env, capture_output=True, text=True, timeout=_CHILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise ModelError(f"exporting {ckpt} to {fmt} took longer than {_CHILD_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()] or ["(no output)"]
        reason = lines[-1].removeprefix("error: ")
        logging.getLogger(__name__).debug("export child stderr:\n%s", proc.stderr)
        raise ModelError(f"exporting {ckpt} to {fmt} failed: {reason}", hint="run with --debug to see the child's log")


_SAVED_TOL = 1e-4  # max |Δprob| between the saved program and the network it was traced from


def _check_saved(model, spec: dict[str, Any], chw: tuple[int, int, int]) -> None:
    """Child process: the program just written must load in Paddle Inference and give the network's own
    (finite) probabilities on a batch of two random inputs; else the export fails and records nothing."""
    import numpy as np
    import paddle
    import paddle.inference as pi

    x = np.random.default_rng(0).standard_normal((2, *chw)).astype("float32")
    with paddle.no_grad():
        want = model(paddle.to_tensor(x)).numpy()
    if not np.all(np.isfinite(want)):
        raise ModelError(f"{spec['params']}: the checkpoint's weights give NaN/inf probabilities (training diverged?)")
    prefix = Path(spec["prefix"])
    config = pi.Config(str(prefix.with_name(spec["program"])), str(prefix.with_name("inference.pdiparams")))
    config.disable_gpu()
    config.disable_glog_info()
    predictor = pi.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.reshape(list(x.shape))
    handle.copy_from_cpu(x)
    predictor.run()
    got = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    diff = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
    if not diff <= _SAVED_TOL:
        raise ModelError(f"the saved {spec['program']} does not reproduce the network (output {got.shape}, "
                         f"max |Δprob| {diff:.2e} > {_SAVED_TOL:g})")


def _save_static(spec_json: str) -> None:
    """Child process: rebuild the network, load the checkpoint, append the head (softmax, or sigmoid for
    multi-label), ``paddle.jit.save``.

    Architectures must use ``*`` rather than ``paddle.multiply``: in Paddle 3.3.1 the latter calls
    the PIR-only C op and cannot be traced into a legacy program (test_export covers every family).
    """
    spec = json.loads(spec_json)
    try:
        import paddle

        from .models import build_model, read_state_dict, reparameterize
        from .models._common import sigmoid

        net = build_model(spec["arch"], spec["class_num"], **spec["arch_kwargs"])
        state = read_state_dict(spec["params"])
        prefix = spec.get("state_prefix")
        if prefix:  # one member of a DistillationModel: its weights, without the member's name
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        missing, unexpected = net.set_state_dict(state)
        if missing or unexpected:
            raise ModelError(
                f"{spec['params']}: does not match {spec['arch']} "
                f"(missing {len(missing)}: {missing[:3]}, unexpected {len(unexpected)}: {unexpected[:3]})"
            )

        class WithHead(paddle.nn.Layer):
            def __init__(self, inner: paddle.nn.Layer, head: str) -> None:
                super().__init__()
                self.inner, self.head = inner, head

            def forward(self, x):
                logits = self.inner(x)
                return sigmoid(logits) if self.head == "sigmoid" else paddle.nn.functional.softmax(logits, axis=-1)

        net.eval()
        reparameterize(net)  # PP-LCNetV2's training branches fused into one conv, as PaddleClas exports it
        model = WithHead(net, spec.get("head", "softmax"))
        model.eval()
        c, h, w = spec["input_size"]
        Path(spec["prefix"]).parent.mkdir(parents=True, exist_ok=True)
        paddle.jit.save(model, spec["prefix"], input_spec=[paddle.static.InputSpec([None, c, h, w], "float32", "x")])
        _check_saved(model, spec, (c, h, w))
    except ModelError as e:
        print(f"error: {e.message}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # the parent shows the last stderr line; make it the reason
        import traceback

        traceback.print_exc()
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
