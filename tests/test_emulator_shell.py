"""The emulated device's shell, sandbox and generated /proc, /sys — run in-process, no adb needed."""

from __future__ import annotations

import os
import re
import time

import pytest

from edgeclas.emulator.fs import DeviceFS, FsError, populate_root
from edgeclas.emulator.profile import load_profile, profile_names
from edgeclas.emulator.programs import ProcessTable, elf_machine
from edgeclas.emulator.shell import Shell, ShellIO, Sink, Source, parse, tokenize, ShellSyntaxError
from edgeclas.errors import ConfigError


@pytest.fixture
def dev(tmp_path):
    profile = load_profile("emulated-armv8")
    root = tmp_path / "root"
    populate_root(root, profile)
    return DeviceFS(root, 1024 * 1024), profile


def run(dev, cmd: str, stdin: bytes = b"", shell: Shell | None = None):
    fs, profile = dev
    sh = shell or Shell(fs, profile, ProcessTable())
    out, err = Sink(), Sink()
    status = sh.run(cmd, ShellIO(Source(stdin), out, err))
    return status, bytes(out.data).decode(), bytes(err.data).decode()


def test_profiles_load_and_describe_clusters():
    names = profile_names()
    assert {"emulated-armv8", "emulated-armv7", "snapdragon855-phone"} <= set(names)
    p = load_profile("snapdragon855-phone")
    assert p.arch == "armv8" and p.ncpu == 8
    assert [c.max_khz for c in p.clusters] == [1785600, 2419200, 2841600]
    assert p.cpu_cluster(7).name == "prime" and p.cpu_cluster(0).name == "little"
    for name in names:
        assert load_profile(name).props["ro.product.cpu.abi"] in ("arm64-v8a", "armeabi-v7a")


