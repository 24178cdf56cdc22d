"""Datasets: list files, ``data prepare`` (class folders), ``data sample`` (embedded clarity set), training data."""

from __future__ import annotations

from .info import DatasetInfo, read_dataset
from .lists import ListItem, check_labels_agree, read_label_list, read_list
from .prepare import prepare
from .sample import sample

__all__ = ["DatasetInfo", "ListItem", "read_list", "read_label_list", "check_labels_agree", "read_dataset",
           "prepare", "sample"]
