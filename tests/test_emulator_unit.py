"""The emulated device's pieces that need no adb: profiles, the generated root, the sync sandbox, the
transport, the device init's binfmt rules, the manager's state files."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from edgeclas.emulator.fs import DeviceFS, FsError, populate_root
from edgeclas.emulator.profile import ADB_FEATURES, load_profile, profile_names
from edgeclas.errors import ConfigError
from edgeclas.sdk.userland import Userland


@pytest.fixture
def userland(tmp_path) -> Userland:
    """A stand-in userland folder: the layout populate_root copies from (the files need not run here)."""
    root = tmp_path / "ul"
    for rel in ("system/bin/sh", "system/bin/toybox", "system/bin/busybox", "system/lib64/libcrypt.so.1",
                "system/lib/libcrypt.so.1"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"\x7fELF " + rel.encode())
    return Userland("armv8", root, {"mksh": "59c", "toybox": "0.8.9"}, ("cat", "ls", "sha256sum", "md5sum", "log"),
                    ("tr", "awk"))


@pytest.fixture
def dev(tmp_path, userland):
    profile = load_profile("emulated-armv8")
    root = tmp_path / "root"
    populate_root(root, profile, userland)
    return DeviceFS(root, 1024 * 1024), profile


def test_profiles_load_and_describe_clusters():
    names = profile_names()
    assert {"emulated-armv8", "emulated-armv7", "snapdragon855-phone"} <= set(names)
    p = load_profile("snapdragon855-phone")
    assert p.arch == "armv8" and p.ncpu == 8
    assert [c.max_khz for c in p.clusters] == [1785600, 2419200, 2841600]
    assert p.cpu_cluster(7).name == "prime" and p.cpu_cluster(0).name == "little"
    for name in names:
        assert load_profile(name).props["ro.product.cpu.abi"] in ("arm64-v8a", "armeabi-v7a")
    emu = load_profile("emulated-armv8")
    assert emu.adb_features == ADB_FEATURES and emu.missing_commands == ()
    assert emu.kernel_release == "4.14.190-edgeclas"


def test_unknown_profile_and_bad_keys_are_named(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_profile("emulated-armv9")
    assert "did you mean" in (e.value.hint or "")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\narch: mips\ncpu: {clusters: []}\n")
    with pytest.raises(ConfigError, match="arch 'mips'"):
        load_profile(bad)
    old = tmp_path / "old.yaml"
    old.write_text((Path(__file__).parents[1] / "devices/emulated-armv8.yaml").read_text()
                   + "adb_features: [shell_v2, teleport]\n")
    with pytest.raises(ConfigError, match="does not serve teleport") as e:
        load_profile(old)
    assert "stat_v2" in e.value.hint


def test_root_layout_is_a_phones(dev, userland):
    fs, _ = dev
    root = fs.root
    assert os.readlink(root / "bin") == "system/bin" and os.readlink(root / "etc") == "system/etc"
    assert (root / "system/bin/sh").read_bytes() == (userland.root / "system/bin/sh").read_bytes()
    for cmd in ("cat", "ls", "sha256sum"):
        assert os.readlink(root / "system/bin" / cmd) == "toybox"
    assert os.readlink(root / "system/bin/tr") == "busybox"
    # The device's own log command wins over a multicall binary's applet of the same name.
    assert not (root / "system/bin/log").is_symlink() and (root / "system/bin/log").read_text().startswith("#!/system/bin/sh")
    assert os.access(root / "system/bin/getprop", os.X_OK)
    props = (root / "system/build.prop").read_text().splitlines()
    keys = [line.split("=", 1)[0] for line in props]
    assert keys == sorted(keys) and "ro.product.cpu.abi=arm64-v8a" in props
    assert os.readlink(root / "usr/lib/aarch64-linux-gnu/libcrypt.so.1") == "/system/lib64/libcrypt.so.1"
    assert "shell:x:2000:2000" in (root / "system/etc/passwd").read_text()
    for mount_point in ("dev", "proc", "usr/aarch64-linux-gnu/lib", "usr/arm-linux-gnueabihf/lib"):
        assert (root / mount_point).is_dir()
    if os.geteuid() == 0:
        assert (root / "data/local/tmp").stat().st_uid == 2000  # the shell user's, as on a phone


def test_refresh_rebuilds_system_and_keeps_data(dev, userland, tmp_path):
    fs, profile = dev
    (fs.root / "data/local/tmp/keep.txt").write_text("mine")
    (fs.root / "system/bin/stale").write_text("from an older layout")
    import dataclasses

    populate_root(fs.root, dataclasses.replace(profile, missing_commands=("sha256sum",)), userland)
    assert (fs.root / "data/local/tmp/keep.txt").read_text() == "mine"
    assert not (fs.root / "system/bin/stale").exists()
    assert not (fs.root / "system/bin/sha256sum").exists() and (fs.root / "system/bin/md5sum").is_symlink()


@pytest.mark.parametrize("path", ["../../../../../../etc/passwd", "/../../etc/passwd",
                                  "/data/local/tmp/../../../../etc/passwd"])
def test_sync_paths_cannot_escape_the_device_root(dev, path):
    fs, _ = dev
    res = fs.resolve(path, "/data/local/tmp")
    assert str(res.host).startswith(str(fs.root))


def test_planted_symlink_leading_out_is_dangling_for_sync(dev, tmp_path):
    fs, _ = dev
    secret = tmp_path / "secret"
    secret.write_text("host only")
    os.symlink(secret, fs.root / "data/local/tmp/link")
    with pytest.raises(FsError):
        fs.resolve("/data/local/tmp/link")
    with pytest.raises(FsError) as e:
        fs.resolve("/system/x", write=True)
    assert "Read-only file system" in str(e.value)


def test_proc_and_sys_are_generated_from_the_profile(dev):
    fs, _ = dev
    cpuinfo = (fs.root / "proc/cpuinfo").read_text()
    assert cpuinfo.count("processor\t:") == 8
    assert "Hardware\t: Qualcomm Technologies, Inc SM8150" in cpuinfo
    assert cpuinfo.count("CPU part\t: 0x804") == 4
    freqs = [int((fs.root / f"sys/devices/system/cpu/cpu{i}/cpufreq/cpuinfo_max_freq").read_text()) for i in range(8)]
    assert freqs == [1785600] * 4 + [2419200] * 3 + [2841600]
    assert (fs.root / "sys/devices/system/cpu/possible").read_text() == "0-7\n"
    # One uevent per CPU, as a kernel has: programs that count CPUs by them agree with cpuinfo.
    assert sum((fs.root / f"sys/devices/system/cpu/cpu{i}/uevent").is_file() for i in range(9)) == 8
    assert "MemTotal:        5795460 kB" in (fs.root / "proc/meminfo").read_text()


def test_armv7_cpuinfo_reads_like_a_32bit_kernel(tmp_path, userland):
    import dataclasses

    profile = load_profile("emulated-armv7")
    populate_root(tmp_path, profile, dataclasses.replace(userland, arch="armv7"))
    text = (tmp_path / "proc/cpuinfo").read_text()
    assert "model name\t: ARMv7 Processor rev 4 (v7l)" in text and "AArch64" not in text
    assert "neon" in text
    assert not (tmp_path / "lib/aarch64-linux-gnu").exists()  # a 32-bit phone has no 64-bit loader


def test_binfmt_rules_match_arm_and_refuse_dynamic_x86_only():
    """The device init's binfmt_misc masks, applied to real ELF headers: ARM runs under qemu; a dynamic
    x86 program is refused; qemu's own static-pie binary (which the kernel loads as the interpreter)
    must not be, or nothing would run."""
    import shutil

    from edgeclas.emulator.devinit import _ELF_MAGIC, _FOREIGN

    def parse(esc: str) -> bytes:
        return bytes(int(h, 16) for h in esc.split("\\x")[1:])

    def matches(rule, head: bytes) -> bool:
        magic, mask = (parse(x) for x in rule)
        return len(head) >= len(magic) and all((h & m) == (g & m) for h, m, g in zip(head, mask, magic))

    def head(path) -> bytes:
        with open(path, "rb") as f:
            return f.read(128)

    qemu = shutil.which("qemu-aarch64-static")
    if not qemu:
        pytest.skip("qemu-user-static not installed")
    assert not any(matches(rule, head(qemu)) for rule in [*_FOREIGN.values(), *_ELF_MAGIC.values()])
    assert matches(_FOREIGN["x86-64"], head(sys.executable))  # a dynamically linked x86-64 program
    arm64 = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x03\x00\xb7\x00" + bytes(44)
    arm32 = b"\x7fELF\x01\x01\x01\x00" + bytes(8) + b"\x02\x00\x28\x00" + bytes(44)
    assert matches(_ELF_MAGIC["aarch64"], arm64) and not matches(_ELF_MAGIC["arm"], arm64)
    assert matches(_ELF_MAGIC["arm"], arm32) and not matches(_ELF_MAGIC["aarch64"], arm32)


def test_adb_message_framing():
    import socket

    from edgeclas.emulator.transport import A_OPEN, A_WRTE, pack_message, read_message

    raw = pack_message(A_OPEN, 7, 0, b"shell:ls\0")
    cmd, a0, a1, length, crc, magic = struct.unpack("<6I", raw[:24])
    assert (cmd, a0, a1, length, crc, magic) == (A_OPEN, 7, 0, 9, 0, A_OPEN ^ 0xFFFFFFFF)
    assert struct.unpack("<6I", pack_message(A_WRTE, 1, 2, b"\x01\x02", checksum=True)[:24])[4] == 3
    a, b = socket.socketpair()
    with a, b:
        a.sendall(raw + raw[:24].replace(struct.pack("<I", A_OPEN ^ 0xFFFFFFFF), b"\0\0\0\0"))
        msg = read_message(b)
        assert (msg.command, msg.arg0, msg.data) == (A_OPEN, 7, b"shell:ls\0")
        with pytest.raises(ValueError, match="magic"):
            read_message(b)


def test_transport_handshake_refusal_and_flow_control():
    """The device side of the transport against a scripted host on a socketpair (no adb involved)."""
    import select
    import socket
    import threading

    from edgeclas.emulator.transport import (A_CLSE, A_CNXN, A_OKAY, A_OPEN, A_WRTE, ADB_VERSION, Connection,
                                             pack_message, read_message)

    def service(name):
        if name != "burst:":
            return None
        return lambda stream: [stream.write(bytes([k]) * 10) for k in range(3)]

    dev, host = socket.socketpair()
    conn = Connection(dev, b"device::features=shell_v2", service)
    threading.Thread(target=conn.serve, daemon=True).start()
    with host:
        host.settimeout(5)
        host.sendall(pack_message(A_CNXN, ADB_VERSION, 4096, b"host::\0"))
        m = read_message(host)
        assert (m.command, m.arg0, m.arg1, m.data) == (A_CNXN, ADB_VERSION, 1024 * 1024, b"device::features=shell_v2")
        host.sendall(pack_message(A_OPEN, 11, 0, b"nosuch:\0"))
        m = read_message(host)
        assert (m.command, m.arg0, m.arg1) == (A_CLSE, 0, 11)  # refused
        host.sendall(pack_message(A_OPEN, 12, 0, b"burst:\0"))
        m = read_message(host)
        assert m.command == A_OKAY and m.arg1 == 12
        local = m.arg0
        for k in range(3):
            m = read_message(host)
            assert (m.command, m.arg0, m.arg1, m.data) == (A_WRTE, local, 12, bytes([k]) * 10)
            if k < 2:
                # no further data may arrive before we acknowledge this packet (peek, never half-read)
                assert select.select([host], [], [], 0.3)[0] == []
                host.sendall(pack_message(A_OKAY, 12, local))
            else:
                m = read_message(host)
                assert (m.command, m.arg0, m.arg1) == (A_CLSE, local, 12)  # the service finished
        host.sendall(pack_message(A_WRTE, 12, local, b"late"))  # to a stream that is gone
        m = read_message(host)
        assert (m.command, m.arg0, m.arg1) == (A_CLSE, local, 12)


def test_status_marks_dead_emulators_and_stop_all_cleans_them(tmp_path, monkeypatch):
    from edgeclas.emulator import manager

    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = tmp_path / "emulators" / "5999.json"
    state.parent.mkdir(parents=True)
    # "isolate" is what an older edgeclas wrote: read past, not an unreadable state file.
    state.write_text(json.dumps({"serial": "127.0.0.1:5999", "port": 5999, "pid": dead.pid, "profile": "emulated-armv8",
                                 "arch": "armv8", "root": str(tmp_path / "r"), "adb_port": 1, "log": str(tmp_path / "l"),
                                 "isolate": True}))
    rows = manager.status(adb=False)
    assert [(r.serial, r.state) for r in rows] == [("127.0.0.1:5999", "not running")]
    assert [r.state for r in manager.stop(all_=True)] == ["stopped"]
    assert manager.status(adb=False) == [] and not state.exists()


def test_no_isolate_is_refused_with_the_reason():
    from edgeclas.emulator import manager

    with pytest.raises(ConfigError, match="real shell") as e:
        manager.start(isolate=False)
    assert "--no-isolate" in e.value.message and "namespaces" in e.value.hint


def test_doctor_rows_describe_the_emulator(tmp_path, monkeypatch):
    from edgeclas.doctor import PROVIDERS
    from edgeclas.emulator.manager import doctor_rows, sandbox_problem

    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path))
    assert "edgeclas.emulator.manager:doctor_rows" in PROVIDERS
    rows = {r.name: r for r in doctor_rows()}
    assert rows["emulator profiles"].version == str(len(profile_names()))
    assert rows["emulated devices"].version == "0 running"
    box = rows["emulator sandbox"]
    assert box.found == (sandbox_problem() is None)
    assert box.found or (box.note and "namespaces" in box.how)  # missing: says why and what to do


def test_missing_userland_names_the_sdk_install(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from edgeclas.cli import cli

    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGECLAS_USERLAND_ROOT", raising=False)
    r = CliRunner().invoke(cli, ["emulator", "start", "--arch", "armv7", "--root", str(tmp_path / "root")])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "no Android userland (mksh, toybox) for armv7" in r.output
    assert "edgeclas sdk install android-userland --arch armv7" in r.output
    assert not (tmp_path / "root").exists() and not list((tmp_path / "cache").glob("emulators/*.json"))
