"""An emulated ARM Android device reached through the real adb server (``adb connect 127.0.0.1:PORT``).

It speaks the device side of the ADB transport (:mod:`.transport`, :mod:`.services`), answers
``getprop`` and ``/proc``/``/sys`` from a device profile (:mod:`.profile`), keeps files in a sandbox
folder (:mod:`.fs`), interprets a small sh (:mod:`.shell`, :mod:`.builtins`) and runs pushed ARM
programs under qemu-user (:mod:`.programs`). :mod:`.manager` starts and stops it as a background
process; ``edgeclas emulator start|stop|status`` is the CLI over it.
"""

from __future__ import annotations

from .manager import EmulatorInfo, start, status, stop
from .profile import DeviceProfile, load_profile, profile_names

__all__ = ["EmulatorInfo", "start", "stop", "status", "DeviceProfile", "load_profile", "profile_names"]
