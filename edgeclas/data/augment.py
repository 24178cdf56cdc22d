"""PaddleClas's data augmentations (EDA) with PaddleClas's op names and parameters, written here.

Each op is a row of :data:`edgeclas.data.transforms.TRAIN_OPS`: ``op(img, label, rng) -> (img, label)``
with every random draw taken from the per-sample ``numpy.random.Generator``, so a seed reproduces
the same pixels. ``layout`` says where an op may stand in ``transform_ops``: ``"pixels"`` (HWC uint8
RGB, before ``NormalizeImage``), ``"tensor"`` (CHW float32, after it) or ``"any"``.

Where PaddleClas's behaviour is a plain bug, edgeclas does what the op is documented to do, and says
so on the class: ``GridMask``'s probability ramps with an epoch counter PaddleClas never advances (so
it never masks), ``Cutout`` only fills holes when ``fill_value`` is ``none``, ``HideAndSeek`` swaps
rows and columns, and timm's ``inc0`` counts as ``inc1``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError
from ..preprocess import IMAGENET_MEAN

__all__ = ["TimmAutoAugment", "RandomErasing", "Cutout", "GridMask", "HideAndSeek", "ColorJitter",
           "RAND_TRANSFORMS", "RAND_INCREASING_TRANSFORMS", "parse_rand_config"]


def _number(value: Any, where: str) -> float:
    from .transforms import parse_number

    return parse_number(value, where)


def _hw(img: np.ndarray) -> tuple[int, int, bool]:
    """(height, width, channels_first): before ``NormalizeImage`` images are HWC uint8, after it CHW float32."""
    chw = img.dtype != np.uint8
    return (img.shape[1], img.shape[2], True) if chw else (img.shape[0], img.shape[1], False)


def _fill_box(img: np.ndarray, chw: bool, y: int, x: int, h: int, w: int, value: Any) -> None:
    if chw:
        img[:, y : y + h, x : x + w] = value
    else:
        img[y : y + h, x : x + w, :] = value


# ------------------------------------------------------------------------------------------------
# RandAugment (timm's policies, as PaddleClas's TimmAutoAugment uses them)

_MAX_LEVEL = 10.0


def _signed(v: float, rng: np.random.Generator) -> float:
    return -v if rng.random() > 0.5 else v


# level (0..10) → the op's argument; ranges as timm defines them
def _rotate_arg(level, hp, rng): return (_signed(level / _MAX_LEVEL * 30.0, rng),)
def _enhance_arg(level, hp, rng): return (level / _MAX_LEVEL * 1.8 + 0.1,)
def _enhance_inc_arg(level, hp, rng): return (1.0 + _signed(level / _MAX_LEVEL * 0.9, rng),)
def _shear_arg(level, hp, rng): return (_signed(level / _MAX_LEVEL * 0.3, rng),)
def _translate_abs_arg(level, hp, rng): return (_signed(level / _MAX_LEVEL * float(hp["translate_const"]), rng),)
def _translate_rel_arg(level, hp, rng): return (_signed(level / _MAX_LEVEL * hp.get("translate_pct", 0.45), rng),)
def _posterize_arg(level, hp, rng): return (int(level / _MAX_LEVEL * 4),)
def _posterize_inc_arg(level, hp, rng): return (4 - int(level / _MAX_LEVEL * 4),)
def _posterize_orig_arg(level, hp, rng): return (int(level / _MAX_LEVEL * 4) + 4,)
def _solarize_arg(level, hp, rng): return (int(level / _MAX_LEVEL * 256),)
def _solarize_inc_arg(level, hp, rng): return (256 - int(level / _MAX_LEVEL * 256),)
def _solarize_add_arg(level, hp, rng): return (int(level / _MAX_LEVEL * 110),)


def _affine(img, matrix, kw):
    from PIL import Image

    return img.transform(img.size, Image.AFFINE, matrix, resample=kw["resample"], fillcolor=kw["fillcolor"])


def _op_solarize_add(img, add, kw, thresh=128):
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    return img.point(lut * len(img.getbands()))


def _ops() -> dict[str, tuple[Callable, Callable | None]]:
    from PIL import ImageEnhance, ImageOps

    posterize = lambda img, bits, kw: img if bits >= 8 else ImageOps.posterize(img, bits)  # noqa: E731
    enhance = lambda cls: (lambda img, f, kw: cls(img).enhance(f))  # noqa: E731
    return {
        "AutoContrast": (lambda img, kw: ImageOps.autocontrast(img), None),
        "Equalize": (lambda img, kw: ImageOps.equalize(img), None),
        "Invert": (lambda img, kw: ImageOps.invert(img), None),
        "Rotate": (lambda img, deg, kw: img.rotate(deg, resample=kw["resample"], fillcolor=kw["fillcolor"]),
                   _rotate_arg),
        "Posterize": (posterize, _posterize_arg),
        "PosterizeIncreasing": (posterize, _posterize_inc_arg),
        "PosterizeOriginal": (posterize, _posterize_orig_arg),
        "Solarize": (lambda img, t, kw: ImageOps.solarize(img, t), _solarize_arg),
        "SolarizeIncreasing": (lambda img, t, kw: ImageOps.solarize(img, t), _solarize_inc_arg),
        "SolarizeAdd": (_op_solarize_add, _solarize_add_arg),
        "Color": (enhance(ImageEnhance.Color), _enhance_arg),
        "ColorIncreasing": (enhance(ImageEnhance.Color), _enhance_inc_arg),
        "Contrast": (enhance(ImageEnhance.Contrast), _enhance_arg),
        "ContrastIncreasing": (enhance(ImageEnhance.Contrast), _enhance_inc_arg),
        "Brightness": (enhance(ImageEnhance.Brightness), _enhance_arg),
        "BrightnessIncreasing": (enhance(ImageEnhance.Brightness), _enhance_inc_arg),
        "Sharpness": (enhance(ImageEnhance.Sharpness), _enhance_arg),
        "SharpnessIncreasing": (enhance(ImageEnhance.Sharpness), _enhance_inc_arg),
        "ShearX": (lambda img, f, kw: _affine(img, (1, f, 0, 0, 1, 0), kw), _shear_arg),
        "ShearY": (lambda img, f, kw: _affine(img, (1, 0, 0, f, 1, 0), kw), _shear_arg),
        "TranslateX": (lambda img, px, kw: _affine(img, (1, 0, px, 0, 1, 0), kw), _translate_abs_arg),
        "TranslateY": (lambda img, px, kw: _affine(img, (1, 0, 0, 0, 1, px), kw), _translate_abs_arg),
        "TranslateXRel": (lambda img, p, kw: _affine(img, (1, 0, p * img.size[0], 0, 1, 0), kw), _translate_rel_arg),
        "TranslateYRel": (lambda img, p, kw: _affine(img, (1, 0, 0, 0, 1, p * img.size[1]), kw), _translate_rel_arg),
    }


RAND_TRANSFORMS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
                   "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
RAND_INCREASING_TRANSFORMS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing",
                              "SolarizeIncreasing", "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing",
                              "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel",
                              "TranslateYRel")
# timm's "w0" choice weights (index 0 is the only set)
_CHOICE_WEIGHTS_0 = {"Rotate": 0.3, "ShearX": 0.2, "ShearY": 0.2, "TranslateXRel": 0.1, "TranslateYRel": 0.1,
                     "Color": 0.025, "Sharpness": 0.025, "AutoContrast": 0.025, "Solarize": 0.005, "SolarizeAdd": 0.005,
                     "Contrast": 0.005, "Brightness": 0.005, "Equalize": 0.005, "Posterize": 0.0, "Invert": 0.0}


def parse_rand_config(config_str: str, where: str = "TimmAutoAugment.config_str") -> dict[str, Any]:
    """``rand-m9-mstd0.5-inc1`` → ``{"magnitude": 9, "magnitude_std": 0.5, "num_layers": 2, "increasing": True,
    "weights": None}`` (timm's RandAugment policy string: m magnitude, n ops per image, mstd magnitude noise,
    inc 1 for the variants whose severity grows with the magnitude, w0 weighted op choice)."""
    if not isinstance(config_str, str) or not config_str.startswith("rand"):
        raise ConfigError(f"{where}: '{config_str}' is not a RandAugment policy",
                          hint="edgeclas implements timm's RandAugment strings, e.g. rand-m9-mstd0.5-inc1 "
                               "('auto…' AutoAugment and 'augmix…' are not implemented)")
    out: dict[str, Any] = {"magnitude": _MAX_LEVEL, "num_layers": 2, "magnitude_std": 0.0, "increasing": False,
                           "weights": None}
    parts = config_str.split("-")
    if parts[0] != "rand":
        raise ConfigError(f"{where}: '{config_str}' must start with 'rand-'")
    keys = {"m": ("magnitude", float), "n": ("num_layers", int), "mstd": ("magnitude_std", float),
            "inc": ("increasing", int), "w": ("weights", int)}
    for part in parts[1:]:
        m = re.fullmatch(r"([a-z]+)(\d.*)", part)
        if not m or m.group(1) not in keys:
            raise ConfigError(f"{where}: unknown section '{part}' in '{config_str}'",
                              hint="sections: m<magnitude>, n<ops per image>, mstd<std>, inc<0|1>, w0")
        name, cast = keys[m.group(1)]
        try:
            out[name] = cast(m.group(2))
        except ValueError:
            raise ConfigError(f"{where}: '{part}' in '{config_str}' needs a number after '{m.group(1)}'") from None
    out["increasing"] = bool(out["increasing"])
    if out["weights"] not in (None, 0):
        raise ConfigError(f"{where}: only the weight set w0 exists, got w{out['weights']}")
    if out["num_layers"] < 1:
        raise ConfigError(f"{where}: n must be ≥ 1 in '{config_str}'")
    return out


class TimmAutoAugment:
    """RandAugment with timm's policy string (PaddleClas's ``TimmAutoAugment``), applied with ``prob``.

    ``num_layers`` ops are drawn (with replacement, or by the w0 weights without); each then applies
    with probability 0.5 at magnitude ``N(m, mstd)`` clipped to 0..10. ``img_size`` sets the absolute
    translation (45 % of it), ``mean`` the fill colour of rotations/shears/translations.
    """

    layout = "pixels"

    def __init__(self, prob: float = 1.0, config_str: str = "rand-m9-mstd0.5-inc1", interpolation: str = "bicubic",
                 img_size: int | list[int] = 224, mean: list[float] = IMAGENET_MEAN) -> None:
        from PIL import Image

        self.prob = _number(prob, "TimmAutoAugment.prob")
        self.policy = parse_rand_config(config_str)
        interps = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS,
                   "hamming": Image.HAMMING, "random": None}
        if interpolation not in interps:
            raise ConfigError(f"TimmAutoAugment.interpolation: '{interpolation}' is not one of {', '.join(interps)}")
        self.resample = interps[interpolation]
        size = min(img_size) if isinstance(img_size, (list, tuple)) else int(img_size)
        self.hparams = {"translate_const": int(size * 0.45)}
        self.fill = tuple(min(255, round(255 * float(x))) for x in mean)
        table = _ops()
        self.names = RAND_INCREASING_TRANSFORMS if self.policy["increasing"] else RAND_TRANSFORMS
        self.ops = [table[n] for n in self.names]
        self.weights = None
        if self.policy["weights"] == 0:  # timm looks the weights up by the plain names
            w = np.array([_CHOICE_WEIGHTS_0.get(n, 0.0) for n in RAND_TRANSFORMS])
            self.weights = w / w.sum()

    def _apply(self, img, i: int, rng: np.random.Generator):
        from PIL import Image

        if rng.random() > 0.5:  # each chosen op applies with probability 0.5
            return img
        fn, level_fn = self.ops[i]
        magnitude = self.policy["magnitude"]
        if self.policy["magnitude_std"] > 0:
            magnitude = rng.normal(magnitude, self.policy["magnitude_std"])
        magnitude = min(_MAX_LEVEL, max(0.0, magnitude))
        resample = self.resample if self.resample is not None else (Image.BILINEAR, Image.BICUBIC)[int(rng.integers(2))]
        kw = {"resample": resample, "fillcolor": self.fill}
        args = level_fn(magnitude, self.hparams, rng) if level_fn else ()
        return fn(img, *args, kw)

    def __call__(self, img, label, rng):
        from PIL import Image

        if rng.random() >= self.prob:
            return img, label
        n = self.policy["num_layers"]
        picks = rng.choice(len(self.ops), n, replace=self.weights is None, p=self.weights)
        pil = Image.fromarray(np.ascontiguousarray(img))
        for i in picks:
            pil = self._apply(pil, int(i), rng)
        return np.asarray(pil, dtype=np.uint8).copy(), label


# ------------------------------------------------------------------------------------------------
# Erasing and masking

class RandomErasing:
    """Random erasing, EfficientNetV2 style (PaddleClas's ``RandomErasing``): with probability ``EPSILON``
    one box of area ``sl..sh`` of the image and aspect ratio ``r1..1/r1`` (drawn on a log scale when
    ``use_log_aspect``) is filled with ``mean`` (``const``), one random colour (``rand``) or per-pixel
    normal noise (``pixel``); up to ``attempt`` draws until the box fits. After ``NormalizeImage``."""

    layout = "tensor"

    def __init__(self, EPSILON: float = 0.5, sl: float = 0.02, sh: float = 0.4, r1: float = 0.3,
                 mean: list[float] = (0.0, 0.0, 0.0), attempt: int = 100, use_log_aspect: bool = False,
                 mode: str = "const") -> None:
        self.p = _number(EPSILON, "RandomErasing.EPSILON")
        self.sl, self.sh = _number(sl, "RandomErasing.sl"), _number(sh, "RandomErasing.sh")
        r1 = _number(r1, "RandomErasing.r1")
        if not 0 < r1 <= 1 or not 0 <= self.sl <= self.sh <= 1:
            raise ConfigError(f"RandomErasing: need 0 < r1 ≤ 1 and 0 ≤ sl ≤ sh ≤ 1 (got r1={r1}, sl={self.sl}, sh={self.sh})")
        self.use_log = bool(use_log_aspect)
        self.r = (math.log(r1), math.log(1 / r1)) if self.use_log else (r1, 1 / r1)
        if mode not in ("const", "rand", "pixel"):
            raise ConfigError(f"RandomErasing.mode: '{mode}' is not one of const, rand, pixel")
        self.mode, self.mean, self.attempt = mode, np.asarray(mean, np.float32), int(attempt)

    def __call__(self, img, label, rng):
        if rng.random() > self.p:
            return img, label
        h_img, w_img, chw = _hw(img)
        c = img.shape[0] if chw else img.shape[2]
        for _ in range(self.attempt):
            area = rng.uniform(self.sl, self.sh) * h_img * w_img
            aspect = rng.uniform(*self.r)
            if self.use_log:
                aspect = math.exp(aspect)
            h, w = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if w < w_img and h < h_img:
                y, x = int(rng.integers(0, h_img - h + 1)), int(rng.integers(0, w_img - w + 1))
                if self.mode == "pixel":
                    fill = rng.normal(size=(c, h, w) if chw else (h, w, c))
                elif self.mode == "rand":
                    fill = rng.normal(size=(c, 1, 1) if chw else (1, 1, c))
                else:
                    fill = self.mean.reshape((c, 1, 1) if chw else (1, 1, c))
                img = img.copy()
                _fill_box(img, chw, y, x, h, w, fill.astype(img.dtype))
                return img, label
        return img, label


class Cutout:
    """``n_holes`` squares of side ``length`` (clipped at the borders) centred on uniform random pixels,
    filled with ``fill_value`` (``none``: a random colour per hole). PaddleClas's version only fills
    when ``fill_value`` is ``none`` (an indentation slip); here every hole is filled as documented."""

    layout = "any"

    def __init__(self, n_holes: int = 1, length: int = 112, fill_value: Any = (0, 0, 0)) -> None:
        self.n_holes, self.length = int(n_holes), int(length)
        self.fill = None if fill_value in ("none", None) else np.asarray(fill_value, np.float32)

    def __call__(self, img, label, rng):
        h, w, chw = _hw(img)
        img = img.copy()
        c = img.shape[0] if chw else img.shape[2]
        for _ in range(self.n_holes):
            y, x = int(rng.integers(h)), int(rng.integers(w))
            y1, y2 = np.clip([y - self.length // 2, y + self.length // 2], 0, h)
            x1, x2 = np.clip([x - self.length // 2, x + self.length // 2], 0, w)
            fill = self.fill if self.fill is not None else rng.integers(0, 256, 3).astype(np.float32)
            _fill_box(img, chw, int(y1), int(x1), int(y2 - y1), int(x2 - x1),
                      fill.reshape((c, 1, 1) if chw else (1, 1, c)).astype(img.dtype))
        return img, label


class GridMask:
    """GridMask: with probability ``prob``, stripes of width ``ratio·d`` every ``d`` pixels (``d`` uniform in
    ``d1..d2-1``, random offset, rotated by up to ``rotate-1`` degrees) zero the image in both directions;
    ``mode 1`` keeps the stripes instead. PaddleClas scales ``prob`` by a global epoch counter its
    training loop never advances, so there it never masks; edgeclas applies ``prob`` as given."""

    layout = "any"

    def __init__(self, d1: int = 96, d2: int = 224, rotate: int = 1, ratio: float = 0.5, mode: int = 0,
                 prob: float = 1.0) -> None:
        if not 0 < int(d1) < int(d2):
            raise ConfigError(f"GridMask: need 0 < d1 < d2 (got d1={d1}, d2={d2})")
        if mode not in (0, 1) or int(rotate) < 1:
            raise ConfigError(f"GridMask: mode must be 0 or 1 and rotate ≥ 1 (got mode={mode}, rotate={rotate})")
        self.d1, self.d2, self.rotate, self.ratio, self.mode = int(d1), int(d2), int(rotate), float(ratio), mode
        self.prob = _number(prob, "GridMask.prob")

    def mask(self, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        from PIL import Image

        hh, ww = int(1.5 * h), int(1.5 * w)
        d = int(rng.integers(self.d1, self.d2))
        keep = int(d * self.ratio + 0.5)
        m = np.ones((hh, ww), np.uint8)
        st_h, st_w = int(rng.integers(d)), int(rng.integers(d))
        for i in range(-1, hh // d + 1):
            s = d * i + st_h
            m[max(min(s, hh), 0) : max(min(s + keep, hh), 0), :] = 0
        for i in range(-1, ww // d + 1):
            s = d * i + st_w
            m[:, max(min(s, ww), 0) : max(min(s + keep, ww), 0)] = 0
        r = int(rng.integers(self.rotate))
        if r:
            m = np.asarray(Image.fromarray(m).rotate(r))
        m = m[(hh - h) // 2 : (hh - h) // 2 + h, (ww - w) // 2 : (ww - w) // 2 + w]
        return 1 - m if self.mode == 1 else m

    def __call__(self, img, label, rng):
        if rng.random() > self.prob:
            return img, label
        h, w, chw = _hw(img)
        m = self.mask(h, w, rng)
        return (img * (m[None] if chw else m[:, :, None])).astype(img.dtype), label


class HideAndSeek:
    """Hide-and-Seek: a grid size from 0, 16, 32, 44, 56 (0: unchanged); each grid cell is zeroed with
    probability 0.5. PaddleClas takes no arguments and indexes cells column-major (same for square images)."""

    layout = "any"
    GRID_SIZES = (0, 16, 32, 44, 56)
    HIDE_PROB = 0.5

    def __call__(self, img, label, rng):
        grid = int(self.GRID_SIZES[int(rng.integers(len(self.GRID_SIZES)))])
        if grid == 0:
            return img, label
        h, w, chw = _hw(img)
        img = img.copy()
        for y in range(0, h, grid):
            for x in range(0, w, grid):
                if rng.random() <= self.HIDE_PROB:
                    _fill_box(img, chw, y, x, min(grid, h - y), min(grid, w - x), 0)
        return img, label


class ColorJitter:
    """Brightness, contrast, saturation (factors uniform in ``[max(0, 1-v), 1+v]``) and hue (a shift
    uniform in ``[-hue, hue]`` of the colour circle, ``hue ≤ 0.5``), in random order, applied with
    probability ``prob`` (PaddleClas's default 2: always)."""

    layout = "pixels"

    def __init__(self, prob: float = 2, brightness: float = 0, contrast: float = 0, saturation: float = 0,
                 hue: float = 0) -> None:
        self.prob = _number(prob, "ColorJitter.prob")
        self.b, self.c, self.s, self.h = (_number(v, f"ColorJitter.{n}") for v, n in
                                          ((brightness, "brightness"), (contrast, "contrast"),
                                           (saturation, "saturation"), (hue, "hue")))
        if min(self.b, self.c, self.s, self.h) < 0 or self.h > 0.5:
            raise ConfigError("ColorJitter: brightness, contrast, saturation must be ≥ 0 and hue in 0..0.5")

    def __call__(self, img, label, rng):
        from PIL import Image, ImageEnhance

        if rng.random() >= self.prob:
            return img, label
        pil = Image.fromarray(np.ascontiguousarray(img))
        steps = []
        for v, cls in ((self.b, ImageEnhance.Brightness), (self.c, ImageEnhance.Contrast),
                       (self.s, ImageEnhance.Color)):
            if v > 0:
                steps.append((cls, rng.uniform(max(0.0, 1 - v), 1 + v)))
        if self.h > 0:
            steps.append(("hue", rng.uniform(-self.h, self.h)))
        for i in rng.permutation(len(steps)):
            op, f = steps[int(i)]
            if op == "hue":
                hsv = np.asarray(pil.convert("HSV")).copy()
                hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(round(f * 255))) % 256
                pil = Image.fromarray(hsv, "HSV").convert("RGB")
            else:
                pil = op(pil).enhance(f)
        return np.asarray(pil, dtype=np.uint8).copy(), label