def test_unknown_profile_suggests_the_nearest(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_profile("emulated-armv9")
    assert "did you mean" in (e.value.hint or "")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\narch: mips\ncpu: {clusters: []}\n")
    with pytest.raises(ConfigError, match="arch 'mips'"):
        load_profile(bad)


def test_words_and_quoting_follow_posix_sh(dev):
    status, out, _ = run(dev, """X='a  b'; echo 'single $X' "double $X" \\$X un\\ split $X; echo "${X}!" ${Y:-dflt}""")
    assert status == 0
    assert out.splitlines() == ["single $X double a  b $X un split a b", "a  b! dflt"]


def test_lists_exit_codes_and_unknown_commands(dev):
    status, out, err = run(dev, "false && echo no; false || echo yes; true; nosuchcmd arg")
    assert status == 127
    assert out == "yes\n"
    assert err == "/system/bin/sh: nosuchcmd: inaccessible or not found\n"
    assert run(dev, "exit 3; echo never")[:2] == (3, "")
    assert run(dev, "false; echo $?")[1] == "1\n"
    assert run(dev, "! false")[0] == 0


def test_syntax_errors_are_reported_not_raised(dev):
    status, _, err = run(dev, "echo 'unterminated")
    assert status == 2 and "unterminated" in err
    status, _, err = run(dev, "echo a; (echo b)")
    assert status == 2 and "subshells" in err
    with pytest.raises(ShellSyntaxError):
        parse("if true; then echo x")


def test_assignment_prefix_and_export(dev):
    fs, profile = dev
    sh = Shell(fs, profile, ProcessTable())
    assert run(dev, "A=1 env | grep '^A='", shell=sh)[1] == "A=1\n"
    assert run(dev, "echo [$A]", shell=sh)[1] == "[]\n"
    assert run(dev, "B=2; export C=3; env | grep -E '^(B|C)='", shell=sh)[1] == "C=3\n"
    assert run(dev, "echo $B$C", shell=sh)[1] == "23\n"


def test_redirections(dev):
    fs, _ = dev
    status, out, err = run(dev, "cd /data/local/tmp && echo one > f && echo two >> f && cat f; "
                                "cat missing 2>/dev/null; echo e 2>&1 1>&2 | cat; echo f 1>&2 | cat; ls nothere > /dev/null 2>&1; echo $?")
    assert status == 0
    assert out == "one\ntwo\ne\n1\n"  # 2>&1 1>&2: both to the pipe, as in sh
    assert err == "f\n"
    assert (fs.root / "data/local/tmp/f").read_text() == "one\ntwo\n"
    status, out, err = run(dev, "cat < /data/local/tmp/f | wc -l")
    assert out.strip() == "2"


def test_control_flow_and_globbing(dev):
    status, out, _ = run(dev, "cd /data/local/tmp; touch b.jpg a.jpg c.txt; for f in *.jpg; do echo img $f; done; "
                              "if [ -f a.jpg ]; then echo yes; else echo no; fi; "
                              "s=; while [ \"$s\" != xxx ]; do s=${s}x; echo s=$s; done; until true; do echo never; done; echo '*.jpg'")
    assert status == 0
    lines = out.splitlines()
    assert lines == ["img a.jpg", "img b.jpg", "yes", "s=x", "s=xx", "s=xxx", "*.jpg"]


def test_break_and_continue_in_for_and_while_loops(dev):
    status, out, _ = run(dev, "for i in 1 2 3 4; do if [ $i = 2 ]; then continue; fi; if [ $i = 4 ]; then break; fi; "
                              "echo f$i; done; "
                              "n=; while true; do n=${n}x; if [ $n = xx ]; then continue; fi; echo w$n; "
                              "if [ $n = xxx ]; then break; fi; done; "
                              "for a in 1 2; do for b in 1 2 3; do if [ $b = 2 ]; then continue 2; fi; echo $a$b; done; done; "
                              "for a in 1 2; do for b in 1 2; do echo $a$b; break 2; done; done; echo end")
    assert status == 0
    assert out.splitlines() == ["f1", "f3", "wx", "wxxx", "11", "21", "11", "end"]


def test_file_builtins(dev):
    fs, _ = dev
    script = ("cd /data/local/tmp && mkdir -p a/b && echo hi > a/b/x && cp a/b/x y && mv y z && chmod 755 z && "
              "stat -c '%s %a %n' z && sha256sum z && md5sum z && ls a/b && rm -rf a && ls")
    status, out, err = run(dev, script)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "3 755 z"
    assert lines[1] == "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4  z"
    assert lines[2] == "764efa883dda1e11db47671c4a3bbd9e  z"
    assert lines[3:] == ["x", "z"]
    assert oct((fs.root / "data/local/tmp/z").stat().st_mode & 0o777) == "0o755"


@pytest.mark.parametrize("cmd", [
    "cat ../../../../../../etc/passwd",
    "cat /../../etc/passwd",
    "cd /data/local/tmp/../../../..; cat etc/passwd",
    "cat /data/local/tmp/../../../../etc/passwd",
])
def test_paths_cannot_escape_the_device_root(dev, cmd):
    status, out, err = run(dev, cmd)
    assert status != 0 and "root:" not in out
    assert "No such file or directory" in err


def test_planted_symlink_leading_out_is_dangling(dev):
    fs, _ = dev
    os.symlink("/etc/passwd", fs.root / "data/local/tmp/link")
    status, out, err = run(dev, "cat /data/local/tmp/link")
    assert status == 1 and "root:" not in out
    with pytest.raises(FsError):
        fs.resolve("/data/local/tmp/link")


def test_system_is_read_only(dev):
    status, _, err = run(dev, "echo x > /system/evil; mkdir /proc/x; rm -rf /system; rm -rf /data/local/tmp")
    assert status != 0
    assert "Read-only file system" in err
    fs, _ = dev
    assert not (fs.root / "system/evil").exists() and (fs.root / "system/build.prop").exists()
    assert (fs.root / "data/local/tmp").is_dir()


def test_quota_refuses_writes_past_it(dev):
    status, _, err = run(dev, "cd /data/local/tmp; echo 0123456789 > small; cat small small > two")
    assert status == 0
    fs, _ = dev
    (fs.root / "data/local/tmp/big").write_bytes(b"x" * (fs.quota_bytes - 100))
    status, _, err = run(dev, "cp /data/local/tmp/big /sdcard/copy")
    assert status == 1 and "No space left on device" in err
    assert not (fs.root / "sdcard/copy").exists()


def test_getprop_and_system_info_follow_the_profile(dev):
    status, out, _ = run(dev, "getprop ro.product.cpu.abi; getprop ro.soc.model; getprop no.such.prop fallback; "
                              "uname -m; nproc; id -u")
    assert out.splitlines() == ["arm64-v8a", "SM8150", "fallback", "aarch64", "8", "2000"]
    status, out, _ = run(dev, "getprop")
    assert re.search(r"^\[ro\.product\.model\]: \[edgeclas emulated armv8\]$", out, re.M)


def test_proc_and_sys_are_generated_from_the_profile(dev):
    fs, profile = dev
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


def test_armv7_cpuinfo_reads_like_a_32bit_kernel(tmp_path):
    profile = load_profile("emulated-armv7")
    populate_root(tmp_path, profile)
    text = (tmp_path / "proc/cpuinfo").read_text()
    assert "model name\t: ARMv7 Processor rev 4 (v7l)" in text and "AArch64" not in text
    assert "neon" in text


def test_timeout_and_sleep_builtins(dev):
    t0 = time.monotonic()
    status, _, _ = run(dev, "timeout 0.3 sleep 5")
    assert status == 124 and time.monotonic() - t0 < 3
    assert run(dev, "timeout 5 true")[0] == 0
    assert run(dev, "timeout 5 false")[0] == 1


def test_non_executable_and_foreign_files(dev):
    fs, _ = dev
    tmp = fs.root / "data/local/tmp"
    (tmp / "script.sh").write_text("#!/system/bin/sh\necho script $1 $#\nexit 5\n")
    status, out, err = run(dev, "cd /data/local/tmp; ./script.sh a")
    assert status == 126 and "Permission denied" in err
    (tmp / "script.sh").chmod(0o755)
    assert run(dev, "cd /data/local/tmp; ./script.sh a b")[:2] == (5, "script a 2\n")
    # An x86-64 ELF header: a phone's shell refuses it.
    (tmp / "x86").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9 + (2).to_bytes(2, "little") + (62).to_bytes(2, "little") + b"\0" * 100)
    (tmp / "x86").chmod(0o755)
    status, _, err = run(dev, "/data/local/tmp/x86")
    assert status == 126 and "not executable: 64-bit ELF file" in err
    assert run(dev, "./nothere")[0] == 127


