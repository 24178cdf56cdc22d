"""The typed result of ``data prepare`` / ``data sample`` and the dataset manifest it mirrors."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import DataError
from ..manifest import read_manifest, write_manifest

__all__ = ["DatasetInfo", "DISTILL_LIST", "write_dataset", "read_dataset", "check_output_dir"]

DISTILL_LIST = "train_list_for_distill.txt"  # PULC's name for the training list with unlabelled images


@dataclass(frozen=True)
class DatasetInfo:
    root: Path
    task: str
    labels: list[str]
    train: int
    val: int
    seed: int
    multilabel: bool = False  # lists hold 0/1 vectors (PaddleClas's MultiLabelDataset)
    unlabelled: int = 0  # images without a label, in DISTILL_LIST only

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def train_list(self) -> Path:
        return self.root / "train_list.txt"

    @property
    def val_list(self) -> Path:
        return self.root / "val_list.txt"

    @property
    def label_list(self) -> Path:
        return self.root / "label_list.txt"

    @property
    def distill_list(self) -> Path | None:
        return self.root / DISTILL_LIST if self.unlabelled else None


def write_dataset(staging: Path, final: Path, task: str, labels: list[str], train: list[tuple[str, Any]],
                  val: list[tuple[str, Any]], seed: int, multilabel: bool = False,
                  unlabelled: Sequence[str] = ()) -> DatasetInfo:
    """Write lists, labels and the manifest into ``staging`` (published as ``final`` by the caller).

    ``unlabelled`` images go, after the training images, into ``train_list_for_distill.txt`` (PULC's
    SKL-UGI list): lines with a path and no label, used only by a distillation's teacher–student loss.
    """
    from ..fsutil import atomic_write_text
    from .lists import write_label_list, write_list

    write_list(staging / "train_list.txt", train)
    write_list(staging / "val_list.txt", val)
    write_label_list(staging / "label_list.txt", labels)
    files = ["train_list.txt", "val_list.txt", "label_list.txt"] + [rel for rel, _ in train + val]
    if unlabelled:
        text = (staging / "train_list.txt").read_text() + "".join(f"{rel}\n" for rel in unlabelled)
        atomic_write_text(staging / DISTILL_LIST, text)
        files += [DISTILL_LIST, *unlabelled]
    body = {"dataset": {"task": task, "num_classes": len(labels), "labels": labels, "train": len(train),
                        "val": len(val), "seed": seed, "multilabel": multilabel,
                        **({"unlabelled": len(unlabelled)} if unlabelled else {})}}
    write_manifest(staging, "dataset", body, files=files)
    return DatasetInfo(final.resolve(), task, labels, len(train), len(val), seed, multilabel, len(unlabelled))


def read_dataset(root: str | os.PathLike[str]) -> DatasetInfo:
    root = Path(root)
    try:
        d = read_manifest(root, "dataset")["dataset"]
    except KeyError:
        raise DataError(f"{root}/manifest.json: no 'dataset' section") from None
    return DatasetInfo(root.resolve(), d["task"], list(d["labels"]), d["train"], d["val"], d["seed"],
                       bool(d.get("multilabel", False)), d.get("unlabelled", 0))


def check_output_dir(out: Path, src: Path | None = None) -> None:
    """An output directory may only replace an earlier dataset, never user files or the source itself."""
    import json

    out_r = out.resolve()
    if src is not None:
        src_r = src.resolve()
        if out_r == src_r or out_r in src_r.parents or src_r in out_r.parents:
            raise DataError(f"--out {out} overlaps the source folder {src}", hint="write the dataset somewhere else")
    if out.exists():
        try:
            kind = json.loads((out / "manifest.json").read_text(encoding="utf-8")).get("kind")
        except (OSError, ValueError, AttributeError):
            kind = None
        if kind != "dataset":
            raise DataError(f"{out}: exists and is not an edgeclas dataset; refusing to replace it",
                            hint="choose another --out, or remove the folder yourself")
