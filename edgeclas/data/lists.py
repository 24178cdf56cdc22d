"""PaddleClas list files: ``relative/path label`` (or ``path 0,1,0`` multi-label) and ``id name`` label files.

A distillation list (PULC's ``train_list_for_distill.txt``, SKL-UGI) may also hold images without a
label: a line that is only a path. They get the label :data:`UNLABELLED`.

Every error names ``file:line`` and says what to fix; nothing here decodes images unless asked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

__all__ = ["ListItem", "UNLABELLED", "read_list", "read_sample_list", "read_label_list", "write_list",
           "write_label_list", "check_labels_agree"]

UNLABELLED = -1  # the label of an image a distillation list gives without one


@dataclass(frozen=True)
class ListItem:
    path: Path  # absolute image path
    label: int | tuple[int, ...] | None  # class id, a 0/1 vector (multi-label), None (labels made by an op)
    where: str  # "list_file:line", for error messages further down the pipeline


def _read_lines(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: {what} not found", hint="run `edgeclas data prepare` or `edgeclas data sample` first")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None


def _parse_label(text: str, where: str, num_classes: int, multilabel: bool) -> int | tuple[int, ...]:
    if multilabel:
        parts = text.split(",")
        if len(parts) != num_classes:
            raise DataError(f"{where}: multi-label vector '{text}' has {len(parts)} values, expected {num_classes} "
                            "(one 0/1 per class)", hint="check the list against label_list.txt and Arch.class_num")
        if any(p not in ("0", "1") for p in parts):
            raise DataError(f"{where}: multi-label vector '{text}' must hold only 0 and 1 values")
        return tuple(int(p) for p in parts)
    try:
        label = int(text)
    except ValueError:
        raise DataError(f"{where}: label '{text}' is not an integer",
                        hint="lines are 'relative/path label'; use multilabel for 'path 0,1,0'") from None
    if not 0 <= label < num_classes:
        raise DataError(f"{where}: label {label} out of range 0..{num_classes - 1} (num_classes={num_classes})",
                        hint="check label_list.txt and Arch.class_num")
    return label


def read_list(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str],
    num_classes: int,
    multilabel: bool = False,
    *,
    check_images: bool = False,
    allow_empty: bool = False,
    unlabelled: bool = False,
) -> list[ListItem]:
    """Parse a list file; image paths are relative to ``root``. Blank lines and ``#`` comments are skipped.

    With ``check_images`` every image is decoded once, so an unreadable file is reported with its line
    here rather than in the middle of training. A list without entries is an error unless ``allow_empty``.
    With ``unlabelled`` a line naming an image and nothing else is an image without a label
    (:data:`UNLABELLED`).
    """
    path, root = Path(path), Path(root)
    items: list[ListItem] = []
    for no, raw in enumerate(_read_lines(path, "list file"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{no}"
        # The label is the last field, so image paths may contain spaces.
        fields = line.rsplit(maxsplit=1)
        if unlabelled and (len(fields) == 1 or (root / line).is_file()):
            rel, label = line, UNLABELLED
        elif len(fields) != 2:
            raise DataError(f"{where}: expected 'relative/path label', got '{line}'",
                            hint="images without a label belong in a distillation list (Arch.name DistillationModel)")
        else:
            rel, label_text = fields
            label = _parse_label(label_text, where, num_classes, multilabel)
        image = root / rel
        if not image.is_file():
            raise DataError(f"{where}: image '{rel}' not found under {root}", hint="fix the path or remove the line")
        if check_images:
            from ..preprocess import decode_image

            try:
                decode_image(image)
            except DataError as e:
                raise DataError(f"{where}: {e.message}", hint="remove or replace the image") from None
        items.append(ListItem(image, label, where))
    if not items and not allow_empty:
        raise DataError(f"{path}: no entries", hint="a list needs 'relative/path label' lines")
    return items


def read_sample_list(path: str | os.PathLike[str], root: str | os.PathLike[str],
                     delimiter: str | None = None) -> list[ListItem]:
    """PaddleClas's ``CustomLabelDataset`` list: one image path per line (anything after ``delimiter``
    ignored); the labels are made by a transform op (``label_key``)."""
    path, root = Path(path), Path(root)
    items: list[ListItem] = []
    for no, raw in enumerate(_read_lines(path, "sample list"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        rel = line.split(delimiter)[0].strip() if delimiter else line
        if not (root / rel).is_file():
            raise DataError(f"{path}:{no}: image '{rel}' not found under {root}", hint="fix the path or remove the line")
        items.append(ListItem(root / rel, None, f"{path}:{no}"))
    if not items:
        raise DataError(f"{path}: no entries", hint="a sample list has one image path per line")
    return items


def read_label_list(path: str | os.PathLike[str]) -> list[str]:
    """``id name`` lines → names indexed by id; ids must be 0..N-1, each exactly once."""
    path = Path(path)
    names: dict[int, str] = {}
    for no, raw in enumerate(_read_lines(path, "label list"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(maxsplit=1)
        try:
            idx = int(fields[0])
        except ValueError:
            raise DataError(f"{path}:{no}: expected 'id name', got '{line}'") from None
        if idx in names:
            raise DataError(f"{path}:{no}: class id {idx} listed twice")
        names[idx] = fields[1] if len(fields) > 1 else str(idx)
    if not names:
        raise DataError(f"{path}: no labels")
    if sorted(names) != list(range(len(names))):
        gap = min(set(range(len(names))) - set(names))
        raise DataError(f"{path}: class ids must be 0..{len(names) - 1}; id {gap} is missing")
    return [names[i] for i in range(len(names))]


def check_labels_agree(labels: list[str], label_file: str | os.PathLike[str], num_classes: int, setting: str) -> None:
    """The label file and the model/list must agree on the class count; name both sides when not."""
    if len(labels) != num_classes:
        raise DataError(f"{label_file}: {len(labels)} labels but {setting} = {num_classes}",
                        hint="make the label list and the class count agree")


def write_list(path: Path, rows: list[tuple[str, int | tuple[int, ...]]]) -> None:
    """``path label`` lines; a multi-label row is ``path<TAB>0,1,0`` (PaddleClas's MultiLabelDataset splits on tabs)."""
    from ..fsutil import atomic_write_text

    atomic_write_text(path, "".join(f"{rel}\t{','.join(map(str, label))}\n" if isinstance(label, tuple)
                                    else f"{rel} {label}\n" for rel, label in rows))


def write_label_list(path: Path, labels: list[str]) -> None:
    from ..fsutil import atomic_write_text

    atomic_write_text(path, "".join(f"{i} {name}\n" for i, name in enumerate(labels)))
