"""``edgeclas export``: a training checkpoint → Paddle inference programs (legacy and/or PIR).

The exported network ends in a softmax (as PaddleClas's export does), so every engine, host or
device, returns probabilities. The input is ``x`` of shape ``[None, C, H, W]``: dynamic batch.

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
from .models.distillation import infer_member, member_prefix

__all__ = ["FORMATS", "export"]

# format → (file suffix of the program, FLAGS_enable_pir_api for the child process)
FORMATS: dict[str, tuple[str, str]] = {
    "legacy": (".pdmodel", "0"),
    "pir": (".json", "1"),
}

_CHILD_TIMEOUT_S = 600


def export(
    checkpoint_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    formats: Sequence[str] = ("legacy", "pir"),
    name: str | None = None,
) -> Path:
    """Export ``checkpoint_dir`` (``kind: "checkpoint"``) into the model directory ``out``.

    ``out`` appears only when every format was written (built in a staging directory). Returns ``out``.
    """
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
    manifest = read_manifest(ckpt, "checkpoint")
    _check_replaceable(out)
    params = ckpt / "model.pdparams"
    if not params.is_file():
        raise ModelError(f"{params}: missing from the checkpoint", hint="point export at RUN_DIR/best or RUN_DIR/latest")
    try:
        model = manifest["model"]
        spec = {
            "params": str(params.resolve()),
            "arch": str(model["arch"]),
            "class_num": int(model["class_num"]),
            "arch_kwargs": dict(model.get("arch_kwargs") or {}),
            "input_size": [int(x) for x in model["input_size"]],
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
    labels = [str(x) for x in manifest.get("labels") or range(spec["class_num"])]
    name = name or out.name

    with staging_dir(out) as tmp:
        files: list[str] = []
        sections: dict[str, Any] = {}
        for fmt in formats:
            suffix, pir_flag = FORMATS[fmt]
            _run_child(dict(spec, prefix=str(tmp / fmt / "inference")), pir_flag, ckpt, fmt)
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
                    "output": "softmax probabilities",
                },
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


def _save_static(spec_json: str) -> None:
    """Child process: rebuild the network, load the checkpoint, append softmax, ``paddle.jit.save``.

    Architectures must use ``*`` rather than ``paddle.multiply``: in Paddle 3.3.1 the latter calls
    the PIR-only C op and cannot be traced into a legacy program (test_export covers every family).
    """
    spec = json.loads(spec_json)
    try:
        import paddle

        from .models import build_model, reparameterize

        net = build_model(spec["arch"], spec["class_num"], **spec["arch_kwargs"])
        state = paddle.load(spec["params"])
        prefix = spec.get("state_prefix")
        if prefix:  # one member of a DistillationModel: its weights, without the member's name
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        missing, unexpected = net.set_state_dict(state)
        if missing or unexpected:
            raise ModelError(
                f"{spec['params']}: does not match {spec['arch']} "
                f"(missing {len(missing)}: {missing[:3]}, unexpected {len(unexpected)}: {unexpected[:3]})"
            )

        class WithSoftmax(paddle.nn.Layer):
            def __init__(self, inner: paddle.nn.Layer) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return paddle.nn.functional.softmax(self.inner(x), axis=-1)

        net.eval()
        reparameterize(net)  # PP-LCNetV2's training branches fused into one conv, as PaddleClas exports it
        model = WithSoftmax(net)
        model.eval()
        c, h, w = spec["input_size"]
        Path(spec["prefix"]).parent.mkdir(parents=True, exist_ok=True)
        paddle.jit.save(model, spec["prefix"], input_spec=[paddle.static.InputSpec([None, c, h, w], "float32", "x")])
    except ModelError as e:
        print(f"error: {e.message}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # the parent shows the last stderr line; make it the reason
        import traceback

        traceback.print_exc()
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
