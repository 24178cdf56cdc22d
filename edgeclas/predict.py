"""``edgeclas predict``: classify an image or a folder of images on a host engine."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .errors import ConfigError
from .model_dir import ModelDir
from .preprocess import list_images, load_batch

__all__ = ["Prediction", "predict", "postprocess", "topk", "format_paddleclas", "format_json"]


@dataclass(frozen=True)
class Prediction:
    image: str  # the path as found (as given, or inside the folder given)
    class_ids: list[int]
    scores: list[float]
    label_names: list[str]


def topk(probs: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values per row, best first; ties keep the lower class id first."""
    return np.argsort(-probs, axis=1, kind="stable")[:, :k]


def predict(
    model_dir: str | os.PathLike[str],
    images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    engine: str = "paddle",
    topk_k: int = 5,
    batch_size: int = 8,
    threads: int | None = None,
) -> Iterator[Prediction]:
    """Yield one :class:`Prediction` per image, batch by batch (a big folder streams).

    ``images``: a file, a folder (searched recursively), or a list of files.
    """
    from . import engines

    if topk_k < 1 or batch_size < 1:
        raise ConfigError(f"--topk and --batch-size must be >= 1 (got {topk_k}, {batch_size})")
    model = ModelDir.load(model_dir)
    paths = list_images(images) if isinstance(images, (str, os.PathLike)) else [Path(p) for p in images]
    predictor = engines.load(engine, model, threads=threads)
    k = min(topk_k, model.class_num)
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        probs = predictor(load_batch(chunk, model.preprocess))
        yield from postprocess(probs, [str(p) for p in chunk], model.labels, k)


def postprocess(probs: np.ndarray, names: Sequence[str], labels: Sequence[str], k: int,
                threshold: float | None = None) -> list[Prediction]:
    """Probabilities ``[N, C]`` of the images ``names`` → one :class:`Prediction` each: the top ``k``
    classes, only those with probability >= ``threshold`` when one is given (possibly none).

    The one place that turns engine outputs into answers: ``predict`` and ``serve`` both call it.
    """
    out = []
    for name, row, idx in zip(names, probs, topk(probs, k)):
        idx = [int(i) for i in idx if threshold is None or row[i] >= threshold]
        out.append(Prediction(name, idx, [round(float(row[i]), 5) for i in idx], [labels[i] for i in idx]))
    return out


def format_paddleclas(p: Prediction) -> str:
    """PaddleClas ``predict_cls.py`` output line (so scripts that parse it keep working)."""
    scores = "[{}]".format(", ".join(f"{s:.2f}" for s in p.scores))
    return f"{p.image}:\tclass id(s): {p.class_ids}, score(s): {scores}, label_name(s): {p.label_names}"


def format_json(p: Prediction) -> str:
    return json.dumps(asdict(p), ensure_ascii=False)
