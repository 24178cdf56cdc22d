"""Pure device-info parsers on recorded output of real devices (tests/data/device/)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgeclas.device.adb import AdbServer, parse_sha256sum
from edgeclas.device.errors import AdbServerError
from edgeclas.device.info import (
    SECTION,
    build_device_info,
    device_os,
    freq_command,
    group_clusters,
    info_command,
    parse_cpu_list,
    parse_cpufreq,
    parse_cpuinfo,
    parse_getprop,
    split_sections,
)

DATA = Path(__file__).parent / "data" / "device"


def recorded_info_output(name: str) -> tuple[str, str]:
    """What :func:`info_command` prints on that device (sections in the command's order), and the freq text."""
    d = DATA / name
    parts = [("props", "getprop"), ("cpuinfo", "cpuinfo"), ("cpus", "ls_cpu"), ("uname", "uname"), ("linker", "linker")]
    text = "".join(f"{SECTION}{sec}\n" + (d / f"{f}.txt").read_text() for sec, f in parts)
    return text, (d / "cpufreq.txt").read_text()


def test_info_command_sections_come_back_in_order():
    names = [p.split(SECTION)[1].split(";")[0] for p in info_command().split("echo ")[1:]]
    assert names == ["props", "cpuinfo", "cpus", "uname", "linker", "bootid"]


BOOT = "5f7c1a52-9d0e-4b1e-8c39-2f4b0d6e7a11"


def test_identity_comes_from_the_device_not_from_the_serial_text():
    text, freq = recorded_info_output("sd855_phone")
    with_boot = text + f"{SECTION}bootid\n{BOOT}\n"
    by_ip = build_device_info("127.0.0.1:5555", "device", with_boot, freq)
    by_name = build_device_info("localhost:5555", "device", with_boot, freq)
    assert by_ip.boot_id == BOOT and by_ip.identity == by_name.identity == f"7c2a9b31/{BOOT}"
    # the same phone after a reboot is another boot; another phone with a cloned serial number too
    other = build_device_info("127.0.0.1:5555", "device", text + f"{SECTION}bootid\n{BOOT[:-1]}2\n", freq)
    assert other.identity != by_ip.identity
    # a board without getprop: the boot id alone; a device that says neither: its serial, marked as such
    board = build_device_info("board", "device", f"{SECTION}uname\naarch64\n{SECTION}bootid\n{BOOT}\n")
    assert board.identity == f"?/{BOOT}"
    denied = f"{SECTION}bootid\ncat: /proc/sys/kernel/random/boot_id: Permission denied\n"
    assert build_device_info("usb123", "device", denied).identity == "serial:usb123"
    assert by_ip.to_dict()["boot_id"] == BOOT


def test_getprop_parses_every_line_and_multiline_values():
    props = parse_getprop((DATA / "sd855_phone" / "getprop.txt").read_text())
    assert props["ro.product.model"] == "MI 9"
    assert props["ro.product.cpu.abilist"] == "arm64-v8a,armeabi-v7a,armeabi"
    assert props["persist.vendor.note"] == "first line\nsecond line"
    assert props["ro.kernel.qemu"] == ""
    assert len(props) == 49


def test_cpuinfo_arm64_and_arm32_layouts():
    c64 = parse_cpuinfo((DATA / "sd855_phone" / "cpuinfo.txt").read_text())
    assert c64["processors"] == list(range(8))
    assert c64["parts"][0] == "Kryo 4xx Silver" and c64["parts"][7] == "Kryo 4xx Gold"
    assert c64["hardware"] == "Qualcomm Technologies, Inc SM8150"
    assert "asimddp" in c64["features"]
    c32 = parse_cpuinfo((DATA / "msm8917_phone" / "cpuinfo.txt").read_text())
    assert c32["processors"] == [0, 1, 2, 3]
    assert set(c32["parts"].values()) == {"Cortex-A53"}
    assert c32["model_name"].startswith("ARMv7")


def test_cpu_list_ignores_cpufreq_and_cpuidle_entries():
    assert parse_cpu_list((DATA / "sd855_phone" / "ls_cpu.txt").read_text()) == list(range(8))
    assert parse_cpu_list((DATA / "rk3399_board" / "ls_cpu.txt").read_text()) == list(range(6))
    assert parse_cpu_list("cpufreq\ncpuidle\n") == []


def test_freq_command_quotes_and_parses_back(tmp_path):
    cmd = freq_command([0, 7])
    assert 'echo @cpu7; read -r f < /sys/devices/system/cpu/cpu7/cpufreq/cpuinfo_max_freq && echo "$f"' in cmd
    out = subprocess.run(["sh", "-c", freq_command([0]).replace("/sys/devices/system/cpu/cpu0/cpufreq", str(tmp_path))],
                         capture_output=True, text=True)  # a POSIX sh (a board's) runs it too; no such file here
    assert out.stdout == "@cpu0\n"
    (tmp_path / "cpuinfo_max_freq").write_text("1785600\n")
    out = subprocess.run(["sh", "-c", freq_command([0]).replace("/sys/devices/system/cpu/cpu0/cpufreq", str(tmp_path))],
                         capture_output=True, text=True)
    assert parse_cpufreq(out.stdout) == {0: 1785600}
    # a core without cpufreq (offline, or no file) prints only its marker: it is left out, not misassigned
    assert parse_cpufreq("@cpu0\n1785600\n@cpu1\n@cpu2\n2419200\n") == {0: 1785600, 2: 2419200}


def test_clusters_little_big_prime_and_single():
    clusters = group_clusters(parse_cpufreq((DATA / "sd855_phone" / "cpufreq.txt").read_text()))
    assert [(c.role, c.cpus, c.max_freq_khz) for c in clusters] == [
        ("little", (0, 1, 2, 3), 1785600), ("big", (4, 5, 6), 2419200), ("prime", (7,), 2841600)]
    single = group_clusters({0: 1401600, 1: 1401600})
    assert [(c.role, c.cpus) for c in single] == [("all", (0, 1))]
    assert group_clusters({}) == ()


def test_sd855_phone_info():
    text, freq = recorded_info_output("sd855_phone")
    info = build_device_info("7c2a9b31", "device", text, freq)
    assert info.model == "MI 9" and info.manufacturer == "Xiaomi"
    assert info.abi == "arm64-v8a" and info.abilist == ("arm64-v8a", "armeabi-v7a", "armeabi")
    assert info.os == "android" and info.android_version == "11" and info.sdk == "30"
    assert info.soc == "Qualcomm Technologies, Inc SM8150"  # no ro.soc.model on Android 11
    assert info.board == "msmnile"
    assert info.cpu_count == 8
    assert [c.role for c in info.clusters] == ["little", "big", "prime"]
    assert info.build_arch == "armv8" and info.build_target == "android-armv8"
    d = info.to_dict()
    assert d["cpu_max_freq_khz"]["7"] == 2841600 and "props" not in d


def test_32bit_phone_gets_the_armv7_build():
    text, freq = recorded_info_output("msm8917_phone")
    info = build_device_info("R58M21ABCDE", "device", text, freq)
    assert info.abilist == ("armeabi-v7a", "armeabi")
    assert info.build_target == "android-armv7"
    assert info.soc.endswith("MSM8917")
    assert [c.role for c in info.clusters] == ["all"]


def test_linux_board_without_getprop():
    text, freq = recorded_info_output("rk3399_board")
    info = build_device_info("192.168.1.20:5555", "device", text, freq)
    assert info.os == "linux"
    assert info.abi == "arm64-v8a"  # from uname -m
    assert info.build_target == "linux-armv8"
    assert info.cpu_parts == ("Cortex-A53", "Cortex-A72")
    assert [(c.role, c.cpus) for c in info.clusters] == [("little", (0, 1, 2, 3)), ("big", (4, 5))]


def test_device_os_rules():
    android = {"ro.build.version.sdk": "30"}
    assert device_os(android) == "android"
    assert device_os(android, "") == "linux"  # Android props but no bionic linker: glibc userland (emulated)
    assert device_os(android, "/system/bin/linker64") == "android"
    assert device_os({**android, "ro.edgeclas.os": "linux"}, "/system/bin/linker64") == "linux"


def test_split_sections_keeps_text_before_first_marker_out():
    assert split_sections(f"noise\n{SECTION}a\nx\ny\n{SECTION}b\n") == {"a": "x\ny", "b": ""}


def test_md5sum_and_ls_sizes_for_older_phones():
    from edgeclas.device.adb import _digest_command, parse_digest_output

    md5 = "d41d8cd98f00b204e9800998ecf8427e"
    assert parse_digest_output("md5", f"{md5}  /d/a.png\n{'0' * 64}  /d/b\n") == {"/d/a.png": md5}
    listing = ("@@edgeclas:/d/a b.png\n-rw-rw-rw- 1 shell shell 1234 2024-01-01 12:00 /d/a b.png\n"  # toybox
               "@@edgeclas:/d/old.png\n-rw-rw---- shell    sdcard_rw    77 2015-03-02 10:11 old.png\n"  # toolbox
               "@@edgeclas:/d/gone\nls: /d/gone: No such file or directory\n")
    assert parse_digest_output("size", listing) == {"/d/a b.png": "1234", "/d/old.png": "77"}
    assert _digest_command("size", ["/d/a b.png"]) == "echo '@@edgeclas:/d/a b.png'; ls -l '/d/a b.png'"


def test_sha256sum_output_toybox_and_escaped_names():
    h = "a" * 64
    text = f"{h}  /data/local/tmp/e/bin/clas_system\n\\{h}  /data/local/tmp/e/a\\nb.png\nsha256sum: x: No such file\n"
    assert parse_sha256sum(text) == {"/data/local/tmp/e/bin/clas_system": h, "/data/local/tmp/e/a\nb.png": h}


def test_adb_server_resolution(monkeypatch):
    for var in ("EDGECLAS_ADB_SERVER", "ANDROID_ADB_SERVER_PORT", "ANDROID_ADB_SERVER_HOST"):
        monkeypatch.delenv(var, raising=False)
    assert AdbServer.resolve() == AdbServer("127.0.0.1", 5037, explicit=False)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "5099")
    assert AdbServer.resolve().port == 5099 and not AdbServer.resolve().explicit
    monkeypatch.setenv("EDGECLAS_ADB_SERVER", "10.1.2.3:6000")
    s = AdbServer.resolve()
    assert (s.host, s.port, s.explicit, s.is_local) == ("10.1.2.3", 6000, True, False)
    assert AdbServer.resolve("[::1]:5038") == AdbServer("::1", 5038, explicit=True)
    with pytest.raises(AdbServerError, match="--adb-server"):
        AdbServer.resolve("host:notaport")


