"""Devices behind one interface: :class:`Device` (push, pull, shell, info, sha256), reached through adb.

Phones over USB, phones in a pool behind a remote adb server, and the emulated device
(``edgeclas emulator``) are all :class:`AdbDevice`. Select one with :func:`select_device`.
"""

from __future__ import annotations

from .adb import AdbDevice, AdbServer, adb_binary
from ..errors import DeviceError
from .base import CpuCluster, Device, DeviceInfo, ShellResult
from .errors import (
    AdbServerError,
    DeviceNotFound,
    DeviceOffline,
    DeviceUnauthorized,
    OutputParseError,
    PushError,
    RemoteCommandError,
    RemoteCrash,
    RemoteTimeout,
)
from .lock import device_lock
from .select import select_device, select_devices

__all__ = [
    "Device",
    "DeviceInfo",
    "CpuCluster",
    "ShellResult",
    "AdbDevice",
    "AdbServer",
    "adb_binary",
    "select_device",
    "select_devices",
    "device_lock",
    "DeviceNotFound",
    "DeviceOffline",
    "DeviceUnauthorized",
    "AdbServerError",
    "PushError",
    "RemoteCommandError",
    "RemoteCrash",
    "RemoteTimeout",
    "OutputParseError",
    "doctor_rows",
]


def doctor_rows() -> list:
    """``edgeclas doctor`` rows: the adb binary and whether the adb server answers."""
    from ..doctor import ToolStatus, which_version

    rows = []
    exe = adb_binary()
    if exe:
        _, ver = which_version(exe, ("version",))
        rows.append(ToolStatus("device", "adb", True, ver, exe))
    else:
        rows.append(ToolStatus("device", "adb", False, how="apt-get install adb  (or pip install 'edgeclas[device]')"))
    try:
        server = AdbServer.resolve()
    except AdbServerError as e:
        return rows + [ToolStatus("device", "adb server", False, how=e.hint or "", note=e.message)]
    up = server.reachable(timeout=0.5)
    version = ""
    if up:
        try:
            version = f"protocol {server.version()}"
        except DeviceError:
            pass  # it answers the port but not adb: the row still says where
    rows.append(ToolStatus(
        "device", "adb server", up, version, where=server.address,
        how="" if up else f"adb -P {server.port} start-server  (edgeclas starts it when needed)",
        note="" if up else "not running",
    ))
    return rows
