"""``data prepare``: a class-per-folder tree (PaddleClas's peach tutorial layout) → a dataset directory."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

from ..errors import ConfigError, DataError
from ..fsutil import staging_dir
from ..preprocess import IMAGE_SUFFIXES, decode_image
from .info import DatasetInfo, check_output_dir, write_dataset

__all__ = ["prepare"]


def _class_images(src: Path) -> dict[str, list[Path]]:
    if not src.is_dir():
        raise DataError(f"{src}: no such directory", hint="give a folder with one sub-folder per class")
    classes = sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{src}: no class folders", hint="expected SRC/<class name>/<images>")
    found = {}
    for c in classes:
        images = sorted(q for q in c.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DataError(f"{c}: class folder has no images ({', '.join(IMAGE_SUFFIXES)})",
                            hint="remove the folder or add images")
        found[c.name] = images
    return found


def prepare(src: str | os.PathLike[str], out: str | os.PathLike[str], val_ratio: float = 0.2,
            seed: int = 0) -> DatasetInfo:
    """Copy ``src/<class>/*`` to ``out/images/<class>/`` and write stratified train/val lists.

    Class ids follow the sorted folder names. Each class is shuffled with ``seed`` and split so that
    it has at least one training image, and one validation image when it has two or more. Every
    image is decoded once: an unreadable file fails here, naming it, and no output is left behind.
    """
    if not 0.0 <= val_ratio < 1.0:
        raise ConfigError(f"--val-ratio must be in [0, 1), got {val_ratio}")
    src, out = Path(src), Path(out)
    per_class = _class_images(src)
    check_output_dir(out, src)
    labels = list(per_class)
    rng = random.Random(seed)
    train: list[tuple[str, int]] = []
    val: list[tuple[str, int]] = []
    with staging_dir(out) as tmp:
        for label, name in enumerate(labels):
            images = list(per_class[name])
            rng.shuffle(images)
            n_val = min(len(images) - 1, max(1 if val_ratio > 0 else 0, round(len(images) * val_ratio)))
            for i, image in enumerate(images):
                decode_image(image)
                # A fixed, shell-safe name keeps lists one-token-per-path and avoids name clashes from sub-folders.
                rel = f"images/{label:03d}/{i:06d}{image.suffix.lower()}"
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(image, tmp / rel)
                (val if i < n_val else train).append((rel, label))
        train.sort()
        val.sort()
        info = write_dataset(tmp, out, "folder", labels, train, val, seed)
    return info
