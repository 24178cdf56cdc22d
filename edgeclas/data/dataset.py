"""Batches for training and evaluation from parsed list items (no paddle.io: deterministic and simple).

Each training sample draws its augmentation from ``default_rng([seed, epoch, index])``, so a run is
reproducible whatever the order, and ``--resume`` replays the same augmentation for an epoch. With
several training processes every rank computes the same epoch order and keeps its share of it
(:func:`shard`), so a sample looks the same whichever process trains on it.
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
                  steps: int, drop_last: bool = True, shuffle: bool = True, rank: int = 0,
                  world: int = 1) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Up to ``steps`` batches of ``(N×3×H×W float32, N int64 labels)`` for one epoch (this rank's share)."""
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
