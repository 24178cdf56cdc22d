"""The emulated device through the real adb server: the adb CLI (Debian adb 29) and adbutils."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from fixtures_device import qemu_pids

pytestmark = pytest.mark.integration

PROBE_SRC = Path(__file__).parent / "data" / "emulator" / "probe.c"
CROSS = {"armv8": "aarch64-linux-gnu-gcc", "armv7": "arm-linux-gnueabihf-gcc"}
TMP = "/data/local/tmp"


@pytest.fixture(scope="session")
def probes(tmp_path_factory) -> dict[str, Path]:
    """The probe program compiled for aarch64 and armhf (dynamically linked: the sysroot must work)."""
    out = tmp_path_factory.mktemp("probes")
    made = {}
    for arch, cc in CROSS.items():
        if not shutil.which(cc):
            pytest.skip(f"{cc} not installed (apt-get install g++-aarch64-linux-gnu g++-arm-linux-gnueabihf)")
        exe = out / f"probe-{arch}"
        subprocess.run([cc, "-O1", "-o", str(exe), str(PROBE_SRC)], check=True, capture_output=True)
        made[arch] = exe
    return made


def sh(emu, cmd: str, **kw) -> subprocess.CompletedProcess:
    """``adb shell CMD`` through the adb CLI (shell v2: separate stderr and the exit code)."""
    return emu.adb("shell", cmd, **kw)


def push_probe(emu, probes, arch: str, name: str, mode: int = 0o755) -> str:
    src = probes[arch]
    os.chmod(src, mode)
    r = emu.adb("push", str(src), f"{TMP}/{name}")
    assert r.returncode == 0, r.stderr
    return f"{TMP}/{name}"



def _read_v2_until_exit(c) -> tuple[bytes, int]:
    """Read shell-v2 packets (id, u32 length, data) until the exit packet (id 3): (stdout+stderr, exit code)."""
    out = b""
    while True:
        head = c.read_exact(5)
        data = c.read_exact(struct.unpack("<I", head[1:])[0])
        if head[0] == 3:
            return out, data[0]
        out += data

def test_adb_lists_the_device_with_its_profile(emulator):
    r = emulator.adb_server.run("devices", "-l")
    line = next(l for l in r.stdout.decode().splitlines() if l.startswith(emulator.serial))
    assert " device " in line
    assert "model:edgeclas_emulated_armv8" in line and "device:emu64" in line


def test_adbutils_sees_an_ordinary_device(emulator):
    d = emulator.device()
    assert d.get_state() == "device"
    assert d.getprop("ro.product.cpu.abi") == "arm64-v8a"
    assert d.getprop("ro.product.cpu.abilist") == "arm64-v8a,armeabi-v7a,armeabi"
    assert d.getprop("ro.build.version.sdk") == "30"
    assert d.getprop("ro.serialno") == f"EDGECLASEMU{emulator.port}"
    assert d.prop.model == "edgeclas emulated armv8"
    assert "shell_v2" in d.get_features()


def test_shell_v2_exit_codes_and_stderr(emulator):
    r = sh(emulator, "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    res = emulator.device().shell2("ls /nonexistent; echo done", v2=True)
    assert res.returncode == 0 and res.stdout == "done\n"
    assert "ls: /nonexistent: No such file or directory" in res.stderr
    res = emulator.device().shell2("nosuchcommand", v2=True)
    assert res.returncode == 127 and "inaccessible or not found" in res.stderr
    # shell v1 (what adbutils.shell uses): output only, stdout and stderr merged.
    assert emulator.device().shell("echo a; echo b >&2") == "a\nb"


def test_shell_arguments_with_quotes_reach_the_device_intact(emulator):
    import shlex

    name = "we ird;name'$(x)"
    r = sh(emulator, f"cd {TMP} && touch {shlex.quote(name)} && ls {shlex.quote(name)} && rm {shlex.quote(name)}")
    assert r.returncode == 0 and r.stdout.decode() == name + "\n"


def test_push_pull_roundtrip_5mb_binary(emulator, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 17)
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    r = emulator.adb("push", str(src), f"{TMP}/rt/blob.bin")
    assert r.returncode == 0, r.stderr
    assert (emulator.root / "data/local/tmp/rt/blob.bin").read_bytes() == data
    back = tmp_path / "back.bin"
    r = emulator.adb("pull", f"{TMP}/rt/blob.bin", str(back))
    assert r.returncode == 0, r.stderr
    assert back.read_bytes() == data
    r = sh(emulator, f"sha256sum {TMP}/rt/blob.bin")
    assert r.stdout.decode().split()[0] == hashlib.sha256(data).hexdigest()
    # adbutils' own sync implementation too
    d = emulator.device()
    d.sync.push(data[:100000], f"{TMP}/rt/small.bin")
    assert d.sync.read_bytes(f"{TMP}/rt/small.bin") == data[:100000]


def test_stat_and_list(emulator, tmp_path):
    d = emulator.device()
    d.sync.push(b"12345", f"{TMP}/st/five.txt")
    info = d.sync.stat(f"{TMP}/st/five.txt")
    assert info.size == 5 and info.mode & 0o170000 == 0o100000
    assert d.sync.stat(f"{TMP}/st/missing").mtime is None
    names = [e.path for e in d.sync.list(f"{TMP}/st")]
    assert "five.txt" in names
    assert d.sync.stat(TMP).mode & 0o170000 == 0o040000


def test_push_to_directory_keeps_trailing_slash_semantics(emulator, tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("hello")
    sh(emulator, f"mkdir -p {TMP}/existing")
    assert emulator.adb("push", str(src), f"{TMP}/existing/").returncode == 0
    assert (emulator.root / "data/local/tmp/existing/a.txt").read_text() == "hello"
    r = emulator.adb("push", str(src), f"{TMP}/missing-dir/")
    assert r.returncode != 0
    assert not (emulator.root / "data/local/tmp/missing-dir/a.txt").exists()
    r = emulator.adb("push", str(src), f"{TMP}/existing/a.txt/under-a-file")
    assert r.returncode != 0 and b"Not a directory" in r.stdout + r.stderr  # the client stats first (STA2: ENOTDIR)


@pytest.mark.parametrize("remote", ["/../../../../etc/hostname", f"{TMP}/../../../../etc/hostname",
                                    "/proc/../../etc/hostname"])
def test_sync_cannot_escape_the_device_root(emulator, tmp_path, remote):
    """The host's /etc/hostname: the device (whose /etc is /system/etc) has none."""
    assert Path("/etc/hostname").is_file()
    r = emulator.adb("pull", remote, str(tmp_path / "stolen"))
    assert r.returncode != 0
    assert not (tmp_path / "stolen").exists() or (tmp_path / "stolen").read_bytes() != Path("/etc/hostname").read_bytes()


