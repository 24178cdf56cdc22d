"""Device fixtures: a private adb server and emulated ARM devices connected to it.

* ``adb_server`` (session): the real adb server on a free loopback port; ``ANDROID_ADB_SERVER_PORT``
  points at it for the whole session (adbutils and the adb CLI both honour it); killed at the end.
* ``emulator`` (session): an armv8 emulated device on a free port, connected (state ``device``).
  ``.serial``, ``.root`` (device root folder on the host), ``.port``, ``.adb_port``, ``.stop()``.
* ``emulator_factory`` (function): ``make(arch="armv8", quota_mb=None, profile=None, port=None, root=None)``
  for tests that kill, restart or fill a device; every device it made is stopped afterwards.

Devices run Android's real userland (``edgeclas sdk install android-userland``) in a sandbox of
their own namespaces; without either, the fixtures skip with the reason and the fix.

Keep these names: the deploy, devices and bench tests use them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edgeclas import device as edgeclas_device
from edgeclas.emulator import manager


@dataclass
class AdbServer:
    port: int
    adb: str

    def run(self, *args: str, timeout: float = 120, input: bytes | None = None) -> subprocess.CompletedProcess:
        """``adb -P PORT ARGS…`` (bytes output), never raising on a non-zero exit."""
        return subprocess.run([self.adb, "-P", str(self.port), *args], capture_output=True, timeout=timeout,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL)

    def client(self):
        import adbutils

        return adbutils.AdbClient(host="127.0.0.1", port=self.port)


@dataclass
class EmulatorHandle:
    adb_server: AdbServer
    info: manager.EmulatorInfo
    quota_mb: int | None = None
    profile: str = "emulated-armv8"  # a name, or the YAML file it was started from
    stopped: bool = field(default=False)

    @property
    def serial(self) -> str:
        return self.info.serial

    @property
    def port(self) -> int:
        return self.info.port

    @property
    def adb_port(self) -> int:
        return self.info.adb_port

    @property
    def root(self) -> Path:
        return Path(self.info.root)

    @property
    def pid(self) -> int:
        return self.info.pid

    def device(self):
        """The adbutils device for this emulator."""
        return self.adb_server.client().device(self.serial)

    def adb(self, *args: str, timeout: float = 120, input: bytes | None = None) -> subprocess.CompletedProcess:
        """``adb -s SERIAL ARGS…`` through the test adb server."""
        return self.adb_server.run("-s", self.serial, *args, timeout=timeout, input=input)

    def kill(self) -> None:
        """Kill the device process abruptly (SIGKILL): the adb server sees the connection drop."""
        if not self.stopped:
            try:
                os.killpg(self.info.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.info.pid, 0)
            except ChildProcessError:
                pass

    def restart(self) -> None:
        """Start the same device again (same port, same root) and reconnect the adb server."""
        self.kill()
        manager._state_file(self.port).unlink(missing_ok=True)
        self.info = manager.start(profile=self.profile, port=self.port, adb_port=self.adb_port,
                                  root=self.root, quota_mb=self.quota_mb, die_with_caller=True)
        self.stopped = False

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        try:
            manager.stop(port=self.port)
        except Exception:  # already gone (killed by the test): make sure the process is, too
            self.kill()
            manager._state_file(self.port).unlink(missing_ok=True)


def _require_tools() -> str:
    adb = edgeclas_device.adb_binary()
    if not adb:
        pytest.skip("adb not available (apt-get install adb, or pip install adbutils)")
    if not shutil.which("qemu-aarch64-static"):
        pytest.skip("qemu-user-static not installed (apt-get install qemu-user-static)")
    from edgeclas import sdk

    for arch in ("armv8", "armv7"):
        try:
            sdk.resolve("android-userland", arch=arch)
        except Exception as e:  # ToolchainError
            pytest.skip(f"{e} ({getattr(e, 'hint', '')})")
    problem = manager.sandbox_problem()
    if problem:
        pytest.skip(f"the emulated device cannot boot here: {problem}")
    return adb


@pytest.fixture(scope="session")
def adb_server():
    adb = _require_tools()
    port = manager.free_port()
    old = os.environ.get("ANDROID_ADB_SERVER_PORT")
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(port)
    server = AdbServer(port, adb)
    try:
        edgeclas_device.AdbServer("127.0.0.1", port).ensure_running()
        yield server
    finally:
        server.run("kill-server", timeout=30)
        if old is None:
            os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
        else:
            os.environ["ANDROID_ADB_SERVER_PORT"] = old


def _make(adb_server: AdbServer, base: Path, *, arch: str = "armv8", profile: str | os.PathLike[str] | None = None,
          quota_mb: int | None = None, port: int | None = None, root: Path | None = None) -> EmulatorHandle:
    root = root or base / f"{Path(str(profile)).stem if profile else arch}-root"
    info = manager.start(arch=arch, profile=str(profile) if profile else None, port=port, adb_port=adb_server.port,
                         root=root, quota_mb=quota_mb, die_with_caller=True)  # a killed pytest leaves no device running
    return EmulatorHandle(adb_server, info, quota_mb, str(profile) if profile else info.profile)


def qemu_pids(root: Path, name: str = "") -> list[int]:
    """Host pids of qemu running a program of the device at ``root`` (whose argv mentions ``name``):
    device programs run chrooted, so their ``/proc/PID/root`` is the device root."""
    pids = []
    real_root = os.path.realpath(root)
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            argv = (p / "cmdline").read_bytes().decode(errors="replace").split("\0")
            chroot = os.readlink(p / "root")
        except OSError:
            continue
        if not os.path.basename(argv[0]).startswith("qemu-") or not any(name in a for a in argv[1:]):
            continue
        if chroot == real_root:
            pids.append(int(p.name))
    return pids


@pytest.fixture(scope="session")
def emulator(adb_server, tmp_path_factory):
    handle = _make(adb_server, tmp_path_factory.mktemp("emulator"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def emulator_factory(adb_server, tmp_path):
    made: list[EmulatorHandle] = []
    counter = iter(range(1000))

    def make(**kwargs) -> EmulatorHandle:
        handle = _make(adb_server, tmp_path / f"dev{next(counter)}", **kwargs)
        made.append(handle)
        return handle

    try:
        yield make
    finally:
        for h in made:
            h.stop()
