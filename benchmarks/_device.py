"""A private emulated device for the benchmark scripts: its own adb server and device on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator


@dataclass(frozen=True)
class PrivateDevice:
    emulator: Any  # edgeclas.emulator.manager.EmulatorInfo
    adb: str  # the adb binary
    adb_port: int  # the private adb server's port (also $ANDROID_ADB_SERVER_PORT while the device runs)
    work: Path  # a scratch directory; the device's root is work/root

    @property
    def serial(self) -> str:
        return self.emulator.serial


@contextlib.contextmanager
def private_device(arch: str = "armv8", prefix: str = "bench-") -> Iterator[PrivateDevice]:
    """Start an adb server and an emulated ``arch`` device on free ports; stop both on the way out."""
    from edgeclas.device import adb_binary
    from edgeclas.emulator import manager

    adb = adb_binary()
    adb_port = manager.free_port()
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(adb_port)
    work = Path(tempfile.mkdtemp(prefix=prefix))
    emu = None
    try:
        emu = manager.start(arch=arch, adb_port=adb_port, root=work / "root")
        yield PrivateDevice(emu, adb, adb_port, work)
    finally:
        if emu is not None:
            manager.stop(port=emu.port)
        subprocess.run([adb, "-P", str(adb_port), "kill-server"], capture_output=True)
