"""An emulated ARM Android device reached through the real adb server (``adb connect 127.0.0.1:PORT``).

It speaks the device side of the ADB transport (:mod:`.transport`, :mod:`.services`), lays out a
phone's root folder from a device profile and the ``android-userland`` SDK item (:mod:`.fs`,
:mod:`.profile`): Android's own shell (mksh) and commands (toybox) as ARM programs. Its init
(:mod:`.devinit`, driven through :mod:`.sandbox`) gives the device namespaces of its own and runs
every program under qemu-user through binfmt_misc. :mod:`.manager` starts and stops it as a
background process; ``edgeclas emulator start|stop|status`` is the CLI over it.
"""

from __future__ import annotations

from .manager import EmulatorInfo, start, status, stop
from .profile import DeviceProfile, load_profile, profile_names

__all__ = ["EmulatorInfo", "start", "stop", "status", "DeviceProfile", "load_profile", "profile_names"]
