"""``data sample``: the embedded default datasets, built offline from the photographs scikit-image ships.

``clarity`` (PULC clarity assessment): label 0 ``clear`` = a random crop of a real photograph,
label 1 ``blurred`` = the same kind of crop with PULC's blur (see :mod:`.blur`).

``quality`` (multi-label): each crop gets each of three independent defects with probability 1/2,
``blurred`` (PULC's blur), ``noisy`` (gaussian noise, σ 12–30 grey levels) and ``dark`` (brightness ×
0.25–0.45); the lists are PaddleClas's multi-label format (``path<TAB>1,0,1``).

Images are small PNGs (short side 72–96 px): fast for tests and the demo, and close to the 64² the demo
trains at, so resizing does not shrink the blur below what a sharp photograph's pixels already show.
The same seed gives the same bytes.
``unlabelled`` adds images of both kinds without their label, in ``train_list_for_distill.txt``: the
general images PULC's SKL-UGI distillation adds (there: ImageNet), here more crops of the photographs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ToolchainError
from ..fsutil import atomic_write_bytes, staging_dir
from .blur import random_blur
from .info import DatasetInfo, check_output_dir, write_dataset

__all__ = ["sample", "TASKS", "MULTILABEL_TASKS", "PHOTOS"]

TASKS = {"clarity": ["clear", "blurred"], "quality": ["blurred", "noisy", "dark"]}
MULTILABEL_TASKS = ("quality",)

# Real photographs only: synthetic images (chessboard, phantom, logo) and the already motion-blurred
# clock_motion would teach the wrong thing; page.png makes libpng warn on every read. cell (microscopy)
# and moon are left out too: a *sharp* crop of either has less detail at 64² (median Laplacian variance
# 0.002) than a blurred crop of the other photographs, so its label cannot be read from its pixels
# (docs/training.md, "Why the demo did not learn").
PHOTOS = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel", "ihc",
          "motorcycle_left", "motorcycle_right", "text")


def _photos() -> list[np.ndarray]:
    import importlib.util

    from ..preprocess import decode_image

    # Only the files are needed: locating the package avoids importing scikit-image (and scipy).
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.origin:
        raise ToolchainError("scikit-image is not installed; it ships the photographs `data sample` uses",
                             hint="pip install -e '.[data]'")
    root = Path(spec.origin).parent / "data"
    found = [root / f"{name}.png" for name in PHOTOS if (root / f"{name}.png").is_file()]
    if not found:
        raise ToolchainError(f"{root}: none of the sample photographs ({', '.join(PHOTOS)}) are there",
                             hint="reinstall scikit-image: pip install --force-reinstall scikit-image")
    return [decode_image(p) for p in found]


def _crop(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop (35–100 % of the short side, aspect 3:4–4:3), scaled so its short side is 72–96 px."""
    import cv2

    h, w = photo.shape[:2]
    side = rng.uniform(0.35, 1.0) * min(h, w)
    aspect = rng.uniform(3 / 4, 4 / 3)
    cw, ch = min(w, int(side * aspect)), min(h, int(side / aspect))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = photo[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    short = int(rng.integers(72, 97))
    scale = short / min(cw, ch)
    size = (max(short, round(cw * scale)), max(short, round(ch * scale)))
    return cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_AREA)


def _defects(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Blur, then darken, then add noise (so the noise stays visible), each with probability 1/2."""
    blurred, noisy, dark = (int(rng.random() < 0.5) for _ in range(3))
    out = random_blur(img, rng) if blurred else img
    if dark:
        out = np.clip(out.astype(np.float32) * rng.uniform(0.25, 0.45), 0, 255)
    if noisy:
        out = np.clip(out.astype(np.float32) + rng.normal(0.0, rng.uniform(12, 30), out.shape), 0, 255)
    return np.round(out).astype(np.uint8), (blurred, noisy, dark)


def sample(task: str, out: str | os.PathLike[str], num: int = 200, seed: int = 0,
           val_ratio: float = 0.2, unlabelled: int = 0) -> DatasetInfo:
    """Synthesize ``num`` labelled images (half of each class) and ``unlabelled`` more into ``out``;
    same seed, same bytes."""
    import cv2

    if task not in TASKS:
        raise ConfigError(f"--task: unknown task '{task}'", hint=f"available: {', '.join(TASKS)}")
    if num < 4:
        raise ConfigError(f"--num must be at least 4 (two per class for train and val), got {num}")
    if not 0.0 < val_ratio < 1.0:
        raise ConfigError(f"val_ratio must be in (0, 1), got {val_ratio}")
    if unlabelled < 0:
        raise ConfigError(f"--unlabelled must be ≥ 0, got {unlabelled}")
    labels = TASKS[task]
    multilabel = task in MULTILABEL_TASKS
    check_output_dir(Path(out))
    photos = _photos()
    rng = np.random.default_rng(seed)
    out = Path(out)
    rows: list[tuple[str, int | tuple[int, ...]]] = []
    with staging_dir(out) as tmp:
        for i in range(num):
            img = _crop(photos[int(rng.integers(len(photos)))], rng)
            if multilabel:
                img, label = _defects(img, rng)
                rel = f"images/{i:05d}.png"
            else:
                label = i % 2
                if label == 1:
                    img = random_blur(img, rng)
                rel = f"images/{labels[label]}/{i:05d}.png"
            ok, png = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            atomic_write_bytes(tmp / rel, png.tobytes())
            rows.append((rel, label))
        # Every (2/val_ratio)-th pair goes to val, so both splits stay balanced.
        n_val_pairs = max(1, round(num * val_ratio / 2))
        val_pairs = set(np.linspace(0, num // 2 - 1, n_val_pairs).round().astype(int).tolist())
        val = [r for i, r in enumerate(rows) if i // 2 in val_pairs]
        train = [r for i, r in enumerate(rows) if i // 2 not in val_pairs]
        extra = []
        for i in range(unlabelled):  # drawn after the labelled ones: adding them changes none of those
            img = _crop(photos[int(rng.integers(len(photos)))], rng)
            if rng.random() < 0.5:
                img = random_blur(img, rng)
            ok, png = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            extra.append(f"images/unlabelled/{i:05d}.png")
            atomic_write_bytes(tmp / extra[-1], png.tobytes())
        info = write_dataset(tmp, out, task, labels, train, val, seed, multilabel=multilabel, unlabelled=extra)
    return info