def test_elf_machine_reads_class_and_machine():
    head = b"\x7fELF\x01\x01\x01" + b"\0" * 11 + (40).to_bytes(2, "little")
    assert elf_machine(head) == (32, 40)
    assert elf_machine(b"#!/system/bin/sh\n" + b"\0" * 10) is None


def test_tokenizer_keeps_io_numbers_apart_from_words():
    toks = tokenize("echo 2>&1 a2>b")
    kinds = [type(t).__name__ for t in toks]
    assert kinds == ["Word", "RedirTok", "Word", "Word", "RedirTok", "Word"]
    assert toks[1].fd == 2 and toks[4].fd is None


def test_command_substitution_sees_shell_variables(dev):
    status, out, _ = run(dev, "x=5; y=$(echo $x; x=6); echo $y $x; set -- p q; echo $(echo $2)")
    assert (status, out) == (0, "5 5\nq\n")


def test_arithmetic_expansion_has_c_semantics(dev):
    status, out, _ = run(dev, "n=5; echo $((n*2+1)) $(( (7-10)/2 )) $((-7%3)) $(($n>3 && 1)) $((!0)) $((1<<4))")
    assert (status, out) == (0, "11 -1 -1 1 1 16\n")
    status, out, err = run(dev, "echo $((1/0)); echo after")
    assert status == 2 and out == "" and "divide by zero" in err


def test_globs_in_middle_components_and_driver_helpers(dev):
    status, out, _ = run(dev, "cat /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq; "
                              "for c in /sys/devices/system/cpu/cpu[0-9]*; do echo $c; done | wc -l")
    assert out.splitlines()[-1] == "8"
    assert out.splitlines()[:8] == ["1785600"] * 4 + ["2419200"] * 3 + ["2841600"]
    status, out, err = run(dev, "taskset f0 echo pinned; seq 3; cd /data/local/tmp && realpath ../tmp/./x")
    assert (status, out) == (0, "pinned\n1\n2\n3\n/data/local/tmp/x\n")
    status, _, err = run(dev, "taskset 100 true")
    assert status == 1 and "Invalid argument" in err
    status, _, err = run(dev, "time sleep 0.05")
    assert status == 0 and err.startswith("real 0.")


def test_adb_message_framing():
    import socket
    import struct

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


