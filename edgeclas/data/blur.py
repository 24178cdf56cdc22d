"""PULC's blur synthesis (clarity assessment): gaussian or motion blur, odd kernels 5–11, random angle.

Used offline by ``data sample`` and online by the ``BlurImage`` training transform. Randomness comes
from the ``numpy.random.Generator`` passed in, so a seed reproduces the same bytes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KERNEL_SIZES", "gaussian_blur", "motion_blur", "random_blur"]

KERNEL_SIZES = (5, 7, 9, 11)
MAX_ANGLE = 45


def gaussian_blur(img: np.ndarray, kx: int, ky: int) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (kx, ky), 0)


def motion_blur(img: np.ndarray, size: int, angle: float) -> np.ndarray:
    """Average along a line of ``size`` pixels rotated by ``angle`` degrees (camera shake)."""
    import cv2

    rot = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1)
    kernel = cv2.warpAffine(np.diag(np.ones(size, np.float32)), rot, (size, size))
    kernel /= max(float(kernel.sum()), 1e-6)
    return cv2.filter2D(img, -1, kernel)


def random_blur(img: np.ndarray, rng: np.random.Generator, motion_max_ksize: int = 12, motion_max_angle: int = MAX_ANGLE,
                gaussian_max_ksize: int = 12) -> np.ndarray:
    """Gaussian (kernel sides each odd in 5..gaussian_max_ksize-1) or motion blur (length odd in
    5..motion_max_ksize-1, angle in [-motion_max_angle, motion_max_angle)), half and half (PaddleClas's
    ``BlurImage`` parameters; the defaults give :data:`KERNEL_SIZES` and :data:`MAX_ANGLE`)."""
    if rng.random() < 0.5:
        sizes = np.arange(5, gaussian_max_ksize, 2)
        return gaussian_blur(img, int(rng.choice(sizes)), int(rng.choice(sizes)))
    sizes = np.arange(5, motion_max_ksize, 2)
    return motion_blur(img, int(rng.choice(sizes)), float(rng.integers(-motion_max_angle, motion_max_angle)))
