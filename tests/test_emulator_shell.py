"""Behaviour tests of the emulated device's shell and commands, through ``adb shell`` (shell v2).

These ran against edgeclas' own Python shell until it was replaced by Android's real userland (mksh
as /system/bin/sh, toybox); they now check that the device behaves as a phone does, so expectations
are mksh's and toybox's (mksh's error messages start with ``E: `` in Debian's build).
"""

from __future__ import annotations

import hashlib
import os
import re
import time

import pytest

pytestmark = pytest.mark.integration

TMP = "/data/local/tmp"


def run(emu, cmd: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    r = emu.adb("shell", cmd, input=stdin) if stdin is not None else emu.adb("shell", cmd)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


@pytest.fixture(scope="module")
def emu(emulator):
    """The session device, with a scratch folder of this module's own."""
    run(emulator, f"rm -rf {TMP}/sh && mkdir -p {TMP}/sh")
    return emulator


def test_it_is_mksh_and_toybox(emu):
    status, out, _ = run(emu, 'echo $KSH_VERSION; toybox --version; readlink /bin; echo $0')
    assert status == 0
    assert out.splitlines() == ["@(#)MIRBSD KSH R59 2023/04/29 +Debian", "toybox 0.8.9", "system/bin", "/system/bin/sh"]


def test_functions_subshells_substitution_pipes_jobs_and_here_documents(emu):
    script = (
        f"cd {TMP}/sh\n"
        "greet() { echo \"hello $1\"; return 3; }\n"
        "greet world; echo status=$?\n"
        "x=outer; (x=inner; echo sub=$x; exit 4); echo after=$? x=$x\n"
        "n=$(echo a b | wc -w); echo words=$n\n"
        "printf '3\\n1\\n2\\n' | sort | tr '\\n' ' '; echo\n"
        "sleep 0.3 & bg=$!; (sleep 0.1; echo job) & wait $bg; echo bg=$?; wait\n"
        "cat <<EOF >here.txt\nvalue $((6*7)) $n\nEOF\n"
        "cat <<'RAW'\n$n stays\nRAW\n"
        "cat here.txt\n"
    )
    status, out, err = run(emu, script)
    assert status == 0, err
    assert out.splitlines() == ["hello world", "status=3", "sub=inner", "after=4 x=outer", "words=2", "1 2 3 ",
                                "job", "bg=0", "$n stays", "value 42 2"]


def test_words_and_quoting_follow_posix_sh(emu):
    status, out, _ = run(emu, """X='a  b'; echo 'single $X' "double $X" \\$X un\\ split $X; echo "${X}!" ${Y:-dflt}""")
    assert status == 0
    assert out.splitlines() == ["single $X double a  b $X un split a b", "a  b! dflt"]


def test_lists_exit_codes_and_unknown_commands(emu):
    status, out, err = run(emu, "false && echo no; false || echo yes; true; nosuchcmd arg")
    assert (status, out) == (127, "yes\n")
    assert "/system/bin/sh: nosuchcmd: inaccessible or not found" in err
    assert run(emu, "exit 3; echo never")[:2] == (3, "")
    assert run(emu, "false; echo $?")[1] == "1\n"
    assert run(emu, "! false")[0] == 0


def test_syntax_errors_are_reported(emu):
    status, _, err = run(emu, "echo 'unterminated")
    assert status != 0 and "no closing quote" in err
    status, _, err = run(emu, "if true; then echo x")
    assert status != 0 and "syntax error" in err


def test_assignment_prefix_and_export(emu):
    status, out, _ = run(emu, "A=1 env | grep '^A='; echo [$A]; B=2; export C=3; env | grep -E '^(B|C)='; echo $B$C")
    assert (status, out) == (0, "A=1\n[]\nC=3\n23\n")


def test_environment_is_androids(emu):
    status, out, _ = run(emu, "echo $PATH; echo $HOME $TMPDIR $USER $SHELL; env | grep -c QEMU_LD; id")
    lines = out.splitlines()
    assert "/system/bin" in lines[0].split(":")
    assert lines[1] == "/ /data/local/tmp shell /system/bin/sh"
    assert lines[2] == "0"
    assert lines[3].startswith("uid=2000(shell) gid=2000(shell)")


def test_redirections(emu, emulator):
    status, out, err = run(emu, f"cd {TMP}/sh && echo one > f && echo two >> f && cat f; "
                                "cat missing 2>/dev/null; echo e 2>&1 1>&2 | cat; echo f 1>&2 | cat; "
                                "ls nothere > /dev/null 2>&1; echo $?")
    assert status == 0
    assert out == "one\ntwo\ne\n1\n"  # 2>&1 1>&2: both to the pipe, as in sh
    assert err == "f\n"
    assert (emulator.root / "data/local/tmp/sh/f").read_text() == "one\ntwo\n"
    assert run(emu, f"cat < {TMP}/sh/f | wc -l")[1].strip() == "2"


def test_control_flow_and_globbing(emu):
    status, out, _ = run(emu, f"mkdir -p {TMP}/sh/g && cd {TMP}/sh/g && touch b.jpg a.jpg c.txt; "
                              "for f in *.jpg; do echo img $f; done; "
                              "if [ -f a.jpg ]; then echo yes; else echo no; fi; "
                              "s=; while [ \"$s\" != xxx ]; do s=${s}x; echo s=$s; done; "
                              "until true; do echo never; done; echo '*.jpg'")
    assert status == 0
    assert out.splitlines() == ["img a.jpg", "img b.jpg", "yes", "s=x", "s=xx", "s=xxx", "*.jpg"]


def test_break_and_continue_in_for_and_while_loops(emu):
    status, out, _ = run(emu, "for i in 1 2 3 4; do if [ $i = 2 ]; then continue; fi; if [ $i = 4 ]; then break; fi; "
                              "echo f$i; done; "
                              "n=; while true; do n=${n}x; if [ $n = xx ]; then continue; fi; echo w$n; "
                              "if [ $n = xxx ]; then break; fi; done; "
                              "for a in 1 2; do for b in 1 2 3; do if [ $b = 2 ]; then continue 2; fi; echo $a$b; done; done; "
                              "for a in 1 2; do for b in 1 2; do echo $a$b; break 2; done; done; echo end")
    assert status == 0
    assert out.splitlines() == ["f1", "f3", "wx", "wxxx", "11", "21", "11", "end"]


def test_case_statements(emu):
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
    status, out, err = run(emu, script)
    assert status == 0, err
    assert out.splitlines() == ["64-bit", "a.jpg image", "b.txt skip", "c* literal"]


def test_file_commands(emu, emulator):
    script = (f"cd {TMP}/sh && mkdir -p a/b && echo hi > a/b/x && cp a/b/x y && mv y z && chmod 755 z && "
              "stat -c '%s %a %n' z && sha256sum z && md5sum z && ls a/b && rm -rf a && ls -d z")
    status, out, err = run(emu, script)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "3 755 z"
    assert lines[1] == f"{hashlib.sha256(b'hi' + bytes([10])).hexdigest()}  z"
    assert lines[2] == f"{hashlib.md5(b'hi' + bytes([10])).hexdigest()}  z"
    assert lines[3:] == ["x", "z"]
    assert oct((emulator.root / "data/local/tmp/sh/z").stat().st_mode & 0o777) == "0o755"


def test_text_tools(emu, emulator):
    script = (f"cd {TMP}/sh; printf '2 b\\n10 a\\n2 b\\n1 c\\n' | tee lines.txt | sort -n -r -u | cut -d ' ' -f 2; "
              "sort lines.txt | uniq -c; echo Hello | tr a-z A-Z; echo a-b-c | tr -d -- -; "
              "head -n 1 lines.txt; tail -n 1 lines.txt; grep -c b lines.txt; echo x | sed s/x/y/; "
              "echo 1 2 | awk '{print $2+$1}'; expr 2 + 3; seq 2")
    status, out, err = run(emu, script)
    assert status == 0, err
    assert out.splitlines() == ["a", "b", "c", "      1 1 c", "      1 10 a", "      2 2 b", "HELLO", "abc", "2 b",
                                "1 c", "2", "y", "3", "5", "1", "2"]
    assert (emulator.root / "data/local/tmp/sh/lines.txt").read_text() == "2 b\n10 a\n2 b\n1 c\n"


def test_paths_stay_inside_the_device(emu, tmp_path):
    status, out, err = run(emu, "cat /../../../../proc/1/root/etc/hostname; cd /data/local/tmp/../../../..; pwd; "
                                "ls /usr; cat /etc/hostname")
    assert status != 0 and out.splitlines()[0] == "/"
    assert "No such file or directory" in err
    secret = tmp_path / "secret.txt"
    secret.write_text("host only")
    status, out, err = run(emu, f"cat {secret}")  # the host's path means nothing inside the device
    assert status == 1 and "host only" not in out and "No such file or directory" in err


def test_planted_symlink_leading_out_is_dangling(emu, emulator, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host only")
    link = emulator.root / "data/local/tmp/sh/link"
    link.unlink(missing_ok=True)
    os.symlink(secret, link)
    status, out, err = run(emu, f"cat {TMP}/sh/link")
    assert status == 1 and "host only" not in out


def test_system_is_read_only(emu, emulator):
    status, _, err = run(emu, "echo x > /system/evil; mkdir /proc/x; rm -rf /system/bin; rm -f /system/build.prop; "
                              "touch /x; mkdir /data/local/tmp/sh/ok")
    assert status == 0  # the last command
    assert err.count("Read-only file system") >= 4
    assert not (emulator.root / "system/evil").exists() and (emulator.root / "system/build.prop").exists()
    assert (emulator.root / "system/bin/sh").exists() and (emulator.root / "data/local/tmp/sh/ok").is_dir()


def test_quota_holds_every_file_a_program_writes(emulator_factory):
    emu = emulator_factory(quota_mb=1)
    status, out, err = run(emu, f"cd {TMP}; dd if=/dev/zero of=big bs=65536 count=32; echo status=$?")
    # The write past the free space is stopped (SIGXFSZ: 128+25), and the file holds no more than that.
    assert out.splitlines()[-1] == "status=153" and "File size limit exceeded" in err
    assert (emu.root / "data/local/tmp/big").stat().st_size <= 1024 * 1024
    run(emu, f"rm {TMP}/big")
    # The limit is the free space when the session starts: a new session may write again.
    assert run(emu, f"cd {TMP}; dd if=/dev/zero of=small bs=1024 count=64 2>/dev/null; echo $?")[1] == "0\n"


def test_getprop_and_system_info_follow_the_profile(emu):
    status, out, _ = run(emu, "getprop ro.product.cpu.abi; getprop ro.soc.model; getprop no.such.prop fallback; "
                              "getprop no.such.prop; uname -m; uname -r; nproc --all; id -u; hostname")
    assert out.splitlines() == ["arm64-v8a", "SM8150", "fallback", "", "aarch64", "4.14.190-edgeclas", "8", "2000",
                                "localhost"]
    status, out, _ = run(emu, "getprop")
    assert re.search(r"^\[ro\.product\.model\]: \[edgeclas emulated armv8\]$", out, re.M)
    keys = re.findall(r"^\[([^\]]+)\]", out, re.M)
    assert keys == sorted(keys) and len(keys) > 10


def test_proc_and_sys_inside_the_device(emu):
    status, out, _ = run(emu, "grep -c processor /proc/cpuinfo; grep Hardware /proc/cpuinfo; cat /proc/version; "
                              "cat /sys/devices/system/cpu/cpu7/cpufreq/cpuinfo_max_freq; "
                              "grep MemTotal /proc/meminfo; cat /proc/self/stat | cut -d ' ' -f 2; ls /proc/1/")
    lines = out.splitlines()
    assert lines[:5] == ["8", "Hardware\t: Qualcomm Technologies, Inc SM8150",
                         "Linux version 4.14.190-edgeclas (build@edgeclas) (clang version 10.0.7) #1 SMP PREEMPT",
                         "2841600", "MemTotal:        5795460 kB"]
    assert lines[5] == "(cat)" and "cmdline" in lines[6:]  # a real procfs of the device's own processes


def test_processes_are_the_devices_own(emu):
    # CMD is the kernel's name of the process; argv[0] of every device program is qemu (binfmt_misc),
    # which is why pgrep/pkill and pidof -x find programs and plain pidof does not.
    status, out, err = run(emu, "sleep 5 & p=$!; ps -A -o pid,cmd | grep -w sleep; pgrep sleep; kill $p; wait $p; "
                                "echo killed=$?; ps -A -o cmd= | sort | uniq | tr '\\n' ' '")
    lines = out.splitlines()
    pid = lines[0].split()[0]
    assert lines[1] == pid and lines[2] == "killed=143"
    assert lines[3].split() == ["init", "ps", "sh", "sort", "tr", "uniq"]  # no host process in sight


def test_timeout_and_sleep(emu):
    t0 = time.monotonic()
    assert run(emu, "timeout 0.3 sleep 5")[0] == 124 and time.monotonic() - t0 < 4
    # An exec'd command, as deploy runs clas_system (a toybox builtin run in toybox's own child loses its
    # status now and then under qemu-user: docs/emulator.md, "Limits").
    assert run(emu, "timeout 5 sh -c 'exit 0'")[0] == 0
    assert run(emu, "timeout 5 sh -c 'exit 3'")[0] == 3
    assert run(emu, "timeout -s KILL -k 1 0.2 sleep 3")[0] == 137  # toybox (like GNU): 128+KILL
    status, _, err = run(emu, "timeout -s NOPE 1 true")
    assert status != 0 and "NOPE" in err


def test_non_executable_and_foreign_files(emu, emulator):
    tmp = emulator.root / "data/local/tmp/sh"
    (tmp / "script.sh").write_text("#!/system/bin/sh\necho script $1 $#\nexit 5\n")
    (tmp / "script.sh").chmod(0o644)
    status, out, err = run(emu, f"cd {TMP}/sh; ./script.sh a")
    assert status == 126 and "Permission denied" in err
    (tmp / "script.sh").chmod(0o755)
    assert run(emu, f"cd {TMP}/sh; ./script.sh a b")[:2] == (5, "script a 2\n")
    # An x86-64 ELF header: mksh refuses it as a phone's does (the kernel would not run it there).
    (tmp / "x86").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9 + (2).to_bytes(2, "little") + (62).to_bytes(2, "little")
                              + b"\0" * 100)
    (tmp / "x86").chmod(0o755)
    status, _, err = run(emu, f"{TMP}/sh/x86")
    assert status != 0 and "/system/bin/sh: /data/local/tmp/sh/x86: not executable: 64-bit ELF file" in err
    assert run(emu, "./nothere")[0] == 127


def test_command_substitution_sees_shell_variables(emu):
    status, out, _ = run(emu, "x=5; y=$(echo $x; x=6); echo $y $x; set -- p q; echo $(echo $2)")
    assert (status, out) == (0, "5 5\nq\n")


def test_arithmetic_is_mkshs_32_bit_integers(emu):
    status, out, _ = run(emu, "n=5; echo $((n*2+1)) $(( (7-10)/2 )) $((-7%3)) $(($n>3 && 1)) $((!0)) $((1<<4)) "
                              "$((2147483647+1))")
    assert (status, out) == (0, "11 -1 -1 1 1 16 -2147483648\n")  # Android's mksh wraps at 2^31 too
    status, out, err = run(emu, "echo $((1/0)); echo after")
    assert status != 0 and out == "" and "zero" in err


def test_globs_in_middle_components_and_pinning(emu):
    status, out, _ = run(emu, "cat /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq; "
                              "for c in /sys/devices/system/cpu/cpu[0-9]*; do echo $c; done | wc -l")
    assert out.splitlines()[-1].strip() == "8"
    assert out.splitlines()[:8] == ["1785600"] * 4 + ["2419200"] * 3 + ["2841600"]
    status, out, err = run(emu, "taskset 1 echo pinned; cd /data/local/tmp && realpath ../tmp/./x")
    assert (status, out) == (0, "pinned\n/data/local/tmp/x\n")


def test_set_errexit_xtrace_and_positional_parameters(emu):
    script = ("set -e; if false; then echo no; fi; false || echo recovered; ! false; "
              "false && echo no; set -x; echo traced 'a b'; set +x; set -- one two; echo $# $2; false; echo never")
    status, out, err = run(emu, script)
    assert status == 1
    assert out.splitlines() == ["recovered", "traced a b", "2 two"]
    assert "+ echo traced 'a b'" in err
    assert run(emu, "set -e; sh -c 'false; echo inner'; echo after")[:2] == (0, "inner\nafter\n")
    assert run(emu, "set -e; sh -c 'exit 3'; echo never")[:2] == (3, "")


@pytest.mark.parametrize("script,want", [
    ("echo a$empty b", "a b"),
    ('x="a  b"; echo $x; echo "$x"', "a b\na  b"),
    ('x=" lead"; echo [$x]', "[ lead]"),
    ('for i in "$@"; do echo $i; done; echo end', "end"),
    ('set -- "a b" c; for i in "$@"; do echo [$i]; done', "[a b]\n[c]"),
    ("echo ~ a~", "/ a~"),
    ("cd /data; cd local; cd ..; cd -; pwd", "/data/local\n/data/local"),
])
def test_expansion_corner_cases(emu, script, want):
    status, out, err = run(emu, script)
    assert (status, out.rstrip("\n")) == (0, want), err


def test_ls_long_shows_owners_like_a_phone(emu):
    if os.geteuid() != 0:
        pytest.skip("only a root emulator keeps host uid 2000 apart from root (unprivileged, everything is shell's)")
    status, out, _ = run(emu, f"touch {TMP}/sh/f; ls -l {TMP}/sh/f /system/build.prop")
    lines = out.splitlines()
    assert status == 0 and " shell shell " in lines[0] and " root root " in lines[1].replace("  ", " ")


def test_background_jobs_wait_and_kill(emu):
    script = (f"cd {TMP}/sh; sleep 0.2 && echo slow > slow.txt & first=$!; echo started; "
              "sleep 30 & sleep 0.2; kill $!; wait $!; echo killed=$?; wait $first; echo first=$?; cat slow.txt; "
              "wait 12; echo unknown=$?")
    status, out, err = run(emu, script)
    assert out.splitlines() == ["started", "killed=143", "first=0", "slow", "unknown=127"], err


def test_log_and_logcat(emu):
    status, out, err = run(emu, "logcat -c; log -t edgeclas -p w 'hello from the device'; "
                                "printf 'one\\ntwo\\n' | log -t lines; logcat -d; logcat -d -v brief -s edgeclas:W; "
                                "logcat -d -v raw lines:I '*:S'; logcat -d -t 1")
    assert status == 0, err
    out = out.splitlines()
    assert out[0] == "--------- beginning of main"
    assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +\d+ +\d+ W edgeclas: hello from the device", out[1])
    assert out[2].endswith(" I lines   : one") and out[3].endswith(" I lines   : two")
    assert out[4:] == ["--------- beginning of main", "W/edgeclas(" + out[1].split()[2] + "): hello from the device",
                       "--------- beginning of main", "one", "two", "--------- beginning of main", out[3]]
    assert run(emu, "logcat -c; logcat -d") == (0, "", "")
    status, _, err = run(emu, "logcat -v nonsense")
    assert status == 1 and "unknown format" in err
