"""One error hierarchy for every stage.

Each error carries a one-line message that names the file, line, key or device at fault, and a
``hint`` saying what to do next. The CLI prints ``error: <message>`` and ``hint: <hint>`` and exits
with the class's ``exit_code``; tracebacks are shown only with ``--debug``.
"""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = [
    "did_you_mean",
    "EdgeclasError",
    "ConfigError",
    "DataError",
    "ModelError",
    "IntegrityError",
    "ToolchainError",
    "BuildError",
    "ConversionError",
    "ValidationError",
    "DeviceError",
    "TrainingError",
]


def did_you_mean(name: str, choices: Iterable[str], what: str = "valid") -> str:
    """A hint naming the choice closest to ``name``, or listing them all when none is close."""
    choices = list(choices)
    near = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f"did you mean '{near[0]}'?" if near else f"{what}: {', '.join(choices)}"


class EdgeclasError(Exception):
    """Root of every error edgeclas raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(EdgeclasError):
    """A recipe, option, override or config file is wrong (names the key or the line)."""

    exit_code = 2


class DataError(EdgeclasError):
    """A dataset, list file, label file or image is missing or malformed (names file and line)."""

    exit_code = 3


class ModelError(EdgeclasError):
    """A checkpoint, exported model or model directory is missing, corrupt or inconsistent."""

    exit_code = 4


class IntegrityError(ModelError):
    """A file differs from what its manifest recorded (truncated, byte-flipped, replaced, or not listed).

    Never a reason to fall back to another engine or file: the artifact is damaged and must be made
    again (or used deliberately with ``--no-verify``).
    """


class ToolchainError(EdgeclasError):
    """An external tool or SDK piece (NDK, compiler, qemu, opt, ORT, adb) is missing or unusable."""

    exit_code = 5


class BuildError(EdgeclasError):
    """Configuring or compiling native code failed."""

    exit_code = 6


class ConversionError(EdgeclasError):
    """Converting a model (ONNX, .nb) failed."""

    exit_code = 7


class ValidationError(EdgeclasError):
    """Engines or devices disagree beyond tolerance, or a result is unusable."""

    exit_code = 8


class DeviceError(EdgeclasError):
    """Talking to a device failed: not found, offline, push failed, remote crash, timeout, bad output."""

    exit_code = 9


class TrainingError(EdgeclasError):
    """Training could not finish: a training process died or the distributed launcher failed."""

    exit_code = 10
