"""Datasets: list parsing errors with file:line, class-folder prepare, the sample clarity set."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeclas.data import prepare, read_dataset, read_label_list, read_list, sample
from edgeclas.errors import ConfigError, DataError


def _png(path: Path, value: int = 128, size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    # encoded in memory: cv2.imwrite crashes (SIGSEGV) on a path that is not UTF-8, which these tests need
    ok, png = cv2.imencode(".png", rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    path.write_bytes(png.tobytes())
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for i in range(3):
        _png(tmp_path / "img" / f"a{i}.png", i)
    (tmp_path / "img" / "broken.png").write_bytes(b"\x89PNG but not really")
    return tmp_path


def test_read_list_single_label_with_spaces_and_comments(tree: Path):
    _png(tree / "img" / "with space.png", 9)
    lst = tree / "list.txt"
    lst.write_text("# comment\nimg/a0.png 0\n\nimg/with space.png 1\n")
    items = read_list(lst, tree, num_classes=2)
    assert [(i.path.name, i.label) for i in items] == [("a0.png", 0), ("with space.png", 1)]
    assert items[1].where == f"{lst}:4"


def test_read_list_multilabel(tree: Path):
    lst = tree / "ml.txt"
    lst.write_text("img/a0.png 1,0,1\nimg/a1.png 0,0,0\n")
    assert [i.label for i in read_list(lst, tree, 3, multilabel=True)] == [(1, 0, 1), (0, 0, 0)]
    lst.write_text("img/a0.png\t1,0,1\nimg/a1.png 1,0\n")  # PaddleClas writes a tab; a space reads the same
    with pytest.raises(DataError, match=r"ml.txt:2: multi-label vector '1,0' has 2 values, expected 3") as e:
        read_list(lst, tree, 3, multilabel=True)
    assert "Arch.class_num" in e.value.hint
    lst.write_text("img/a0.png 1,2,0\n")
    with pytest.raises(DataError, match=r"ml.txt:1: multi-label vector '1,2,0' must hold only 0 and 1"):
        read_list(lst, tree, 3, multilabel=True)


@pytest.mark.parametrize("line, message", [
    ("img/a0.png 2", r"list.txt:2: label 2 out of range 0..1"),
    ("img/a0.png x", r"list.txt:2: label 'x' is not an integer"),
    ("img/nope.png 0", r"list.txt:2: image 'img/nope.png' not found"),
    ("img/a0.png", r"list.txt:2: expected 'relative/path label'"),
])
def test_read_list_errors_name_file_and_line(tree: Path, line: str, message: str):
    lst = tree / "list.txt"
    lst.write_text(f"img/a1.png 1\n{line}\n")
    with pytest.raises(DataError, match=message):
        read_list(lst, tree, num_classes=2)


def test_unreadable_image_is_reported_with_its_line(tree: Path):
    lst = tree / "list.txt"
    lst.write_text("img/a0.png 0\nimg/broken.png 1\n")
    assert len(read_list(lst, tree, 2)) == 2  # existence only by default
    with pytest.raises(DataError, match=r"list.txt:2: .*broken.png: not a decodable image"):
        read_list(lst, tree, 2, check_images=True)


def test_missing_list_and_label_list_problems(tmp_path: Path):
    with pytest.raises(DataError, match="list file not found"):
        read_list(tmp_path / "nope.txt", tmp_path, 2)
    labels = tmp_path / "label_list.txt"
    labels.write_text("0 cat\n1 dog\n")
    assert read_label_list(labels) == ["cat", "dog"]
    labels.write_text("0 cat\n2 dog\n")
    with pytest.raises(DataError, match="id 1 is missing"):
        read_label_list(labels)
    labels.write_text("0 cat\n0 dog\n")
    with pytest.raises(DataError, match=r"label_list.txt:2: class id 0 listed twice"):
        read_label_list(labels)


def test_prepare_class_folders_is_stratified_and_deterministic(tmp_path: Path):
    src = tmp_path / "src"
    for cls, n in (("peach_a", 5), ("peach_b", 4), ("peach_c", 1)):
        for i in range(n):
            _png(src / cls / f"{i}.png", i + len(cls) * n)
    a = prepare(src, tmp_path / "a", val_ratio=0.4, seed=1)
    b = prepare(src, tmp_path / "b", val_ratio=0.4, seed=1)
    assert a.labels == ["peach_a", "peach_b", "peach_c"] and (a.train, a.val) == (6, 4)
    assert (a.root / "train_list.txt").read_text() == (b.root / "train_list.txt").read_text()
    assert (a.root / "label_list.txt").read_text() == "0 peach_a\n1 peach_b\n2 peach_c\n"
    val = read_list(a.root / "val_list.txt", a.root, 3)
    assert sorted({i.label for i in val}) == [0, 1]  # the single-image class stays in train
    assert len(read_list(a.root / "train_list.txt", a.root, 3, check_images=True)) == 6


def test_prepare_keeps_names_that_are_not_utf8_and_warns(tmp_path: Path, caplog):
    import os

    src = tmp_path / "src"
    latin1 = os.fsdecode(os.path.join(os.fsencode(src), b"p\xeache"))  # a class folder named in Latin-1
    for i in range(3):
        _png(Path(latin1) / os.fsdecode(b"photo \xe9t\xe9 %d.png" % i), i)  # and its images too
        _png(src / "prune" / f"{i}.png", 10 + i)
    with caplog.at_level("WARNING", logger="edgeclas.data.prepare"):
        info = prepare(src, tmp_path / "out", val_ratio=0.34, seed=0)
    assert info.labels == ["prune", "p\\xeache"] and (info.train, info.val) == (4, 2)  # sorted by name bytes
    assert (tmp_path / "out" / "label_list.txt").read_bytes().decode("utf-8") == "0 prune\n1 p\\xeache\n"
    assert "its name is not UTF-8; its label is written as 'p\\xeache'" in caplog.text
    assert len(read_list(info.root / "train_list.txt", info.root, 2, check_images=True)) == 4
    assert read_dataset(info.root).labels == info.labels


def test_one_class_and_an_empty_validation_list_are_warned_about(tmp_path: Path, caplog):
    src = tmp_path / "src"
    for i in range(3):
        _png(src / "only" / f"{i}.png", i)
    with caplog.at_level("WARNING", logger="edgeclas.data.prepare"):
        info = prepare(src, tmp_path / "out", val_ratio=0.0)
    assert (info.train, info.val) == (3, 0)
    assert "only one class (only): a classifier needs two or more" in caplog.text
    assert "the validation list is empty (--val-ratio 0)" in caplog.text
    caplog.clear()
    _png(src / "other" / "0.png", 7)  # two classes of one image each: nothing can go to validation
    (src / "only" / "1.png").unlink()
    (src / "only" / "2.png").unlink()
    with caplog.at_level("WARNING", logger="edgeclas.data.prepare"):
        prepare(src, tmp_path / "out2", val_ratio=0.5)
    assert "only one class" not in caplog.text and "validation list is empty (one image per class)" in caplog.text


def test_prepare_rejects_bad_input_and_leaves_nothing(tmp_path: Path):
    src = tmp_path / "src"
    _png(src / "ok" / "0.png")
    (src / "bad").mkdir()
    (src / "bad" / "x.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"x.png: not a decodable image"):
        prepare(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]
    (src / "empty").mkdir()
    with pytest.raises(DataError, match="empty: class folder has no images"):
        prepare(src, tmp_path / "out2")
    with pytest.raises(ConfigError, match="val-ratio"):
        prepare(src, tmp_path / "out3", val_ratio=1.5)


def test_sample_clarity_is_real_balanced_and_byte_identical(tmp_path: Path):
    pytest.importorskip("skimage", reason="scikit-image not installed (pip install -e .[data])")
    a = sample("clarity", tmp_path / "a", num=20, seed=5)
    b = sample("clarity", tmp_path / "b", num=20, seed=5)
    c = sample("clarity", tmp_path / "c", num=20, seed=6)
    assert a.labels == ["clear", "blurred"] and (a.train, a.val) == (16, 4)
    assert read_dataset(a.root) == a  # the manifest says what the call returned
    files_a = sorted(p.relative_to(a.root) for p in a.root.rglob("*.png"))
    assert len(files_a) == 20
    assert all((a.root / f).read_bytes() == (b.root / f).read_bytes() for f in files_a)
    assert any((a.root / f).read_bytes() != (c.root / f).read_bytes() for f in files_a)
    items = read_list(a.root / "train_list.txt", a.root, 2, check_images=True)
    assert sorted(i.label for i in items) == [0] * 8 + [1] * 8
    for it in items:
        h, w = cv2.imread(str(it.path)).shape[:2]
        assert 72 <= min(h, w) <= 96

    def sharpness(label: int) -> float:  # variance of the Laplacian: lower when blurred
        return float(np.median([cv2.Laplacian(cv2.imread(str(i.path), cv2.IMREAD_GRAYSCALE), cv2.CV_64F).var()
                                for i in items if i.label == label]))

    assert sharpness(1) < sharpness(0) / 2


def test_sample_quality_is_multilabel_with_visible_defects(tmp_path: Path):
    pytest.importorskip("skimage", reason="scikit-image not installed (pip install -e .[data])")
    info = sample("quality", tmp_path / "q", num=60, seed=3)
    assert info.labels == ["blurred", "noisy", "dark"] and info.multilabel and (info.train, info.val) == (48, 12)
    assert read_dataset(info.root) == info
    first = (info.root / "train_list.txt").read_text().splitlines()[0]
    assert "\t" in first and len(first.split("\t")[1].split(",")) == 3  # PaddleClas's 'path<TAB>0,1,0'
    items = read_list(info.root / "train_list.txt", info.root, 3, multilabel=True, check_images=True)
    labels = np.array([it.label for it in items])
    assert 0.25 < labels.mean(axis=0).min() and labels.mean(axis=0).max() < 0.75  # each defect about half the time
    assert len({tuple(x) for x in labels}) >= 6  # the defects are independent: most combinations occur

    def grey(it):
        return cv2.imread(str(it.path), cv2.IMREAD_GRAYSCALE).astype(np.float64)

    def median(values):
        return float(np.median(values))

    # darkness lowers brightness; noise adds fine detail where there was none (flat regions), blur removes it
    dark = [grey(it).mean() for it in items if it.label[2]]
    light = [grey(it).mean() for it in items if not it.label[2]]
    assert median(dark) < median(light) / 1.8
    flat_detail = {key: median([np.abs(np.diff(grey(it), axis=1)).mean() for it in items if it.label[:2] == key])
                   for key in ((0, 0), (0, 1), (1, 0))}
    assert flat_detail[(1, 0)] < flat_detail[(0, 0)] < flat_detail[(0, 1)]
    b = sample("quality", tmp_path / "q2", num=60, seed=3)
    assert (b.root / "train_list.txt").read_bytes() == (info.root / "train_list.txt").read_bytes()


def test_sample_rejects_unknown_task_and_tiny_num(tmp_path: Path):
    with pytest.raises(ConfigError, match="unknown task 'faces'"):
        sample("faces", tmp_path / "x")
    with pytest.raises(ConfigError, match="--num must be at least 4"):
        sample("clarity", tmp_path / "x", num=2)


def test_online_blur_relabels_only_clear_images_and_is_seeded():
    from edgeclas.data.transforms import build_train_transform

    ops = [{"BlurImage": {"ratio": 1.0}}, {"RandCropImage": {"size": 32}}, {"NormalizeImage": {}}]
    tf = build_train_transform(ops, "ops")
    img = np.random.default_rng(0).integers(0, 256, (48, 60, 3), dtype=np.uint8)
    x0, y0 = tf(img, 0, np.random.default_rng(7))
    x1, y1 = tf(img, 1, np.random.default_rng(7))
    assert (y0, y1) == (1, 1) and x0.shape == (3, 32, 32)
    again, _ = tf(img, 0, np.random.default_rng(7))
    np.testing.assert_array_equal(x0, again)
    keep = build_train_transform([{"BlurImage": {"ratio": 0.0}}, {"NormalizeImage": {}}], "ops")
    assert keep(img, 0, np.random.default_rng(7))[1] == 0


def test_transform_ops_are_checked_by_name_and_argument():
    from edgeclas.data.transforms import build_train_transform, eval_preprocess_config

    with pytest.raises(ConfigError, match="unknown op 'RandFlip'") as e:
        build_train_transform([{"RandFlip": {}}, {"NormalizeImage": {}}], "ops")
    assert "RandFlipImage" in e.value.hint
    with pytest.raises(ConfigError, match="needs exactly one NormalizeImage"):
        build_train_transform([{"RandFlipImage": {}}], "ops")
    with pytest.raises(ConfigError, match=r"ops.1.RandFlipImage: works on uint8 pixels"):
        build_train_transform([{"NormalizeImage": {}}, {"RandFlipImage": {}}], "ops")
    with pytest.raises(ConfigError, match="not allowed in evaluation"):
        eval_preprocess_config([{"RandFlipImage": {}}], "eval")
    cfg = eval_preprocess_config([{"ResizeImage": {"resize_short": 73}}, {"CropImage": {"size": 64}},
                                  {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.5] * 3, "std": [0.5] * 3}}], "e")
    assert (cfg.resize_short, cfg.crop_size, cfg.mean, cfg.scale) == (73, 64, (0.5, 0.5, 0.5), 1 / 255)


def test_outputs_never_replace_user_folders_or_the_source(tmp_path: Path):
    src = tmp_path / "src"
    for cls in "ab":
        for i in range(2):
            _png(src / cls / f"{i}.png", i)
    with pytest.raises(DataError, match="overlaps the source"):
        prepare(src, src)
    with pytest.raises(DataError, match="overlaps the source"):
        prepare(src, src / "out")
    precious = tmp_path / "precious"
    (precious / "keep.txt").parent.mkdir()
    (precious / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not an edgeclas dataset"):
        prepare(src, precious)
    assert (precious / "keep.txt").read_text() == "mine"
    first = prepare(src, tmp_path / "ds", val_ratio=0.0)
    again = prepare(src, tmp_path / "ds", val_ratio=0.5)  # an earlier dataset may be replaced
    assert (first.val, again.val) == (0, 2)
