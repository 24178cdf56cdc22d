"""Typed view of an exported model directory (``kind: "model"``, layout in docs/artifacts.md).

Every consumer (host engines, predict, verify, convert, the C++ config writer, deploy, bench) reads
the facts of a model from here instead of from raw manifest keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError
from .manifest import read_manifest
from .preprocess import PreprocessConfig

__all__ = ["ModelDir", "PostProcess", "POSTPROCESS_NAMES"]

POSTPROCESS_NAMES = ("Topk", "ThreshOutput", "MultiLabelThreshOutput")


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
    multilabel: bool = False  # sigmoid head: independent per-label scores
    postprocess: PostProcess = field(default_factory=PostProcess)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "ModelDir":
        path = Path(path)
        m = read_manifest(path, "model")
        where = path / "manifest.json"
        try:
            model = m["model"]
            class_num = int(model["class_num"])
            c, h, w = (int(x) for x in model["input_size"])
            pre = PreprocessConfig.from_dict(m["preprocess"])
            labels = [str(x) for x in m.get("labels") or [str(i) for i in range(class_num)]]
            formats = dict(m.get("formats") or {})
            name, arch = str(model.get("name") or path.name), str(model["arch"])
            multilabel = bool(model.get("multilabel", False))
            post = m.get("postprocess") or {"name": "MultiLabelThreshOutput" if multilabel else "Topk"}
            post = PostProcess(str(post["name"]), int(post.get("topk") or 5),
                               None if post.get("threshold") is None else float(post["threshold"]))
        except (KeyError, TypeError, ValueError, ModelError) as e:
            raise ModelError(
                f"{where}: malformed model manifest ({type(e).__name__}: {e})",
                hint="re-export it with: edgeclas export CHECKPOINT --out MODEL_DIR",
            ) from None
        if len(labels) != class_num:
            raise ModelError(f"{where}: {len(labels)} labels for class_num {class_num}", hint="re-export the model")
        ds = m.get("dataset") or {}
        root = Path(ds["root"]) if ds.get("root") else None
        val = root / ds["val_list"] if root and ds.get("val_list") else None
        return cls(path, name, arch, class_num, (c, h, w), pre, labels, formats, root, val, m, multilabel, post)

    def _require(self, fmt: str) -> dict[str, Any]:
        entry = self.formats.get(fmt)
        if not entry:
            make = {"onnx": "edgeclas convert {p} --to onnx", "nb": "edgeclas convert {p} --to nb"}.get(
                fmt, "edgeclas export CHECKPOINT --out {p} --format " + fmt
            )
            raise ModelError(f"{self.path}: has no '{fmt}' format", hint="make it with: " + make.format(p=self.path))
        return entry

    def _file(self, rel: str) -> Path:
        p = self.path / rel
        if not p.is_file():
            raise ModelError(f"{p}: listed in the manifest but missing", hint="re-export or re-convert the model")
        return p

    def has(self, fmt: str) -> bool:
        return bool(self.formats.get(fmt))

    def paddle_files(self, fmt: str = "pir") -> tuple[Path, Path]:
        """(program, params) of the ``legacy`` or ``pir`` Paddle inference format."""
        entry = self._require(fmt)
        return self._file(entry["model"]), self._file(entry["params"])

    @property
    def onnx_file(self) -> Path:
        return self._file(self._require("onnx")["file"])

    def nb_file(self, target: str = "arm") -> Path:
        entry = self._require("nb").get(target)
        if not entry:
            raise ModelError(
                f"{self.path}: has no .nb for target '{target}'",
                hint=f"make it with: edgeclas convert {self.path} --to nb --target {target}",
            )
        return self._file(entry["file"])

    @property
    def labels_file(self) -> Path:
        return self._file(self.manifest.get("labels_file", "labels.txt"))
