"""Training and evaluation transforms, configured by PaddleClas-style ``transform_ops`` lists.

Train ops are table-driven (:data:`TRAIN_OPS`, PaddleClas's names and parameters); each takes
``(img, label, rng)`` and returns the pair: before ``NormalizeImage`` the image is HxWx3 uint8 RGB,
after it 3xHxW float32 (an op's ``layout`` says which it needs; the EDA ops are in :mod:`.augment`).
Evaluation is *exactly* :func:`edgeclas.preprocess.preprocess` (resize short side →
centre crop → normalise), the code every engine and the C++ share, so accuracy measured here is the
accuracy the deployed model sees; its :class:`PreprocessConfig` comes from the Eval ``transform_ops``.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError
from ..preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessConfig

__all__ = ["TRAIN_OPS", "EVAL_OPS", "build_train_transform", "eval_preprocess_config", "parse_number"]

Sample = tuple[np.ndarray, Any]


def parse_number(value: Any, where: str) -> float:
    """A number, or PaddleClas's ``"1.0/255.0"`` written as a string (parsed, never ``eval``-ed)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        parts = value.split("/")
        try:
            nums = [float(p) for p in parts]
            if len(nums) == 1:
                return nums[0]
            if len(nums) == 2 and nums[1] != 0:
                return nums[0] / nums[1]
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected a number or 'a/b', got {value!r}")


class DecodeImage:
    """Accepted for PaddleClas compatibility: images are always decoded to RGB HWC uint8."""

    layout = "pixels"

    def __init__(self, to_rgb: bool = True, channel_first: bool = False) -> None:
        if not to_rgb or channel_first:
            raise ConfigError("DecodeImage: only to_rgb=True, channel_first=False is supported")

    def __call__(self, img, label, rng):
        return img, label


class RandCropImage:
    """Random resized crop (area ``scale``, aspect ``ratio``) to ``size``x``size``, bilinear."""

    layout = "pixels"

    def __init__(self, size: int, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> None:
        self.size, self.scale, self.ratio = int(size), tuple(scale), tuple(ratio)

    def __call__(self, img, label, rng):
        import cv2

        h, w = img.shape[:2]
        for _ in range(10):
            area = h * w * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
            cw, ch = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                break
        else:  # fall back to the central square, like torchvision/PaddleClas
            cw = ch = min(h, w)
            x, y = (w - cw) // 2, (h - ch) // 2
        crop = np.ascontiguousarray(img[y : y + ch, x : x + cw])
        return cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_LINEAR), label


class RandFlipImage:
    layout = "pixels"

    def __init__(self, flip_code: int = 1) -> None:
        if flip_code not in (0, 1, -1):
            raise ConfigError(f"RandFlipImage.flip_code must be 1 (horizontal), 0 (vertical) or -1, got {flip_code}")
        self.flip_code = flip_code

    def __call__(self, img, label, rng):
        if rng.random() < 0.5:
            img = img[:, ::-1] if self.flip_code == 1 else img[::-1] if self.flip_code == 0 else img[::-1, ::-1]
        return np.ascontiguousarray(img), label


class BlurImage:
    """PULC's online blur (gaussian or motion, odd kernels from 5 below the ``*_max_ksize``) with probability
    ``ratio``. Unlabelled samples (``CustomLabelDataset`` with ``label_key: blur_image``, PULC's recipe)
    get PaddleClas's label: 1 blurred, 0 kept. Labelled samples are blurred only when of ``clear_label``,
    and then become ``blur_label`` (an edgeclas extension for lists that already hold both classes)."""

    layout = "pixels"
    label_key = "blur_image"

    def __init__(self, ratio: float = 0.5, motion_max_ksize: int = 12, motion_max_angle: int = 45,
                 gaussian_max_ksize: int = 12, clear_label: int = 0, blur_label: int = 1) -> None:
        if min(int(motion_max_ksize), int(gaussian_max_ksize)) < 6:
            raise ConfigError("BlurImage: motion_max_ksize and gaussian_max_ksize must be ≥ 6 (kernels are 5, 7, …)")
        self.ratio, self.clear_label, self.blur_label = parse_number(ratio, "BlurImage.ratio"), clear_label, blur_label
        self.kw = {"motion_max_ksize": int(motion_max_ksize), "motion_max_angle": int(motion_max_angle),
                   "gaussian_max_ksize": int(gaussian_max_ksize)}

    def __call__(self, img, label, rng):
        from .blur import random_blur

        if label is None:
            blurred = rng.random() < self.ratio
            return (random_blur(img, rng, **self.kw), 1) if blurred else (img, 0)
        if label == self.clear_label and rng.random() < self.ratio:
            return random_blur(img, rng, **self.kw), self.blur_label
        return img, label


class ResizeImage:
    layout = "pixels"

    def __init__(self, size: int | None = None, resize_short: int | None = None) -> None:
        if (size is None) == (resize_short is None):
            raise ConfigError("ResizeImage: give exactly one of size or resize_short")
        self.size, self.resize_short = size, resize_short

    def __call__(self, img, label, rng):
        import cv2

        from ..preprocess import resize_short

        if self.resize_short is not None:
            return np.clip(resize_short(img, self.resize_short) + 0.5, 0, 255).astype(np.uint8), label
        return cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_LINEAR), label


