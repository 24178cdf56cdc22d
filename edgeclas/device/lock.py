"""An exclusive inter-process lock on one device, so two edgeclas runs never share a phone.

``deploy`` and each ``bench`` worker hold it for as long as they use the device: an exclusive ``flock``
on ``cache_dir("locks")/device-<serial>.lock`` (the holder's pid and command are written into it, so a
second run waiting for the device can say who has it). The kernel drops the lock when its holder dies.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from typing import Any

from ..errors import DeviceError
from ..fsutil import safe_name
from ..paths import cache_dir

__all__ = ["device_lock"]


class device_lock:
    """Exclusive inter-process lock on one device (``with device_lock(serial, timeout_s):``)."""

    def __init__(self, serial: str, timeout_s: float = 600.0, poll_s: float = 0.5) -> None:
        self.serial = serial
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.path = cache_dir("locks") / f"device-{safe_name(serial)}.lock"
        self._fd: int | None = None

    def __enter__(self) -> "device_lock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                    os.close(fd)
                    raise DeviceError(
                        f"{self.serial}: device is busy (held by {holder}) for more than {self.timeout_s:g} s",
                        hint=f"wait for that run to finish, or raise --lock-timeout (lock file {self.path})",
                    ) from None
                time.sleep(self.poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv[:3])}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
