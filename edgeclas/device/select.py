"""Which device(s) a command talks to.

Order, as adb itself and adbutils do it: an explicit serial → ``$ANDROID_SERIAL`` → the only online
device → a clear error listing the candidates. ``all`` selects every online device.
"""

from __future__ import annotations

import os
import re

from .adb import AdbDevice, AdbServer, _state_error
from .errors import DeviceNotFound

__all__ = ["select_device", "select_devices"]

_HOST_PORT = re.compile(r"^[\w.\-\[\]:]+:\d+$")


def _describe(listing: list[tuple[str, str]]) -> str:
    return ", ".join(f"{s} ({st})" for s, st in listing) or "none"


def _by_serial(serial: str, server: AdbServer) -> AdbDevice:
    listing = server.list()
    states = dict(listing)
    answer = ""
    if serial not in states and _HOST_PORT.match(serial):
        # A network device (phone over Wi-Fi, the emulated device) not connected yet: connect once.
        answer = server.connect(serial).strip()
        listing = server.list()
        states = dict(listing)
    if serial not in states:
        raise DeviceNotFound(
            f"no device '{serial}' on the adb server at {server.address}; connected: {_describe(listing)}"
            + (f" (adb connect said: {answer})" if answer else "")
        )
    if states[serial] != "device":
        raise _state_error(serial, states[serial], server)
    return AdbDevice(serial, server)


def select_device(serial: str | None = None, server: AdbServer | None = None) -> AdbDevice:
    """The one device to use (see module doc); raises DeviceNotFound/Offline/Unauthorized/AdbServerError."""
    server = server or AdbServer.resolve()
    serial = serial or os.environ.get("ANDROID_SERIAL") or None
    if serial:
        return _by_serial(serial, server)
    listing = server.list()
    online = [s for s, st in listing if st == "device"]
    if len(online) == 1:
        return AdbDevice(online[0], server)
    if not online:
        if listing:  # only offline/unauthorized ones: say why each cannot be used
            raise _state_error(listing[0][0], listing[0][1], server)
        raise DeviceNotFound(
            f"no device connected to the adb server at {server.address}",
            hint="plug in a phone with USB debugging on, 'adb connect HOST:PORT', "
            "or start the emulated one: edgeclas emulator start --arch armv8",
        )
    raise DeviceNotFound(
        f"{len(online)} devices connected ({', '.join(online)}); which one?",
        hint="pass --device SERIAL (or set ANDROID_SERIAL); --device all where a command supports it",
    )


def select_devices(spec: str | None = None, server: AdbServer | None = None) -> list[AdbDevice]:
    """``None`` → :func:`select_device`; ``"all"`` → every online device; ``"a,b"`` → each of them."""
    server = server or AdbServer.resolve()
    if spec is None or spec.strip() == "":
        return [select_device(None, server)]
    if spec.strip() == "all":
        online = [AdbDevice(s, server) for s, st in server.list() if st == "device"]
        if not online:
            return [select_device(None, server)]  # raises the right "none usable" error
        return online
    return [_by_serial(s.strip(), server) for s in spec.split(",") if s.strip()]