def test_pushes_outside_data_are_refused(emulator, tmp_path):
    src = tmp_path / "x"
    src.write_text("x")
    for remote in ("/system/x", "/proc/x", f"{TMP}/../../../x"):
        r = emulator.adb("push", str(src), remote)
        assert r.returncode != 0, remote
    assert not (emulator.root / "system/x").exists() and not (emulator.root / "x").exists()
    assert not Path("/x").exists()


def test_quota_makes_push_fail_like_a_full_phone(emulator_factory, tmp_path):
    emu = emulator_factory(quota_mb=1)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(2 * 1024 * 1024))
    r = emu.adb("push", str(src), f"{TMP}/big.bin")
    assert r.returncode != 0
    assert b"No space left on device" in r.stderr + r.stdout
    leftovers = list((emu.root / "data/local/tmp").iterdir())
    assert leftovers == []  # nothing half-written
    r = sh(emu, "df /data")
    assert r.returncode == 0 and b"/data" in r.stdout


def test_programs_cannot_write_a_file_past_the_quota(emulator_factory, probes):
    emu = emulator_factory(quota_mb=1)
    path = push_probe(emu, probes, "armv8", "probe")
    r = sh(emu, f"cd {TMP} && {path} fill big.bin 4000000")
    # The file stops at the free space: the write past it raises SIGXFSZ (128+25; qemu-user re-arms the
    # signal in each program, so it cannot be ignored for them and turned into EFBIG).
    assert r.returncode == 153 and b"File size limit exceeded" in r.stderr, r.stdout + r.stderr
    assert (emu.root / "data/local/tmp/big.bin").stat().st_size <= 1024 * 1024
    assert sh(emu, f"rm {TMP}/big.bin").returncode == 0
    assert sh(emu, f"cd {TMP} && {path} fill small.bin 65536").stdout == b"wrote=65536 bad=0\n"


def test_arm_programs_run_and_read_the_profile_cpuinfo(emulator, probes):
    for arch in ("armv8", "armv7"):  # an arm64 phone runs 32-bit ARM programs too
        path = push_probe(emulator, probes, arch, f"probe-{arch}")
        r = sh(emulator, f"{path} cpuinfo")
        out = r.stdout.decode()
        assert r.returncode == 0, r.stderr
        assert "Hardware\t: Qualcomm Technologies, Inc SM8150" in out
        assert "processors=8" in out
        assert "cpu0=1785600" in out and "cpu7=2841600" in out


