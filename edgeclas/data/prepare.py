"""``data prepare``: a class-per-folder tree (PaddleClas's peach tutorial layout) → a dataset directory."""

from __future__ import annotations

import logging
import os
import random
import shutil
from pathlib import Path

from ..errors import ConfigError, DataError
from ..fsutil import is_utf8_name, printable_name, staging_dir
from ..preprocess import IMAGE_SUFFIXES, decode_image
from .info import DatasetInfo, check_output_dir, write_dataset

__all__ = ["prepare"]

log = logging.getLogger(__name__)


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
            raise DataError(f"{printable_name(str(c))}: class folder has no images ({', '.join(IMAGE_SUFFIXES)})",
                            hint="remove the folder or add images")
        # A label is text in label_list.txt, manifests and the device's labels file: a folder name that is
        # not UTF-8 is kept readable and unambiguous as \xNN escapes (the images are copied under fixed names).
        label = printable_name(c.name)
        if not is_utf8_name(c.name):
            log.warning("class folder %s: its name is not UTF-8; its label is written as '%s'",
                        printable_name(str(c)), label)
        if label in found:
            raise DataError(f"{printable_name(str(c))}: two class folders give the label '{label}'",
                            hint="rename one of them")
        found[label] = images
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
    if len(labels) == 1:
        log.warning("%s: only one class (%s): a classifier needs two or more; trained on this it can only ever "
                    "answer '%s'", printable_name(str(src)), labels[0], labels[0])
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
        if not val:
            log.warning("%s: the validation list is empty (%s): training will not evaluate nor pick a best "
                        "epoch; give each class two or more images and --val-ratio > 0",
                        printable_name(str(out)), "--val-ratio 0" if val_ratio == 0 else "one image per class")
        info = write_dataset(tmp, out, "folder", labels, train, val, seed)
    return info