def test_copied_sysroot_links_never_lead_to_host_changes(dev):
    fs, _ = dev
    if not (fs.root / "lib/aarch64-linux-gnu/libc.so.6").exists():
        pytest.skip("no aarch64 cross libc (apt-get install libc6-arm64-cross)")
    target = os.path.realpath(fs.root / "lib/aarch64-linux-gnu/libc.so.6")
    sysroot = os.path.dirname(target)
    modes_before = (os.stat(target).st_mode, os.stat(sysroot).st_mode)
    status, out, err = run(dev, "cp -r /lib /data/local/tmp/l; chmod -R 777 /data/local/tmp/l; "
                                "echo x > /data/local/tmp/l/aarch64-linux-gnu/pwn; touch /data/local/tmp/l/aarch64-linux-gnu/libc.so.6; "
                                "rm /data/local/tmp/l/aarch64-linux-gnu; test -L /data/local/tmp/l/aarch64-linux-gnu || echo gone")
    assert (os.stat(target).st_mode, os.stat(sysroot).st_mode) == modes_before
    assert not os.path.exists(os.path.join(sysroot, "pwn"))
    assert out.strip().endswith("gone")


def test_timeout_accepts_signal_and_kill_delay(dev):
    assert run(dev, "timeout -s KILL -k 1 0.2 sleep 3")[0] == 124
    status, _, err = run(dev, "timeout -s NOPE 1 true")
    assert status == 1 and "unknown signal" in err


def test_status_marks_dead_emulators_and_stop_all_cleans_them(tmp_path, monkeypatch):
    import json
    import subprocess
    import sys

    from edgeclas.emulator import manager

    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = tmp_path / "emulators" / "5999.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"serial": "127.0.0.1:5999", "port": 5999, "pid": dead.pid, "profile": "emulated-armv8",
                                 "arch": "armv8", "root": str(tmp_path / "r"), "adb_port": 1, "log": str(tmp_path / "l")}))
    rows = manager.status(adb=False)
    assert [(r.serial, r.state) for r in rows] == [("127.0.0.1:5999", "not running")]
    assert [r.state for r in manager.stop(all_=True)] == ["stopped"]
    assert manager.status(adb=False) == [] and not state.exists()


def test_unknown_options_are_errors_not_ignored(dev):
    status, _, err = run(dev, "ls -Z /")
    assert status == 1 and err == "ls: Unknown option 'Z'\n"
    status, out, _ = run(dev, "cd /data/local/tmp; mkdir d; touch d/f; rm d -r; touch x; ls; chmod +x x; chmod -x x; "
                              "stat -c %a x; ls -- -l 2>&1")
    assert out.splitlines() == ["x", "644", "ls: -l: No such file or directory"]


def test_case_statements(dev):
    script = """
abi=$(getprop ro.product.cpu.abi)
case "$abi" in
  arm64-v8a|x86_64) echo 64-bit ;;
  armeabi*) echo 32-bit ;;
  *) echo other ;;
esac
for f in a.jpg b.txt 'c*'; do
  case $f in
    (*.jpg) echo "$f image";;
    'c*') echo "$f literal";;
    *) echo "$f skip"
  esac
done
"""
    status, out, err = run(dev, script)
    assert status == 0, err
    assert out.splitlines() == ["64-bit", "a.jpg image", "b.txt skip", "c* literal"]
    status, _, err = run(dev, "(echo sub)")
    assert status == 2 and "subshells" in err



def test_here_documents(dev):
    fs, _ = dev
    script = (
        "cd /data/local/tmp\n"
        "name=clarity\n"
        "cat > config.txt <<EOF\n"
        "model $name.nb\n"
        "cost \\$5 $((2*3))\n"
        "EOF\n"
        "cat <<'RAW' | wc -l\n"
        "$name stays\n"
        "two\n"
        "RAW\n"
        "if true; then\n"
        "\tcat <<-END\n"
        "\tindented $name\n"
        "\tEND\n"
        "fi\n"
    )
    status, out, err = run(dev, script)
    assert status == 0, err
    assert (fs.root / "data/local/tmp/config.txt").read_text() == "model clarity.nb\ncost $5 6\n"
    assert out.splitlines() == ["2", "indented clarity"]
    status, _, err = run(dev, "cat <<EOF\nno end")
    assert status == 2 and "unclosed" in err