def test_program_exit_status_env_cwd_and_stdin(emulator, probes):
    path = push_probe(emulator, probes, "armv8", "probe")
    assert sh(emulator, f"{path} exit 42").returncode == 42
    r = sh(emulator, f"FOO='a b' {path} env FOO")
    assert r.stdout == b"a b\n"
    r = sh(emulator, f"{path} env PYTEST_CURRENT_TEST")  # set in the host process that started the device
    assert os.environ.get("PYTEST_CURRENT_TEST") and r.stdout == b"(unset)\n"
    assert sh(emulator, f"{path} env TMPDIR").stdout == b"/data/local/tmp\n"  # Android's, not the host's
    r = sh(emulator, f"mkdir -p {TMP}/wd && cd {TMP}/wd && {path} cwd && cat here.txt")
    assert r.returncode == 0 and r.stdout == b"written by probe\n"
    r = sh(emulator, f"{path} stdin", input=b"x" * 1000)
    assert r.stdout == b"read=1000\n"
    r = sh(emulator, f"{path} stderr")
    assert (r.returncode, r.stdout, r.stderr) == (1, b"to stdout\n", b"to stderr\n")
    r = sh(emulator, f"{path} stderr > {TMP}/o.txt 2>&1; cat {TMP}/o.txt")
    assert sorted(r.stdout.decode().splitlines()) == ["to stderr", "to stdout"]


def test_crash_gives_139_and_abort_134(emulator, probes):
    path = push_probe(emulator, probes, "armv8", "probe")
    assert sh(emulator, f"{path} crash").returncode == 139
    assert sh(emulator, f"{path} abort").returncode == 134
    assert not list((emulator.root / "data/local/tmp").glob("*.core"))  # no qemu core files left behind


def test_timeout_kills_a_hanging_program(emulator, probes):
    path = push_probe(emulator, probes, "armv8", "probe")
    t0 = time.monotonic()
    r = sh(emulator, f"timeout 1 {path} spin")
    assert r.returncode == 124 and time.monotonic() - t0 < 10
    assert sh(emulator, "timeout 1 sleep 5").returncode == 124
    assert sh(emulator, f"timeout -s KILL 1 {path} spin").returncode == 137  # toybox: 128+KILL, as GNU timeout
    assert sh(emulator, "pgrep probe").returncode == 1


def test_missing_execute_bit_is_permission_denied(emulator, probes):
    path = push_probe(emulator, probes, "armv8", "noexec", mode=0o644)
    r = sh(emulator, path)
    assert r.returncode == 126 and b"Permission denied" in r.stderr
    assert sh(emulator, f"chmod +x {path} && {path} exit 0").returncode == 0


def test_x86_program_is_not_executable(emulator, tmp_path):
    """The host could run it natively; the device refuses it as a phone's kernel and mksh do (exit 1 is mksh's)."""
    exe = shutil.which("true")
    r = emulator.adb("push", exe, f"{TMP}/x86true")
    assert r.returncode == 0
    r = sh(emulator, f"chmod 755 {TMP}/x86true; {TMP}/x86true")
    assert r.returncode == 1 and b"/system/bin/sh: /data/local/tmp/x86true: not executable: 64-bit ELF file" in r.stderr


def test_armv7_device_refuses_arm64_programs(emulator_factory, probes):
    emu = emulator_factory(arch="armv7")
    assert emu.device().getprop("ro.product.cpu.abi") == "armeabi-v7a"
    p64 = push_probe(emu, probes, "armv8", "p64")
    p32 = push_probe(emu, probes, "armv7", "p32")
    r = sh(emu, p64)
    assert r.returncode == 1 and b"not executable: 64-bit ELF file" in r.stderr  # no aarch64 handler on a 32-bit phone
    r = sh(emu, f"{p32} cpuinfo; uname -m")
    assert r.returncode == 0 and b"processors=8" in r.stdout and r.stdout.endswith(b"armv7l\n")


def test_closing_the_stream_kills_the_program(emulator, probes):
    path = push_probe(emulator, probes, "armv8", "spinner")
    d = emulator.device()
    conn = d.open_transport()
    conn.send_command(f"shell,v2:{path} spin")
    conn.check_okay()
    deadline = time.monotonic() + 20
    while sh(emulator, "pgrep spinner").returncode != 0:
        assert time.monotonic() < deadline, "the program never started"
        time.sleep(0.2)
    conn.close()  # the adb client goes away
    deadline = time.monotonic() + 20
    while sh(emulator, "pgrep spinner").returncode == 0:
        assert time.monotonic() < deadline, "the program outlived its stream"
        time.sleep(0.2)


def test_restart_reconnects_and_keeps_files(emulator_factory, tmp_path):
    emu = emulator_factory()
    emu.device().sync.push(b"persist", f"{TMP}/keep.txt")
    emu.restart()
    assert emu.adb_server.run("-s", emu.serial, "get-state").stdout.strip() == b"device"
    assert sh(emu, f"cat {TMP}/keep.txt").stdout == b"persist"


