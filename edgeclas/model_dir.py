"""Typed view of an exported model directory (``kind: "model"``, layout in docs/artifacts.md).

Every consumer (host engines, predict, verify, convert, the C++ config writer, deploy, bench) reads
the facts of a model from here instead of from raw manifest keys, and gets each file through
:meth:`ModelDir.file`, which checks it against the manifest's size and sha256 first (``--no-verify``
turns that off): a byte-flipped ``model.onnx`` or a truncated ``inference.pdiparams`` is an error
naming the file, never a prediction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError
from .manifest import MANIFEST_NAME, read_manifest, verify_file
from .preprocess import MAX_SIDE, PreprocessConfig

__all__ = ["ModelDir", "PostProcess", "POSTPROCESS_NAMES", "score_rows_ok"]

POSTPROCESS_NAMES = ("Topk", "ThreshOutput", "MultiLabelThreshOutput")


def score_rows_ok(scores: Any, rows: int, class_num: int, multilabel: bool) -> bool:
    """Whether an engine's answer to ``rows`` inputs is ``rows`` finite score rows of ``class_num``: softmax
    probabilities summing to 1, or a multi-label (sigmoid) head's independent scores in 0..1."""
    import numpy as np

    s = np.asarray(scores)
    if s.shape != (rows, class_num) or not np.all(np.isfinite(s)):
        return False
    if multilabel:
        return bool(np.all((s >= 0) & (s <= 1)))
    return bool(np.allclose(s.sum(axis=1), 1.0, atol=1e-3))


@dataclass(frozen=True)
class PostProcess:
    """How a model's scores become answers: PaddleClas's ``Infer.PostProcess``, recorded at export.

    ``Topk``: the ``topk`` best classes (only those ≥ ``threshold`` when one is set); ``ThreshOutput``
    (binary): class 1 when its score ≥ ``threshold``, else class 0 with 1 − score;
    ``MultiLabelThreshOutput`` (sigmoid head): every label whose score ≥ ``threshold``.
    """

    name: str = "Topk"
    topk: int = 5
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.name not in POSTPROCESS_NAMES:
            raise ModelError(f"post-processing '{self.name}' is not one of {', '.join(POSTPROCESS_NAMES)}")
        if self.threshold is not None and not 0.0 <= float(self.threshold) <= 1.0:
            raise ModelError(f"threshold {self.threshold} is not between 0 and 1")

    @property
    def effective_threshold(self) -> float | None:
        return self.threshold if self.threshold is not None or self.name == "Topk" else 0.5

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "topk": self.topk, "threshold": self.threshold}


