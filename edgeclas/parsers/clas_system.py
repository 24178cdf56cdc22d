"""Parse what ``clas_system`` prints: its JSON lines, or the PaddleClas ``deploy/lite`` demo's text.

JSON lines are the format of docs/artifacts.md ("clas_system output"): one ``{"type": "image"}``
object per image, then one ``{"type": "summary"}``. The PaddleClas demo format (kept for
compatibility with existing scripts and binaries) is::

    ===clas result for image: ./images/daisy.jpg===
    \tTop-1, class_id: 3, class_name:  daisy, score: 0.9786
    Current time cost: 0.012 s.

A line that looks like JSON but is not, output that stops before the summary, or output with no
result at all raises :class:`OutputParseError` carrying what was parsed so far in ``partial``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..device.errors import OutputParseError
from ..stats import compute

__all__ = [
    "TopK",
    "ImageResult",
    "LatencyStats",
    "Summary",
    "ClasSystemOutput",
    "parse_clas_system",
    "parse_json_lines",
    "parse_paddleclas_text",
    "latency_from_samples",
]


@dataclass(frozen=True)
class TopK:
    class_id: int
    label: str
    score: float


@dataclass
class ImageResult:
    image: str
    topk: list[TopK]
    probs: list[float] | None = None
    timing_ms: dict[str, float] = field(default_factory=dict)
    # the answer of the configured post-processing (thresholded binary / multi-label: the decided classes);
    # None when the output does not say (PaddleClas text: the listed classes are the answer, see ``answer``)
    classes: list[TopK] | None = None

    @property
    def top1(self) -> int | None:
        return self.topk[0].class_id if self.topk else None

    @property
    def answer(self) -> list[TopK]:
        """The classes clas_system decided (``classes`` when reported, else the listed top-k)."""
        return self.topk if self.classes is None else self.classes


@dataclass
class LatencyStats:
    """Milliseconds. ``init`` = model load, ``first`` = first (cold) run, the rest over timed runs."""

    init: float | None = None
    first: float | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    samples: list[float] = field(default_factory=list)


@dataclass
class Summary:
    engine: str = ""
    engine_version: str = ""
    precision: str = ""  # what the engine was asked to compute in (FP32, FP16); "" from older binaries
    threads: int | None = None
    power_mode: int | None = None
    warmup: int | None = None
    repeats: int | None = None
    concurrent_images: int | None = None  # > 1: samples timed while other images' inferences ran
    batch_size: int | None = None  # > 1: a sample is one inference of up to batch_size images
    images: int | None = None
    latency: LatencyStats = field(default_factory=LatencyStats)
    peak_rss_kb: int | None = None
    affinity: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this parser does not know yet, kept as is


@dataclass
class ClasSystemOutput:
    format: str  # "json" or "paddleclas_text"
    images: list[ImageResult] = field(default_factory=list)
    summary: Summary | None = None
    ignored_lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def latency_from_samples(samples: list[float], init: float | None = None, first: float | None = None) -> LatencyStats:
    """Stats of raw samples through :func:`edgeclas.stats.compute`, the one implementation."""
    if not samples:
        return LatencyStats(init=init, first=first)
    s = compute(samples)
    return LatencyStats(init, first, s.min, s.max, s.mean, s.std, s.p50, s.p90, s.p99, list(samples))


def parse_clas_system(stdout: str) -> ClasSystemOutput:
    """Either format, chosen by what the text contains."""
    stripped = [ln.strip() for ln in stdout.splitlines()]
    if any(ln.startswith("{") for ln in stripped):
        return parse_json_lines(stdout)
    if any(ln.startswith("===clas result for image:") or ln.startswith("Top-") for ln in stripped):
        return parse_paddleclas_text(stdout)
    raise OutputParseError(
        f"clas_system output has neither JSON result lines nor PaddleClas result lines "
        f"({len(stdout)} bytes{', starts: ' + repr(stdout[:60]) if stdout else ', empty'})",
        partial=ClasSystemOutput("unknown", ignored_lines=stdout.splitlines()),
    )


def _num(d: dict[str, Any], key: str, where: str, cast: type = float) -> Any:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{where}: '{key}' should be a number, got {v!r}")
    if cast is int and not (isinstance(v, int) or (math.isfinite(v) and v == int(v))):
        raise ValueError(f"{where}: '{key}' should be an integer, got {v!r}")
    return cast(v)


def _scores(obj: dict[str, Any], key: str, where: str) -> list[TopK]:
    items = obj.get(key) or []
    if not isinstance(items, list):
        raise ValueError(f"{where}: '{key}' should be a list")
    out = []
    for i, t in enumerate(items):
        if not isinstance(t, dict) or "class_id" not in t or "score" not in t:
            raise ValueError(f"{where}: {key}[{i}] needs class_id and score")
        out.append(TopK(int(_num(t, "class_id", where, int)), str(t.get("label", "")), float(_num(t, "score", where))))
    return out


def _image(obj: dict[str, Any], where: str) -> ImageResult:
    if not isinstance(obj.get("image"), str):
        raise ValueError(f"{where}: image record without an 'image' path")
    topk = _scores(obj, "topk", where)
    classes = _scores(obj, "classes", where) if "classes" in obj else None
    probs = obj.get("probs")
    if probs is not None and not (isinstance(probs, list) and all(isinstance(p, (int, float)) for p in probs)):
        raise ValueError(f"{where}: 'probs' should be a list of numbers")
    timing_ms = obj.get("timing_ms") or {}
    if not isinstance(timing_ms, dict):
        raise ValueError(f"{where}: 'timing_ms' should be an object")
    timing = {k: float(v) for k, v in timing_ms.items() if isinstance(v, (int, float))}
    return ImageResult(obj["image"], topk, [float(p) for p in probs] if probs is not None else None, timing, classes)


_LAT_KEYS = ("init", "first", "min", "max", "mean", "std", "p50", "p90", "p99")
_SUMMARY_KEYS = {"type", "engine", "engine_version", "precision", "threads", "power_mode", "warmup", "repeats",
                 "concurrent_images", "batch_size", "images", "latency_ms", "peak_rss_kb", "affinity"}


def _summary(obj: dict[str, Any], where: str) -> Summary:
    lat = obj.get("latency_ms") or {}
    if not isinstance(lat, dict):
        raise ValueError(f"{where}: 'latency_ms' should be an object")
    samples = lat.get("samples") or []
    if not isinstance(samples, list) or not all(isinstance(s, (int, float)) for s in samples):
        raise ValueError(f"{where}: 'latency_ms.samples' should be a list of numbers")
    latency = LatencyStats(**{k: _num(lat, k, where) for k in _LAT_KEYS}, samples=[float(s) for s in samples])
    affinity = obj.get("affinity")
    return Summary(
        engine=str(obj.get("engine", "")),
        engine_version=str(obj.get("engine_version", "")),
        precision=str(obj.get("precision", "")),
        threads=_num(obj, "threads", where, int),
        power_mode=_num(obj, "power_mode", where, int),
        warmup=_num(obj, "warmup", where, int),
        repeats=_num(obj, "repeats", where, int),
        concurrent_images=_num(obj, "concurrent_images", where, int),
        batch_size=_num(obj, "batch_size", where, int),
        images=_num(obj, "images", where, int),
        latency=latency,
        peak_rss_kb=_num(obj, "peak_rss_kb", where, int),
        affinity=affinity if isinstance(affinity, dict) else None,
        extra={k: v for k, v in obj.items() if k not in _SUMMARY_KEYS},
    )


def parse_json_lines(stdout: str) -> ClasSystemOutput:
    out = ClasSystemOutput("json")
    lines = stdout.split("\n")
    complete_last = stdout.endswith("\n")
    for no, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        where = f"clas_system stdout line {no}"
        if not line.startswith("{"):
            out.ignored_lines.append(raw)
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError(f"{where}: not a JSON object")
            kind = obj.get("type")
            if kind == "image":
                out.images.append(_image(obj, where))
            elif kind == "summary":
                out.summary = _summary(obj, where)
            else:
                out.ignored_lines.append(raw)
        except json.JSONDecodeError as e:
            truncated = no == len(lines) and not complete_last
            what = "truncated (the program stopped mid-line)" if truncated else f"not valid JSON ({e.msg})"
            raise OutputParseError(f"{where} is {what}: {line[:80]!r}", partial=out) from None
        except (ValueError, TypeError) as e:
            raise OutputParseError(str(e), partial=out) from None
        except RecursionError:  # json.loads on thousands of nested brackets
            raise OutputParseError(f"{where} nests JSON too deeply: {line[:80]!r}", partial=out) from None
    if out.summary is None:
        raise OutputParseError(
            f"clas_system output ends without its summary line after {len(out.images)} image record(s): "
            "truncated (crash, kill, or lost connection)",
            partial=out,
        )
    return out


_RESULT_HDR = re.compile(r"^===\s*clas result for image:\s*(.*?)\s*===\s*$")
_FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"  # what float() accepts, so a match always converts
_TOP = re.compile(
    rf"^Top-(\d+),\s*class_id:\s*(-?\d+),\s*class_name:\s*(.*?),\s*score:\s*({_FLOAT}|nan|inf)\s*$"
)
_TIME = re.compile(rf"^Current time cost:\s*({_FLOAT})\s*(s|ms)\b")
# clas_system's line for a thresholded model that decided no class for an image
_NONE = "no class at or above the threshold"


def parse_paddleclas_text(stdout: str) -> ClasSystemOutput:
    """PaddleClas demo text; times are converted from the printed unit (the demo prints seconds) to ms."""
    out = ClasSystemOutput("paddleclas_text")
    current: ImageResult | None = None
    samples: list[float] = []
    for no, raw in enumerate(stdout.splitlines(), 1):
        line = raw.strip()
        m = _RESULT_HDR.match(line)
        if m:
            current = ImageResult(m.group(1), [])
            out.images.append(current)
            continue
        m = _TOP.match(line)
        if m:
            if current is None:
                raise OutputParseError(f"clas_system stdout line {no}: a Top- line before any "
                                       f"'===clas result for image' header: {line[:80]!r}", partial=out)
            current.topk.append(TopK(int(m.group(2)), m.group(3).strip(), float(m.group(4))))
            continue
        if line == _NONE and current is not None:
            current.classes = []
            continue
        m = _TIME.match(line)
        if m:
            value = float(m.group(1)) * (1000.0 if m.group(2) == "s" else 1.0)
            if not math.isfinite(value):
                raise OutputParseError(f"clas_system stdout line {no}: time {m.group(1)} {m.group(2)} is not a "
                                       "finite number", partial=out)
            samples.append(value)
            if current is not None:
                current.timing_ms["inference"] = value
            continue
        if line:
            out.ignored_lines.append(raw)
    if not out.images:
        raise OutputParseError("PaddleClas text output without any '===clas result for image' block", partial=out)
    empty = [r.image for r in out.images if not r.topk and r.classes is None]
    if empty:
        raise OutputParseError(f"no Top- lines for image(s) {', '.join(empty)}: truncated output", partial=out)
    out.summary = Summary(images=len(out.images), latency=latency_from_samples(samples))
    return out