def test_killing_the_device_mid_push_fails_the_push(emulator_factory, tmp_path):
    emu = emulator_factory()
    src = tmp_path / "huge.bin"
    with open(src, "wb") as f:
        f.truncate(300 * 1024 * 1024)  # sparse: big enough to be mid-transfer when killed
    result: dict[str, subprocess.CompletedProcess] = {}
    t = threading.Thread(target=lambda: result.setdefault("r", emu.adb("push", str(src), f"{TMP}/huge.bin")))
    t.start()
    deadline = time.monotonic() + 20
    while not any(p.name.endswith(".edgeclas-push") for p in (emu.root / "data/local/tmp").iterdir()):
        assert time.monotonic() < deadline and t.is_alive(), "push never started"
        time.sleep(0.02)
    emu.kill()
    t.join(60)
    assert result["r"].returncode != 0
    assert not (emu.root / "data/local/tmp/huge.bin").exists()
    emu.restart()  # the cut-off temporary file is cleaned when the device comes back
    assert not [p for p in (emu.root / "data/local/tmp").iterdir()]
    assert sh(emu, "echo back").stdout == b"back\n"


def test_cli_start_status_stop(adb_server, tmp_path):
    import json

    from click.testing import CliRunner

    from edgeclas.cli import cli

    runner = CliRunner()
    r = runner.invoke(cli, ["emulator", "start", "--arch", "armv8", "--adb-port", str(adb_server.port),
                            "--root", str(tmp_path / "root"), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    try:
        assert adb_server.run("-s", info["serial"], "shell", "getprop ro.product.device").stdout == b"emu64\n"
        r = runner.invoke(cli, ["emulator", "status", "--json"])
        rows = {row["serial"]: row for row in json.loads(r.output)}
        assert rows[info["serial"]]["state"] == "device"
    finally:
        r = runner.invoke(cli, ["emulator", "stop", "--serial", info["serial"]])
    assert r.exit_code == 0 and "stopped" in r.output
    assert b"device" not in adb_server.run("-s", info["serial"], "get-state").stdout
    r = runner.invoke(cli, ["emulator", "stop", "--port", "1"])
    assert r.exit_code == 9 and "no matching emulated device" in r.output


def test_interactive_pty_shell(emulator):
    c = emulator.device().open_transport()
    c.send_command("shell,v2,TERM=xterm,pty:")
    c.check_okay()
    line = b"cd /data/local/tmp; \x1b[Apwd\rtrue; exit 4\recho never\r"  # an arrow key is ignored
    c.conn.send(bytes([0]) + struct.pack("<I", len(line)) + line)
    out, code = _read_v2_until_exit(c)
    c.close()
    assert code == 4
    assert b"/data/local/tmp\r\n" in out and b"emu64:/data/local/tmp $ " in out
    assert b"never" not in out.replace(b"echo never", b"")  # typed ahead (and echoed), never run


def test_exec_out_is_raw_bytes(emulator):
    """exec: has no shell protocol: binary-clean output, stderr on the same stream (as adbd does it)."""
    r = emulator.adb("exec-out", "printf 'a\\nb\\0\\377'; echo err >&2")
    assert r.stdout == b"a\nb\0\xfferr\n"


def test_a_second_adb_implementation_works_too(emulator, tmp_path):
    """adbutils ships adb 36; the Debian one is 29. Both must push, pull and run with exit codes."""
    import adbutils

    adb36 = adbutils.adb_path()
    if not adb36 or not os.path.exists(adb36):
        pytest.skip("adbutils has no bundled adb binary")
    from edgeclas.emulator.manager import free_port

    port = str(free_port())
    env = dict(os.environ, ANDROID_ADB_SERVER_PORT=port)

    def adb(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([adb36, "-P", port, *args], capture_output=True, timeout=60, env=env, stdin=subprocess.DEVNULL)

    try:
        assert b"connected" in adb("connect", emulator.serial).stdout
        deadline = time.monotonic() + 20
        while adb("-s", emulator.serial, "get-state").stdout.strip() != b"device":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        src = tmp_path / "d.bin"
        src.write_bytes(os.urandom(300_000))
        assert adb("-s", emulator.serial, "push", str(src), f"{TMP}/adb36/d.bin").returncode == 0
        assert adb("-s", emulator.serial, "pull", f"{TMP}/adb36/d.bin", str(tmp_path / "e.bin")).returncode == 0
        assert (tmp_path / "e.bin").read_bytes() == src.read_bytes()
        r = adb("-s", emulator.serial, "shell", "echo x; exit 5")
        assert (r.returncode, r.stdout) == (5, b"x\n")
    finally:
        adb("kill-server")


def test_cli_start_errors_are_one_line_messages(adb_server, tmp_path):
    import socket

    from click.testing import CliRunner

    from edgeclas.cli import cli

    runner = CliRunner()
    r = runner.invoke(cli, ["emulator", "start", "--profile", "emulated-armv9", "--adb-port", str(adb_server.port)])
    assert r.exit_code == 2 and "device profile 'emulated-armv9' not found" in r.output
    assert "did you mean 'emulated-armv8'" in r.output and "Traceback" not in r.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = runner.invoke(cli, ["emulator", "start", "--port", str(port), "--adb-port", str(adb_server.port),
                                "--root", str(tmp_path / "root")])
    assert r.exit_code == 9 and f"while starting on port {port}" in r.output and "Address already in use" in r.output


def test_recursive_pull_and_push_of_folders(emulator, tmp_path):
    """Folder transfers list the remote side (LIS2/LIST) and stat it (STA2/STAT) the way adb does."""
    r = sh(emulator, f"mkdir -p {TMP}/tree/sub && echo a > {TMP}/tree/a && echo bb > {TMP}/tree/sub/b")
    assert r.returncode == 0
    assert emulator.adb("pull", f"{TMP}/tree", str(tmp_path / "tree")).returncode == 0
    assert (tmp_path / "tree/a").read_text() == "a\n" and (tmp_path / "tree/sub/b").read_text() == "bb\n"
    assert emulator.adb("push", str(tmp_path / "tree"), f"{TMP}/tree2").returncode == 0
    assert (emulator.root / "data/local/tmp/tree2/sub/b").read_text() == "bb\n"
    r = emulator.adb("ls", f"{TMP}/tree")
    assert sorted(line.split()[-1] for line in r.stdout.decode().splitlines()) == [".", "..", "a", "sub"]
    big = 5 * 1024 * 1024 * 1024  # a 5 GiB sparse file: sizes past 32 bits need stat_v2
    with open(emulator.root / "data/local/tmp/tree/sparse", "wb") as f:
        f.truncate(big)
    try:
        from edgeclas.emulator.fs import DeviceFS
        from edgeclas.emulator.services import _stat_v2

        raw = _stat_v2(DeviceFS(emulator.root, 1), f"{TMP}/tree/sparse", b"STA2", follow=True)
        assert raw[:4] == b"STA2" and int.from_bytes(raw[40:48], "little") == big
        missing = _stat_v2(DeviceFS(emulator.root, 1), f"{TMP}/nope", b"LST2", follow=False)
        assert int.from_bytes(missing[4:8], "little") == 2  # ENOENT in the error field
    finally:
        (emulator.root / "data/local/tmp/tree/sparse").unlink()


def test_start_again_reconnects_after_the_adb_server_restarts(adb_server, tmp_path):
    from edgeclas.device import AdbServer
    from edgeclas.emulator import manager

    # a private adb server: killing the shared one would take the session's emulator away from other tests
    port = manager.free_port()

    def adb(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([adb_server.adb, "-P", str(port), *args], capture_output=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    info = manager.start(adb_port=port, root=tmp_path / "root")
    assert (info.adb_server, info.adb_server_started) == (f"127.0.0.1:{port}", True)  # none ran on that port
    server = AdbServer("127.0.0.1", port)
    try:
        adb("kill-server")
        server.ensure_running()
        assert adb("-s", info.serial, "get-state").returncode != 0  # the new server does not know the device
        again = manager.start(port=info.port, adb_port=port)
        assert again.pid == info.pid and not again.adb_server_started  # the same process, only reconnected
        assert adb("-s", info.serial, "shell", "echo back").stdout == b"back\n"
        manager.stop(port=info.port, with_adb_server=True)
        assert server.reachable()  # it ran before that start: not the emulator's to end
    finally:
        adb("kill-server")
    # The handle says when start() started the server, and stop(with_adb_server=True) ends exactly that one.
    port2 = manager.free_port()
    info2 = manager.start(adb_port=port2, root=tmp_path / "root2")
    assert info2.adb_server_started and info2.adb_server == f"127.0.0.1:{port2}"
    manager.stop(port=info2.port, with_adb_server=True)
    assert not AdbServer("127.0.0.1", port2).reachable()


def test_programs_see_only_the_device(emulator, probes):
    emu = emulator
    for arch in ("armv8", "armv7"):
        path = push_probe(emu, probes, arch, f"probe-{arch}")
        r = sh(emu, f"{path} cpuinfo")
        assert r.returncode == 0 and b"processors=8" in r.stdout, r.stderr
    path = f"{TMP}/probe-armv8"
    # An absolute path that does not exist yet is created in the device, not on the host.
    r = sh(emu, f"{path} fill {TMP}/abs/new.bin 65536 || true; mkdir -p {TMP}/abs && {path} fill {TMP}/abs/new.bin 65536")
    assert r.stdout.endswith(b"wrote=65536 bad=0\n"), r.stdout + r.stderr
    assert (emu.root / "data/local/tmp/abs/new.bin").stat().st_size == 65536
    assert not Path("/data/local/tmp/abs/new.bin").exists()
    # Host files are out of sight, and the rest of the device is read-only.
    r = sh(emu, f"cd {TMP} && {path} fill /etc/edgeclas-should-not-exist 1")
    assert r.returncode == 5 and not Path("/etc/edgeclas-should-not-exist").exists()
    assert sh(emu, f"cd {TMP}/abs && {path} cwd && cat here.txt").stdout == b"written by probe\n"
    assert sh(emu, f"{path} crash").returncode == 139
    assert sh(emu, f"timeout 1 {path} spin").returncode == 124
    assert not list((emu.root / "dev").iterdir())  # the tmpfs lives in the device's namespace only


def test_concurrent_streams_do_not_mix(emulator):
    """Several adbutils clients at once: pushes, pulls and shells on interleaved streams of one connection."""
    from concurrent.futures import ThreadPoolExecutor

    d = emulator.device()

    def worker(k: int) -> bool:
        blob = os.urandom(100_000 + k)
        for i in range(3):
            remote = f"{TMP}/conc/{k}-{i}.bin"
            d.sync.push(blob, remote)
            if d.sync.read_bytes(remote) != blob:
                return False
            r = d.shell2(f"sha256sum {remote}; echo k={k} >&2; exit {k}", v2=True)
            if (r.returncode, r.stdout.split()[0], r.stderr) != (k, hashlib.sha256(blob).hexdigest(), f"k={k}\n"):
                return False
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(worker, range(4)))



def test_ld_library_path_with_device_paths(emulator, tmp_path):
    """A program linked to a shared library pushed beside it, found through LD_LIBRARY_PATH (as deploy runs clas_system)."""
    (tmp_path / "greet.c").write_text('const char *greet(void) { return "hello from libgreet"; }\n')
    (tmp_path / "main.c").write_text('#include <stdio.h>\nconst char *greet(void);\nint main(void) { puts(greet()); return 0; }\n')
    cc = CROSS["armv8"]
    if not shutil.which(cc):
        pytest.skip(f"{cc} not installed")
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(tmp_path / "libgreet.so"), str(tmp_path / "greet.c")], check=True)
    subprocess.run([cc, "-o", str(tmp_path / "main"), str(tmp_path / "main.c"), f"-L{tmp_path}", "-lgreet"], check=True)
    base = f"{TMP}/ldtest"
    assert emulator.adb("push", str(tmp_path / "libgreet.so"), f"{base}/lib/libgreet.so").returncode == 0
    assert emulator.adb("push", str(tmp_path / "main"), f"{base}/bin/main").returncode == 0
    r = sh(emulator, f"chmod 755 {base}/bin/main; {base}/bin/main")
    assert r.returncode == 127 and b"libgreet.so" in r.stderr  # the loader cannot find it without the path
    r = sh(emulator, f"cd {base} && export LD_LIBRARY_PATH={base}/lib && ./bin/main")
    assert (r.returncode, r.stdout) == (0, b"hello from libgreet\n")



def test_privileged_services_answer_like_a_user_build(emulator):
    r = emulator.adb("root")
    assert b"adbd cannot run as root in production builds" in r.stdout + r.stderr
    assert emulator.adb("get-state").stdout.strip() == b"device"  # still there afterwards
    r = sh(emulator, "exec sh -c 'exit 7'; echo not reached")
    assert (r.returncode, r.stdout) == (7, b"")



def test_reboot_drops_the_device_for_a_while_and_keeps_files(emulator_factory, probes):
    emu = emulator_factory()
    path = push_probe(emu, probes, "armv8", "sleeper")
    d = emu.device()
    conn = d.open_transport()
    try:
        conn.send_command(f"shell,v2:{path} spin")
        conn.check_okay()
        time.sleep(1)
        emu.adb("reboot")
        r = emu.adb("wait-for-device", timeout=90)
        assert r.returncode == 0
    finally:
        conn.close()  # the reboot cut it; close our end too
    deadline = time.monotonic() + 60
    while emu.adb("get-state").stdout.strip() != b"device":
        assert time.monotonic() < deadline, "the device never came back"
        time.sleep(0.5)
    assert sh(emu, "pgrep sleeper").returncode == 1  # programs did not survive the reboot
    assert sh(emu, f"ls {path}").returncode == 0  # files did


def test_stop_removes_a_cache_root_but_keeps_a_given_one(adb_server, tmp_path, monkeypatch):
    from edgeclas.emulator import manager

    from edgeclas import sdk

    # The userland stays where it is installed; only the emulators' state and roots move to the new cache.
    monkeypatch.setenv("EDGECLAS_USERLAND_ROOT", str(sdk.resolve("android-userland", arch="armv8").path.parent))
    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))
    own = manager.start(adb_port=adb_server.port)
    given = manager.start(adb_port=adb_server.port, root=tmp_path / "mine")
    assert Path(own.root).is_relative_to(tmp_path / "cache") and Path(own.root, "data/local/tmp").is_dir()
    manager.stop(all_=True)
    assert not Path(own.root).exists()
    assert (tmp_path / "mine/data/local/tmp").is_dir()
    assert manager.status(adb=False) == []



