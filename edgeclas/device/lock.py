"""An exclusive inter-process lock on one device, so two edgeclas runs never share a phone.

``deploy`` and each ``bench`` worker hold it for as long as they use the device: an exclusive ``flock``
on ``cache_dir("locks")/device-<identity>.lock`` (the holder's pid, command and serial are written into
it, so a second run waiting for the device can say who has it). The kernel drops the lock when its
holder dies.

The lock is keyed on what the device says it is (:attr:`edgeclas.device.base.DeviceInfo.identity`:
``ro.serialno`` and the boot id), not on the serial text that reached it: ``127.0.0.1:5555`` and
``localhost:5555`` are one phone, and two runs reaching it by either name wait for each other.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from typing import Any

from ..errors import DeviceError
from ..fsutil import safe_name
from ..paths import cache_dir

__all__ = ["device_lock"]

# Devices this process holds, by identity → the serial it reached them by: one process asking for a device it
# already holds (``bench --devices 127.0.0.1:5555,localhost:5555``) is refused at once instead of waiting on itself.
_HELD: dict[str, str] = {}
_HELD_LOCK = threading.Lock()


class device_lock:
    """Exclusive inter-process lock on one device (``with device_lock(info.identity, timeout_s, name=serial):``).

    ``key``: the device's identity; ``name``: how this run reached it (the serial), for messages.
    """

    def __init__(self, key: str, timeout_s: float = 600.0, poll_s: float = 0.5, *, name: str | None = None) -> None:
        self.key = key
        self.serial = name or key
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.path = cache_dir("locks") / f"device-{safe_name(key)}.lock"
        self._fd: int | None = None

    def __enter__(self) -> "device_lock":
        with _HELD_LOCK:
            other = _HELD.get(self.key)
            if other is not None:
                raise DeviceError(
                    f"{self.serial}: is the same device as {other} ({self.key}), which this run already uses",
                    hint="name each device once (edgeclas devices lists them)",
                )
            _HELD[self.key] = self.serial
        try:
            return self._acquire()
        except BaseException:
            with _HELD_LOCK:
                _HELD.pop(self.key, None)
            raise

    def _acquire(self) -> "device_lock":
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
        os.pwrite(fd, f"pid {os.getpid()} ({' '.join(sys.argv[:3])}) as {self.serial}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
            with _HELD_LOCK:
                _HELD.pop(self.key, None)