def test_text_tools(dev):
    fs, _ = dev
    script = ("cd /data/local/tmp; printf '2 b\\n10 a\\n2 b\\n1 c\\n' | tee lines.txt | sort -n -r -u | cut -d ' ' -f 2; "
              "sort lines.txt | uniq -c; echo Hello | tr a-z A-Z; echo a-b-c | tr -d -- -")
    status, out, err = run(dev, script)
    assert status == 0, err
    assert out.splitlines() == ["a", "b", "c", "      1 1 c", "      1 10 a", "      2 2 b", "HELLO", "abc"]
    assert (fs.root / "data/local/tmp/lines.txt").read_text() == "2 b\n10 a\n2 b\n1 c\n"



def test_set_errexit_xtrace_and_positional_parameters(dev):
    script = ("set -e; if false; then echo no; fi; false || echo recovered; ! false; "
              "false && echo no; set -x; echo traced 'a b'; set +x; set -- one two; echo $# $2; false; echo never")
    status, out, err = run(dev, script)
    assert status == 1
    assert out.splitlines() == ["recovered", "traced a b", "2 two"]
    assert "+ echo traced 'a b'\n" in err and "+ set +x" in err
    status, out, _ = run(dev, "set -e; sh -c 'false; echo inner'; echo after")  # a new shell: no -e inside
    assert (status, out) == (0, "inner\nafter\n")
    status, out, _ = run(dev, "set -e; sh -c 'exit 3'; echo never")
    assert (status, out) == (3, "")
    status, out, _ = run(dev, "set -e; true && false; echo never")
    assert (status, out) == (1, "")



@pytest.mark.parametrize("script,want", [
    ("echo a$empty b", "a b"),
    ('x="a  b"; echo $x; echo "$x"', "a b\na  b"),
    ('x=" lead"; echo [$x]', "[ lead]"),
    ("echo \"a\\nb\"", "a\\nb"),
    ('for i in "$@"; do echo $i; done; echo end', "end"),
    ('set -- "a b" c; for i in "$@"; do echo [$i]; done', "[a b]\n[c]"),
    ("echo ~ ~/x a~", "/ /x a~"),
    ("cd /data; cd local; cd ..; cd -; pwd", "/data/local\n/data/local"),
])
def test_expansion_corner_cases(dev, script, want):
    status, out, err = run(dev, script)
    assert (status, out.rstrip("\n")) == (0, want), err


def test_doctor_rows_describe_the_emulator(tmp_path, monkeypatch):
    from edgeclas.doctor import PROVIDERS
    from edgeclas.emulator.manager import doctor_rows

    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path))
    assert "edgeclas.emulator.manager:doctor_rows" in PROVIDERS
    rows = {r.name: r for r in doctor_rows()}
    assert rows["emulator profiles"].version == str(len(profile_names()))
    assert rows["emulated devices"].version == "0 running"
    iso = rows["emulator --isolate"]
    import shutil

    if os.geteuid() == 0 and shutil.which("qemu-aarch64-static"):
        assert iso.found, iso.note  # as root a mount namespace and chroot always work
    else:
        assert iso.found or iso.note  # otherwise it depends on user namespaces and says why not


def test_transport_handshake_refusal_and_flow_control():
    """The device side of the transport against a scripted host on a socketpair (no adb involved)."""
    import select
    import socket
    import struct
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



def test_ls_long_shows_owners_like_a_phone(dev):
    status, out, _ = run(dev, "touch /data/local/tmp/f; ls -l /data/local/tmp/f /proc/cpuinfo")
    lines = out.splitlines()
    assert status == 0 and " shell shell " in lines[0] and " root  root " in lines[1]
    assert lines[1].startswith("-r--r--r--")



def test_background_jobs_wait_and_kill(dev):
    script = ("cd /data/local/tmp; sleep 0.2 && echo slow > slow.txt & first=$!; echo started; "
              "sleep 30 & kill $!; wait $!; echo killed=$?; wait $first; echo first=$?; cat slow.txt; "
              "wait 12; echo unknown=$?")
    status, out, err = run(dev, script)
    assert out.splitlines() == ["started", "killed=143", "first=0", "slow", "unknown=127"], err


def test_only_jobs_that_write_to_the_session_hold_it():
    from edgeclas.emulator.shell import _holds_output

    assert _holds_output(parse("sleep 1 &")[0])
    assert _holds_output(parse("sleep 1 > f &")[0])
    assert not _holds_output(parse("sleep 1 > f 2>&1 &")[0])
    assert not _holds_output(parse("sleep 1 &> f &")[0])
    assert not _holds_output(parse("sleep 1 >/dev/null 2>/dev/null &")[0])
