"""Batches for training and evaluation from parsed list items (no paddle.io: deterministic and simple).

Each training sample draws its augmentation from ``default_rng([seed, epoch, index])`` and each batch
its batch op (Mixup/CutMix) from ``default_rng([seed, epoch, step, 1])``, so a run is reproducible
whatever the order, and ``--resume`` replays the same augmentation for an epoch. With several training
processes every rank computes the same epoch order and keeps its share of it (:func:`shard`), so a
sample looks the same whichever process trains on it.

Targets are class ids (``int64 [N]``); multi-label 0/1 rows and the soft rows a batch op mixes are
``float32 [N, C]``.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import numpy as np

from ..errors import DataError
from ..preprocess import PreprocessConfig, decode_image, preprocess
from .lists import ListItem

__all__ = ["train_batches", "eval_batches", "shard"]


def _decode(item: ListItem) -> np.ndarray:
    try:
        return decode_image(item.path)
    except DataError as e:
        raise DataError(f"{item.where}: {e.message}", hint="remove or replace the image") from None


def _targets(labels: list, class_num: int, soft: bool) -> np.ndarray:
    if isinstance(labels[0], tuple):
        return np.asarray(labels, dtype=np.float32)
    ids = np.asarray(labels, dtype=np.int64)
    return np.eye(class_num, dtype=np.float32)[ids] if soft else ids


def shard(order: Sequence[int], batch_size: int, rank: int, world: int) -> list[int]:
    """Rank ``rank``'s share of an epoch's sample order, dealt as Paddle's ``DistributedBatchSampler`` does.

    The order is padded from its start to a multiple of ``world``; each run of ``batch_size × world``
    indices is one global batch whose ``rank``-th slice of ``batch_size`` goes to this rank; a shorter
    last run is split evenly. Every rank gets the same number of samples, and the ranks' batches of one
    step, in rank order, are the batch one process with ``batch_size × world`` would take.
    """
    order = [int(i) for i in order]
    if world == 1 or not order:
        return order
    total = math.ceil(len(order) / world) * world
    order = (order * math.ceil(total / len(order)))[:total]
    last = total % (batch_size * world)
    mine = []
    for start in range(rank * batch_size, total - last, batch_size * world):
        mine.extend(order[start : start + batch_size])
    share = last // world
    mine.extend(order[total - last + rank * share : total - last + (rank + 1) * share])
    return mine


def train_batches(items: Sequence[ListItem], transform: Callable, batch_size: int, seed: int, epoch: int,
                  steps: int, drop_last: bool = True, shuffle: bool = True, class_num: int = 0,
                  batch_transform: Callable | None = None, rank: int = 0,
                  world: int = 1) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Up to ``steps`` batches of ``(N×3×H×W float32, targets)`` for one epoch (this rank's share).

    ``batch_transform(x, one_hot_targets, rng)`` (Mixup, CutMix…) turns class ids into soft rows first.
    """
    order = np.random.default_rng([seed, epoch]).permutation(len(items)) if shuffle else np.arange(len(items))
    order = shard(order, batch_size, rank, world)
    for step in range(steps):
        idx = order[step * batch_size : (step + 1) * batch_size]
        if len(idx) == 0 or (drop_last and len(idx) < batch_size):
            return
        xs, ys = [], []
        for i in idx:
            rng = np.random.default_rng([seed, epoch, int(i)])
            x, y = transform(_decode(items[i]), items[i].label, rng)
            if y is None:
                raise DataError(f"{items[i].where}: no label: the list has none and no transform op made one",
                                hint="use a labelled list, or an op named by DataLoader.Train.dataset.label_key")
            xs.append(x)
            ys.append(y)
        x = np.stack(xs).astype(np.float32, copy=False)
        t = _targets(ys, class_num, soft=batch_transform is not None)
        if batch_transform is not None:
            x, t = batch_transform(x, t, np.random.default_rng([seed, epoch, step, 1]))
        yield x, t


def eval_batches(items: Sequence[ListItem], cfg: PreprocessConfig,
                 batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches preprocessed exactly as every deployed engine does (:func:`edgeclas.preprocess.preprocess`)."""
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        yield (np.stack([preprocess(_decode(it), cfg) for it in chunk]),
               _targets([it.label for it in chunk], 0, soft=False))
