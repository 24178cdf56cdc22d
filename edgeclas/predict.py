"""``edgeclas predict``: classify an image or a folder of images on a host engine."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .errors import ConfigError
from .fsutil import is_utf8_name, printable_name
from .model_dir import ModelDir, PostProcess
from .preprocess import list_images, load_batch

__all__ = ["Prediction", "predict", "postprocess", "postprocess_for", "topk", "format_paddleclas", "format_json"]


@dataclass(frozen=True)
class Prediction:
    image: str  # the path as found (as given, or inside the folder given)
    class_ids: list[int]
    scores: list[float]
    label_names: list[str]


def topk(probs: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values per row, best first; ties keep the lower class id first."""
    return np.argsort(-probs, axis=1, kind="stable")[:, :k]


def postprocess_for(model: ModelDir, topk_k: int | None = None, threshold: float | None = None) -> PostProcess:
    """The model's recorded post-processing, with ``--topk`` / ``--threshold`` overriding its numbers."""
    if topk_k is not None and topk_k < 1:
        raise ConfigError(f"--topk must be >= 1, got {topk_k}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"--threshold {threshold}: must be between 0 and 1")
    rec = model.postprocess
    return PostProcess(rec.name, min(topk_k or rec.topk, model.class_num),
                       threshold if threshold is not None else rec.threshold)


def predict(
    model_dir: str | os.PathLike[str],
    images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    engine: str = "paddle",
    topk_k: int | None = None,
    batch_size: int = 8,
    threads: int | None = None,
    threshold: float | None = None,
    *,
    verify: bool = True,
) -> Iterator[Prediction]:
    """Yield one :class:`Prediction` per image, batch by batch (a big folder streams).

    ``images``: a file, a folder (searched recursively), or a list of files. The answers follow the
    model's post-processing (manifest ``postprocess``); ``topk_k`` and ``threshold`` override its numbers.
    ``verify``: check the model's files against its manifest first (``--no-verify`` turns it off).
    """
    from . import engines

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1 (got {batch_size})")
    model = ModelDir.load(model_dir, verify=verify)
    post = postprocess_for(model, topk_k, threshold)
    paths = list_images(images) if isinstance(images, (str, os.PathLike)) else [Path(p) for p in images]
    predictor = engines.load(engine, model, threads=threads)
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        probs = predictor(load_batch(chunk, model.preprocess))
        yield from postprocess(probs, [str(p) for p in chunk], model.labels, post.topk, post.threshold, kind=post.name)


def postprocess(probs: np.ndarray, names: Sequence[str], labels: Sequence[str], k: int,
                threshold: float | None = None, kind: str = "Topk") -> list[Prediction]:
    """Scores ``[N, C]`` of the images ``names`` → one :class:`Prediction` each, as PaddleClas's post-processing
    ``kind`` (:class:`~edgeclas.model_dir.PostProcess`) answers:

    - ``Topk``: the top ``k`` classes, only those with score >= ``threshold`` when one is given (possibly none);
    - ``ThreshOutput`` (2 classes): ``[1]`` with its score when score₁ >= ``threshold`` (0.5 if unset), else
      ``[0]`` with 1 − score₁;
    - ``MultiLabelThreshOutput``: every label with score >= ``threshold`` (0.5 if unset), in label order.

    The one place that turns engine outputs into answers: ``predict``, ``verify`` and ``serve`` call it.
    """
    out = []
    if kind == "Topk":
        for name, row, idx in zip(names, probs, topk(probs, k)):
            idx = [int(i) for i in idx if threshold is None or row[i] >= threshold]
            out.append(Prediction(name, idx, [round(float(row[i]), 5) for i in idx], [labels[i] for i in idx]))
        return out
    thr = 0.5 if threshold is None else threshold
    if kind == "ThreshOutput":
        if probs.shape[1] != 2:
            raise ConfigError(f"ThreshOutput post-processing needs a 2-class model, this one has {probs.shape[1]}")
        for name, row in zip(names, probs):
            c, score = (1, float(row[1])) if row[1] >= thr else (0, 1.0 - float(row[1]))
            out.append(Prediction(name, [c], [round(score, 5)], [labels[c]]))
        return out
    if kind == "MultiLabelThreshOutput":
        for name, row in zip(names, probs):
            idx = [int(i) for i in np.flatnonzero(row >= thr)]
            out.append(Prediction(name, idx, [round(float(row[i]), 5) for i in idx], [labels[i] for i in idx]))
        return out
    raise ConfigError(f"unknown post-processing '{kind}'", hint="Topk, ThreshOutput or MultiLabelThreshOutput")


def format_paddleclas(p: Prediction) -> str:
    """PaddleClas ``predict_cls.py`` output line (so scripts that parse it keep working)."""
    scores = "[{}]".format(", ".join(f"{s:.2f}" for s in p.scores))
    return f"{printable_name(p.image)}:\tclass id(s): {p.class_ids}, score(s): {scores}, label_name(s): {p.label_names}"


def format_json(p: Prediction) -> str:
    """One JSON object. A file name that is not UTF-8 cannot be a JSON string as it is: ``image`` then shows it
    with ``\\xNN`` escapes and ``image_raw`` holds its exact bytes in base64 (``os.fsdecode(base64 decoded)``
    is the path), so every line is valid JSON and the name is recovered exactly."""
    d = asdict(p)
    if not is_utf8_name(p.image):
        d["image"] = printable_name(p.image)
        d["image_raw"] = base64.b64encode(os.fsencode(p.image)).decode("ascii")
    return json.dumps(d, ensure_ascii=False)