class CropImage:
    layout = "pixels"

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, img, label, rng):
        from ..preprocess import center_crop

        return center_crop(img, self.size), label


class NormalizeImage:
    layout = "pixels"

    def __init__(self, scale: Any = 1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD, order: str = "") -> None:
        self.cfg = PreprocessConfig(mean=tuple(map(float, mean)), std=tuple(map(float, std)),
                                    scale=parse_number(scale, "NormalizeImage.scale"))

    def __call__(self, img, label, rng):
        from ..preprocess import normalize_to_chw

        return normalize_to_chw(img, self.cfg), label


class ToCHWImage:
    """Accepted for PaddleClas compatibility: NormalizeImage already returns CHW."""

    layout = "any"

    def __call__(self, img, label, rng):
        return img, label


def _train_ops() -> dict[str, type]:
    from . import augment

    ops = (DecodeImage, RandCropImage, RandFlipImage, BlurImage, ResizeImage, CropImage, NormalizeImage, ToCHWImage,
           augment.TimmAutoAugment, augment.RandomErasing, augment.Cutout, augment.GridMask, augment.HideAndSeek,
           augment.ColorJitter)
    return {c.__name__: c for c in ops}


TRAIN_OPS: dict[str, type] = _train_ops()
EVAL_OPS = ("DecodeImage", "ResizeImage", "CropImage", "NormalizeImage", "ToCHWImage")
# Ops that produce a label (PaddleClas's CustomLabelDataset ``label_key``) → the op that produces it.
LABEL_KEYS = {BlurImage.label_key: "BlurImage"}


def _op_entries(ops: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    import difflib

    if not isinstance(ops, list) or not ops:
        raise ConfigError(f"{where}: expected a non-empty list of ops like '- RandFlipImage: {{flip_code: 1}}'")
    out = []
    for i, entry in enumerate(ops):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}.{i}: each op is a one-key mapping, e.g. '- CropImage: {{size: 224}}'")
        for name in entry:  # an unknown name first: a mistyped -o adds a second key beside the right one
            if name not in TRAIN_OPS:
                near = difflib.get_close_matches(str(name), list(TRAIN_OPS), n=1)
                raise ConfigError(f"{where}.{i}: unknown op '{name}'",
                                  hint=f"did you mean '{near[0]}'?" if near else f"valid: {', '.join(TRAIN_OPS)}")
        if len(entry) != 1:
            raise ConfigError(f"{where}.{i}: each op is a one-key mapping, e.g. '- CropImage: {{size: 224}}'")
        (name, args), = entry.items()
        args = args or {}
        if not isinstance(args, dict):
            raise ConfigError(f"{where}.{i}.{name}: expected a mapping of arguments, got {args!r}")
        params = inspect.signature(TRAIN_OPS[name].__init__).parameters.values()
        allowed = [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        for key in args:
            if key not in allowed:
                near = difflib.get_close_matches(key, allowed, n=1)
                raise ConfigError(f"{where}.{i}.{name}.{key}: unknown argument",
                                  hint=f"did you mean '{near[0]}'?" if near else f"valid: {', '.join(allowed) or 'none'}")
        out.append((name, args))
    return out


def build_train_transform(ops: Any, where: str) -> Callable[[np.ndarray, Any, np.random.Generator], Sample]:
    steps = []
    entries = _op_entries(ops, where)
    for i, (name, args) in enumerate(entries):
        try:
            steps.append(TRAIN_OPS[name](**args))
        except TypeError as e:
            raise ConfigError(f"{where}.{i}.{name}: {e}") from None
    norm = [i for i, s in enumerate(steps) if isinstance(s, NormalizeImage)]
    if len(norm) != 1:
        raise ConfigError(f"{where}: needs exactly one NormalizeImage (found {len(norm)})")
    for i, step in enumerate(steps):
        layout = step.layout
        if i > norm[0] and layout == "pixels":
            raise ConfigError(f"{where}.{i}.{entries[i][0]}: works on uint8 pixels, so it must come before NormalizeImage")
        if i < norm[0] and layout == "tensor":
            raise ConfigError(f"{where}.{i}.{entries[i][0]}: works on the normalised tensor, "
                              "so it must come after NormalizeImage")

    def apply(img, label, rng):
        for step in steps:
            img, label = step(img, label, rng)
        return img, label

    return apply


def eval_preprocess_config(ops: Any, where: str) -> PreprocessConfig:
    """The :class:`PreprocessConfig` that the Eval ``transform_ops`` describe (only deterministic ops allowed)."""
    found: dict[str, dict[str, Any]] = {}
    for name, args in _op_entries(ops, where):
        if name not in EVAL_OPS:
            raise ConfigError(f"{where}: op '{name}' is not allowed in evaluation",
                              hint="evaluation uses the deployed preprocessing: ResizeImage(resize_short), "
                                   "CropImage, NormalizeImage")
        found[name] = args
    resize, crop, norm = found.get("ResizeImage", {}), found.get("CropImage", {}), found.get("NormalizeImage", {})
    if "resize_short" not in resize or "size" not in crop:
        raise ConfigError(f"{where}: needs ResizeImage {{resize_short: N}} and CropImage {{size: M}}")
    n = NormalizeImage(**norm).cfg
    return PreprocessConfig(resize_short=int(resize["resize_short"]), crop_size=int(crop["size"]), mean=n.mean,
                            std=n.std, scale=n.scale)
