"""Batches for training and evaluation from parsed list items (no paddle.io: deterministic and simple).

Each training sample draws its augmentation from ``default_rng([seed, epoch, index])``, so a run is
reproducible whatever the order, and ``--resume`` replays the same augmentation for an epoch.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np

from ..errors import DataError
from ..preprocess import PreprocessConfig, decode_image, preprocess
from .lists import ListItem

__all__ = ["train_batches", "eval_batches"]


def _decode(item: ListItem) -> np.ndarray:
    try:
        return decode_image(item.path)
    except DataError as e:
        raise DataError(f"{item.where}: {e.message}", hint="remove or replace the image") from None


def train_batches(items: Sequence[ListItem], transform: Callable, batch_size: int, seed: int, epoch: int,
                  steps: int, drop_last: bool = True, shuffle: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Up to ``steps`` batches of ``(N×3×H×W float32, N int64 labels)`` for one epoch."""
    order = np.random.default_rng([seed, epoch]).permutation(len(items)) if shuffle else np.arange(len(items))
    for step in range(steps):
        idx = order[step * batch_size : (step + 1) * batch_size]
        if len(idx) == 0 or (drop_last and len(idx) < batch_size):
            return
        xs, ys = [], []
        for i in idx:
            rng = np.random.default_rng([seed, epoch, int(i)])
            x, y = transform(_decode(items[i]), items[i].label, rng)
            xs.append(x)
            ys.append(y)
        yield np.stack(xs).astype(np.float32, copy=False), np.asarray(ys, dtype=np.int64)


def eval_batches(items: Sequence[ListItem], cfg: PreprocessConfig,
                 batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches preprocessed exactly as every deployed engine does (:func:`edgeclas.preprocess.preprocess`)."""
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        yield (np.stack([preprocess(_decode(it), cfg) for it in chunk]),
               np.asarray([it.label for it in chunk], dtype=np.int64))