def test_programs_die_with_a_killed_device(emulator_factory, probes):
    emu = emulator_factory()
    path = push_probe(emu, probes, "armv8", "orphan")
    conn = emu.device().open_transport()
    conn.send_command(f"shell,v2:{path} spin")
    conn.check_okay()
    deadline = time.monotonic() + 20
    while not qemu_pids(emu.root):
        assert time.monotonic() < deadline, "the program never started"
        time.sleep(0.1)
    emu.kill()  # SIGKILL: the device gets no chance to clean up
    deadline = time.monotonic() + 10
    while qemu_pids(emu.root):
        assert time.monotonic() < deadline, "the program outlived the device"
        time.sleep(0.1)
    conn.close()


def test_ctrl_c_in_an_interactive_shell_stops_the_command(emulator, probes):
    path = push_probe(emulator, probes, "armv8", "ctrlc")
    c = emulator.device().open_transport()
    c.send_command("shell,v2,TERM=xterm,pty:")
    c.check_okay()

    def send(data: bytes) -> None:
        c.conn.send(bytes([0]) + struct.pack("<I", len(data)) + data)

    t0 = time.monotonic()
    send(b"sleep 30\r")
    time.sleep(0.5)
    send(b"\x03")
    send(b"echo $?; %s spin\r" % path.encode())
    time.sleep(1.5)
    send(b"\x03")
    send(b"echo $?; exit\r")
    out, code = _read_v2_until_exit(c)
    c.close()
    assert time.monotonic() - t0 < 15
    assert out.count(b"130\r\n") == 2  # sleep and the program were interrupted by SIGINT, the session went on



