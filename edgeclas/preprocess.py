"""The reference image preprocessing, shared by training eval, export, every host engine and the C++.

PaddleClas inference order: decode → RGB → resize the short side → centre crop → scale, subtract
mean, divide std → HWC→CHW. Resizing is bilinear with half-pixel centres on **float32** pixels
(``cv2.resize(..., INTER_LINEAR)`` on float input uses exact float weights, unlike its fixed-point
uint8 path), so the C++ implementation in ``native/`` can match it to ~1e-6.

Output size of the resize follows PaddleClas ``ResizeImage(resize_short=…)``:
``w = round(img_w * s / min(img_w, img_h))`` with Python's ``round`` (half to even).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import DataError

__all__ = [
    "PreprocessConfig",
    "IMAGE_SUFFIXES",
    "decode_image",
    "decode_image_bytes",
    "resize_short_size",
    "resize_short",
    "center_crop",
    "normalize_to_chw",
    "preprocess",
    "load_batch",
    "list_images",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreprocessConfig:
    resize_short: int = 256
    crop_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale: float = 1.0 / 255.0
    channel_order: str = "RGB"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PreprocessConfig":
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known}
        for k in ("mean", "std"):
            if k in kw:
                kw[k] = tuple(float(x) for x in kw[k])
        return cls(**kw)


def decode_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as HxWx3 uint8 **RGB**; a clear :class:`DataError` if it cannot be read."""
    p = Path(path)
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{p}: cannot read image ({e.strerror or e})") from None
    return decode_image_bytes(data, str(p))


def decode_image_bytes(data: bytes | np.ndarray, name: str) -> np.ndarray:
    """Encoded image bytes (a file's content, an upload) as HxWx3 uint8 **RGB**; ``name`` names it in errors."""
    import cv2

    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise DataError(f"{name}: not a decodable image (JPEG/PNG/BMP expected)", hint="remove or replace the file")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def resize_short_size(width: int, height: int, short: int) -> tuple[int, int]:
    """Output (w, h) so that the short side becomes ``short``, PaddleClas rounding."""
    percent = float(short) / min(width, height)
    return int(round(width * percent)), int(round(height * percent))


def resize_short(img: np.ndarray, short: int) -> np.ndarray:
    """Bilinear resize (half-pixel centres) of an HxWxC image to short side ``short``; float32 out."""
    import cv2

    h, w = img.shape[:2]
    nw, nh = resize_short_size(w, h, short)
    return cv2.resize(img.astype(np.float32, copy=False), (nw, nh), interpolation=cv2.INTER_LINEAR)


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    if h < size or w < size:
        raise DataError(f"image of {w}x{h} is smaller than crop size {size} after resize")
    top, left = (h - size) // 2, (w - size) // 2
    return img[top : top + size, left : left + size]


def normalize_to_chw(img: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    mean = np.asarray(cfg.mean, dtype=np.float32)
    std = np.asarray(cfg.std, dtype=np.float32)
    x = (img.astype(np.float32, copy=False) * np.float32(cfg.scale) - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess(img_rgb: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """HxWx3 uint8 RGB → 3xCxC float32, ready for the network."""
    if cfg.channel_order.upper() == "BGR":
        img_rgb = img_rgb[:, :, ::-1]
    return normalize_to_chw(center_crop(resize_short(img_rgb, cfg.resize_short), cfg.crop_size), cfg)


def load_batch(paths: Sequence[str | os.PathLike[str]], cfg: PreprocessConfig) -> np.ndarray:
    return np.stack([preprocess(decode_image(p), cfg) for p in paths]) if paths else np.zeros((0, 3, cfg.crop_size, cfg.crop_size), np.float32)


def list_images(path: str | os.PathLike[str], limit: int | None = None) -> list[Path]:
    """A single image file, or the images in a folder (recursive, sorted); DataError when none."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise DataError(f"{p}: no such file or directory")
    found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise DataError(f"{p}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return found[:limit] if limit else found