def test_devices_table_rows_for_recorded_phone_and_board():
    from edgeclas.cli.devices import device_row

    text, freq = recorded_info_output("sd855_phone")
    row = device_row(build_device_info("7c2a9b31", "device", text, freq))
    assert row == ["7c2a9b31", "device", "MI 9", "arm64-v8a,armeabi-v7a,armeabi", "11 (API 30)",
                   "Qualcomm Technologies, Inc SM8150 / msmnile", "4×1.79 + 3×2.42 + 1×2.84 GHz", "android-armv8"]
    text, freq = recorded_info_output("rk3399_board")
    row = device_row(build_device_info("192.168.1.20:5555", "device", text, freq))
    assert row[3:] == ["arm64-v8a,armeabi-v7a", "", "", "4×1.42 + 2×1.80 GHz", "linux-armv8"]


@pytest.mark.parametrize("state, exc", [
    ("unauthorized", "DeviceUnauthorized"), ("authorizing", "DeviceUnauthorized"), ("offline", "DeviceOffline"),
    ("absent", "DeviceNotFound"), ("recovery", "DeviceOffline"),
])
def test_adb_states_map_to_distinct_errors_with_hints(state, exc):
    from edgeclas.device.adb import _state_error

    err = _state_error("R58M21ABCDE", state, AdbServer())
    assert type(err).__name__ == exc and "R58M21ABCDE" in err.message and err.hint
    if state == "unauthorized":
        assert "Allow USB debugging" in err.hint


def test_doctor_rows_name_the_server_and_how_to_start_it(monkeypatch):
    import socket

    from edgeclas.device import doctor_rows

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("EDGECLAS_ADB_SERVER", raising=False)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    rows = {r.name: r for r in doctor_rows()}
    assert rows["adb server"].found is False and rows["adb server"].where == f"127.0.0.1:{port}"
    assert f"-P {port} start-server" in rows["adb server"].how
    assert rows["adb"].found == bool(rows["adb"].where)