def test_pipelines_stream_and_stop_an_endless_writer(emulator, probes):
    path = push_probe(emulator, probes, "armv8", "yes")
    t0 = time.monotonic()
    r = sh(emulator, f"{path} yes | head -n 3; echo done", timeout=60)
    assert r.stdout == b"y\ny\ny\ndone\n" and time.monotonic() - t0 < 30
    assert sh(emulator, "pgrep yes").returncode == 1  # the writer got SIGPIPE when head was done
    r = sh(emulator, f"{path} cpuinfo | grep -c cpu | tee {TMP}/count.txt")
    assert r.stdout == b"8\n" and (emulator.root / "data/local/tmp/count.txt").read_bytes() == b"8\n"



def test_adb_logcat_dump_and_follow(emulator):
    assert sh(emulator, "log -t edgeclas-test written before").returncode == 0
    r = emulator.adb("logcat", "-d", timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(b"--------- beginning of main")
    assert b" I edgeclas-test: written before" in r.stdout
    # Plain `adb logcat` waits for new records, as on a phone; it ends when the client goes away.
    proc = subprocess.Popen([emulator.adb_server.adb, "-P", str(emulator.adb_port), "-s", emulator.serial, "logcat",
                             "-s", "late:I"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        assert sh(emulator, "log -t late 'arrived later'").returncode == 0
        deadline = time.monotonic() + 30
        seen = b""
        os.set_blocking(proc.stdout.fileno(), False)
        while b"arrived later" not in seen:
            assert time.monotonic() < deadline, seen
            seen += proc.stdout.read() or b""
            time.sleep(0.1)
        assert proc.poll() is None  # still following
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()



def test_background_programs_over_adb(emulator, probes):
    path = push_probe(emulator, probes, "armv8", "bg")
    r = sh(emulator, f"{path} exit 3 & echo started; wait $!; echo status=$?")
    assert r.stdout == b"started\nstatus=3\n"
    r = sh(emulator, f"{path} spin & sleep 1; kill $!; wait $!; echo status=$?")
    assert r.stdout == b"status=143\n"
    t0 = time.monotonic()
    r = sh(emulator, "sleep 1 & echo quick")  # the job holds the output: the session lasts until it ends
    assert r.stdout == b"quick\n" and time.monotonic() - t0 >= 0.9
    t0 = time.monotonic()
    r = sh(emulator, f"{path} spin > /dev/null 2>&1 & echo detached")  # does not hold it: ends with the session
    assert r.stdout == b"detached\n" and time.monotonic() - t0 < 10
    deadline = time.monotonic() + 20
    while sh(emulator, "pgrep bg").returncode == 0:
        assert time.monotonic() < deadline, "a background program outlived its session"
        time.sleep(0.2)


def test_adb_reverse_and_forward_cross_the_devices_own_loopback(emulator):
    """127.0.0.1 on the device is the device: a host port is out of reach until `adb reverse` makes one."""
    import socket

    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen(4)
    hport = host.getsockname()[1]
    got: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                c, _ = host.accept()
            except OSError:
                return
            with c:
                data = c.recv(100)
                got.append(data)
                c.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    try:
        r = sh(emulator, f"echo x | nc 127.0.0.1 {hport}")
        assert r.returncode == 1 and b"Connection refused" in r.stderr and got == []
        assert emulator.adb("reverse", "tcp:5678", f"tcp:{hport}").returncode == 0
        r = emulator.adb("reverse", "tcp:0", f"tcp:{hport}")
        picked = int(r.stdout.strip())
        listing = emulator.adb("reverse", "--list").stdout.decode()
        assert f"tcp:5678 tcp:{hport}" in listing and f"tcp:{picked} tcp:{hport}" in listing
        r = sh(emulator, "(echo ping; sleep 2) | nc 127.0.0.1 5678")
        assert (r.returncode, r.stdout, got) == (0, b"PING\n", [b"ping\n"])
        r = emulator.adb("reverse", "--no-rebind", "tcp:5678", "tcp:1")
        assert r.returncode != 0 and b"cannot rebind existing socket" in r.stderr
        assert emulator.adb("reverse", "--remove", "tcp:5678").returncode == 0
        r = emulator.adb("reverse", "--remove", "tcp:5678")
        assert r.returncode != 0 and b"listener 'tcp:5678' not found" in r.stderr
        assert emulator.adb("reverse", "--remove-all").returncode == 0
        assert emulator.adb("reverse", "--list").stdout.strip() == b""
        assert sh(emulator, f"echo x | nc 127.0.0.1 {picked}").returncode == 1  # its listener is gone too
    finally:
        host.close()
    # adb forward: the host's port to the device's own 127.0.0.1:7000, where a device program listens.
    from edgeclas.emulator.manager import free_port

    fport = free_port()
    assert emulator.adb("forward", f"tcp:{fport}", "tcp:7000").returncode == 0
    listener = subprocess.Popen([emulator.adb_server.adb, "-P", str(emulator.adb_port), "-s", emulator.serial, "shell",
                                 "sleep 20 | nc -l -p 7000 | head -n 1"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while b":7000 " not in sh(emulator, "netstat -ltn").stdout:  # the device's own sockets
            assert time.monotonic() < deadline and listener.poll() is None, "the device program never listened"
            time.sleep(0.2)
        # The connection stays open until the device program has its data (adb drops what a client sent
        # if it closes before the device accepted the stream).
        with socket.create_connection(("127.0.0.1", fport), timeout=20) as c:
            c.sendall(b"through forward\n")
            line = listener.stdout.readline()  # what the device program read from its connection
        assert line == b"through forward\n"
    finally:
        listener.kill()
        listener.wait()
        listener.stdout.close()
        emulator.adb("forward", "--remove", f"tcp:{fport}")



def test_sendrecv_v2_push_pull_and_dry_run(emulator):
    """SND2/RCV2 (feature sendrecv_v2, what adb 31+ clients use), spoken directly over a sync stream."""
    assert "sendrecv_v2" in emulator.device().get_features().split(",")
    blob = os.urandom(200_000)
    c = emulator.device().open_transport()
    c.send_command("sync:")
    c.check_okay()

    def send2(path: str, flags: int) -> bytes:
        raw = path.encode()
        c.conn.sendall(b"SND2" + struct.pack("<I", len(raw)) + raw + b"SND2" + struct.pack("<II", 0o100640, flags))
        for off in range(0, len(blob), 65536):
            chunk = blob[off:off + 65536]
            c.conn.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        c.conn.sendall(b"DONE" + struct.pack("<I", 1_700_000_000))
        status = c.read_exact(8)
        return status + (c.read_exact(struct.unpack("<I", status[4:])[0]) if status[:4] == b"FAIL" else b"")

    try:
        assert send2(f"{TMP}/v2/blob.bin", 0) == b"OKAY\0\0\0\0"
        local = emulator.root / "data/local/tmp/v2/blob.bin"
        assert local.read_bytes() == blob and local.stat().st_mode & 0o777 == 0o640
        assert int(local.stat().st_mtime) == 1_700_000_000
        assert send2(f"{TMP}/v2/dry.bin", 0x80000000) == b"OKAY\0\0\0\0"  # dry run: read, never stored
        assert not (emulator.root / "data/local/tmp/v2/dry.bin").exists()
        assert send2(f"{TMP}/v2/brotli.bin", 1).startswith(b"FAIL")  # compression was not offered
        raw = f"{TMP}/v2/blob.bin".encode()
        c.conn.sendall(b"RCV2" + struct.pack("<I", len(raw)) + raw + b"RCV2" + struct.pack("<I", 0))
        got = b""
        while True:
            head = c.read_exact(8)
            if head[:4] == b"DONE":
                break
            assert head[:4] == b"DATA", head
            got += c.read_exact(struct.unpack("<I", head[4:])[0])
        assert got == blob
        c.conn.sendall(b"QUIT" + struct.pack("<I", 0))
    finally:
        c.close()