@dataclass(frozen=True)
class ModelDir:
    path: Path
    name: str
    arch: str
    class_num: int
    input_size: tuple[int, int, int]  # (C, H, W)
    preprocess: PreprocessConfig
    labels: list[str]
    formats: dict[str, Any] = field(repr=False)
    dataset_root: Path | None = None
    val_list: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    verify: bool = True  # check each file against the manifest's size and sha256 before it is used
    multilabel: bool = False  # sigmoid head: independent per-label scores
    postprocess: PostProcess = field(default_factory=PostProcess)
    _verified: set[tuple[str, int, int]] = field(default_factory=set, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = True) -> "ModelDir":
        """Read and check ``path/manifest.json``; every value is type- and range-checked here, so a bad one is
        a :class:`ModelError` naming the file and key, not a traceback later. ``verify=False`` (``--no-verify``)
        skips the size/sha256 checks of the files, not these."""
        path = Path(path)
        m = read_manifest(path, "model")
        where = path / MANIFEST_NAME
        model = _section(m, "model", where)
        class_num = _int(model.get("class_num"), "model.class_num", where, 1)
        size = model.get("input_size")
        if not (isinstance(size, list) and len(size) == 3):
            raise _bad(where, "model.input_size", f"{size!r} is not [C, H, W]")
        c, h, w = (_int(x, "model.input_size", where, 1, MAX_SIDE) for x in size)
        if c != 3:
            raise _bad(where, "model.input_size", f"{size} has {c} channels; images have 3")
        pre = PreprocessConfig.from_dict(m.get("preprocess"), str(where))
        if (h, w) != (pre.crop_size, pre.crop_size):
            raise _bad(where, "preprocess.crop_size",
                       f"{pre.crop_size} does not give the model's input {h}x{w} (model.input_size)")
        labels = [str(i) for i in range(class_num)] if m.get("labels") is None else m["labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise _bad(where, "labels", "is not a list of names")
        multilabel = model.get("multilabel", False)
        if not isinstance(multilabel, bool):
            raise _bad(where, "model.multilabel", f"{multilabel!r} is not true or false")
        post = _postprocess(m.get("postprocess"), multilabel, where)
        if len(labels) != class_num:
            raise _bad(where, "labels", f"{len(labels)} labels for model.class_num {class_num}")
        formats = {} if m.get("formats") is None else m["formats"]
        if not isinstance(formats, dict) or not all(isinstance(v, dict) for v in formats.values()):
            raise _bad(where, "formats", "is not an object of format entries")
        bad_nb = [k for k, v in formats.get("nb", {}).items() if not isinstance(v, dict)]
        if bad_nb:
            raise _bad(where, f"formats.nb.{bad_nb[0]}", "is not an object with a 'file'")
        arch, name = model.get("arch"), model.get("name") or path.name
        if not isinstance(arch, str) or not isinstance(name, str):
            raise _bad(where, "model.arch" if not isinstance(arch, str) else "model.name", "is not a string")
        ds = m.get("dataset") or {}
        root = Path(ds["root"]) if isinstance(ds, dict) and isinstance(ds.get("root"), str) else None
        val = root / ds["val_list"] if root and isinstance(ds.get("val_list"), str) else None
        return cls(path, name, arch, class_num, (c, h, w), pre, labels, formats, root, val, m, verify, multilabel, post)

    def _require(self, fmt: str) -> dict[str, Any]:
        entry = self.formats.get(fmt)
        if not entry:
            raise ModelError(f"{self.path}: has no '{fmt}' format", hint="make it with: " + self.remake(fmt))
        return entry

    def remake(self, fmt: str) -> str:
        """The command that makes a format's files again (for hints)."""
        if fmt in ("onnx", "nb"):
            return f"edgeclas convert {self.path} --to {fmt}"
        ckpt = (self.manifest.get("inputs") or {}).get("checkpoint") or "CHECKPOINT"
        return f"edgeclas export {ckpt} --out {self.path} (it replaces the folder: convert again afterwards)"

    def file(self, rel: Any, remake: str) -> Path:
        """``path/rel``, a file the manifest lists, checked against its size and sha256 (unless ``verify`` is
        off) before anything reads it; ``remake`` is the command that makes it again."""
        if not isinstance(rel, str) or not rel:
            raise _bad(self.path / MANIFEST_NAME, "formats", f"file entry {rel!r} is not a path")
        p = self.path / rel
        if not p.is_file():
            raise ModelError(f"{p}: listed in the manifest but missing", hint=f"make it again: {remake}")
        if self.verify:
            st = p.stat()
            key = (rel, st.st_size, st.st_mtime_ns)  # verified once per process unless the file changes
            if key not in self._verified:
                verify_file(self.path, self.manifest, rel, remake=f"make it again: {remake}")
                self._verified.add(key)
        return p

    def has(self, fmt: str) -> bool:
        return bool(self.formats.get(fmt))

    def paddle_files(self, fmt: str = "pir") -> tuple[Path, Path]:
        """(program, params) of the ``legacy`` or ``pir`` Paddle inference format."""
        entry = self._require(fmt)
        return self.file(entry.get("model"), self.remake(fmt)), self.file(entry.get("params"), self.remake(fmt))

    @property
    def onnx_file(self) -> Path:
        return self.file(self._require("onnx").get("file"), self.remake("onnx"))

    def nb_file(self, target: str = "arm") -> Path:
        entry = self._require("nb").get(target)
        remake = f"edgeclas convert {self.path} --to nb --target {target}"
        if not entry:
            raise ModelError(f"{self.path}: has no .nb for target '{target}'", hint=f"make it with: {remake}")
        return self.file(entry.get("file"), remake)

    @property
    def labels_file(self) -> Path:
        return self.file(self.manifest.get("labels_file", "labels.txt"), self.remake("labels"))


def _bad(where: Path, key: str, why: str) -> ModelError:
    return ModelError(f"{where}: {key}: {why}",
                      hint="the manifest was edited or damaged: re-export the model (edgeclas export CHECKPOINT --out MODEL_DIR)")


def _section(m: dict[str, Any], key: str, where: Path) -> dict[str, Any]:
    value = m.get(key)
    if not isinstance(value, dict):
        raise _bad(where, key, "missing" if value is None else f"{value!r} is not an object")
    return value


def _int(value: Any, key: str, where: Path, low: int, high: int = 1 << 31) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(where, key, f"{value!r} is not an integer")
    if not low <= value <= high:
        raise _bad(where, key, f"{value} is outside {low}..{high}")
    return value


def _postprocess(value: Any, multilabel: bool, where: Path) -> PostProcess:
    """The manifest's ``postprocess`` (absent in models exported before it existed: Topk, or the multi-label
    default for a sigmoid head)."""
    if value is None:
        return PostProcess("MultiLabelThreshOutput" if multilabel else "Topk")
    if not isinstance(value, dict):
        raise _bad(where, "postprocess", f"{value!r} is not an object")
    name = value.get("name")
    if name not in POSTPROCESS_NAMES:
        raise _bad(where, "postprocess.name", f"{name!r} is not one of {', '.join(POSTPROCESS_NAMES)}")
    topk = 5 if value.get("topk") is None else _int(value.get("topk"), "postprocess.topk", where, 1)
    threshold = value.get("threshold")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise _bad(where, "postprocess.threshold", f"{threshold!r} is not a number in 0..1")
        threshold = float(threshold)
    return PostProcess(name, topk, threshold)
