"""Device-layer errors: one class per fault, each with a default hint saying what to do next.

Every class derives from :class:`edgeclas.errors.DeviceError` (exit code 9). ``partial`` carries
whatever was already collected when the fault happened (e.g. a ``RunResult`` with the raw stdout
of a crashed run) so callers can write it out instead of losing it.
"""

from __future__ import annotations

from typing import Any

from ..errors import DeviceError

__all__ = [
    "DeviceNotFound",
    "DeviceOffline",
    "DeviceUnauthorized",
    "AdbServerError",
    "PushError",
    "RemoteCommandError",
    "RemoteCrash",
    "RemoteTimeout",
    "OutputParseError",
]


class _DeviceFault(DeviceError):
    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None, partial: Any = None) -> None:
        super().__init__(message, hint=hint or self.default_hint or None)
        self.partial = partial


class DeviceNotFound(_DeviceFault):
    """No device with that serial, or none at all, or several when one was expected."""

    default_hint = "run 'edgeclas devices' to list devices; pass --device SERIAL (or set ANDROID_SERIAL)"


class DeviceOffline(_DeviceFault):
    """The adb server knows the device but it does not answer (rebooting, cable, network)."""

    default_hint = "reconnect it (USB cable / 'adb connect HOST:PORT'), wait a few seconds and retry"


class DeviceUnauthorized(_DeviceFault):
    """The phone has not accepted this computer's adb key."""

    default_hint = "unlock the phone and accept the 'Allow USB debugging?' prompt, then retry"


class AdbServerError(_DeviceFault):
    """The adb server is not reachable (wrong host/port) or could not be started."""

    default_hint = (
        "start it with 'adb -P PORT start-server', or point edgeclas at a running one with "
        "--adb-server HOST:PORT / EDGECLAS_ADB_SERVER / ANDROID_ADB_SERVER_PORT"
    )


class PushError(_DeviceFault):
    """A file could not be written to the device (no space, read-only path, connection lost).

    The backend gives the hint that fits the cause (a lost connection is not a full disk); this
    default is for the rest.
    """

    default_hint = "read the device's reason above; check the remote dir with 'adb shell ls -ld DIR'"


class RemoteCommandError(_DeviceFault):
    """A command on the device exited non-zero (not a crash, not a timeout)."""

    default_hint = "read the stderr above; run the same command with 'adb shell' to reproduce"


class RemoteCrash(_DeviceFault):
    """A program on the device was killed by a signal (segfault, abort, illegal instruction)."""

    default_hint = (
        "the binary crashed on the device; check the build matches the device ABI/OS "
        "('edgeclas devices') and rerun with --keep to debug it with 'adb shell'"
    )


class RemoteTimeout(_DeviceFault):
    """A program on the device ran past its time limit and was killed."""

    default_hint = "raise --timeout, or lower --repeats / the number of images"


class OutputParseError(_DeviceFault):
    """A program's output could not be parsed (garbage, truncated, wrong format)."""

    default_hint = "the raw output is kept in the result file; check the binary and the build it came from"
