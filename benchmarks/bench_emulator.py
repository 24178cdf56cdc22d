"""What the emulated device costs next to doing the same thing on the host directly.

    .venv/bin/python benchmarks/bench_emulator.py [--mb 20] [--rounds 5]

Starts a private adb server and an emulated armv8 device (free loopback ports, both stopped at the
end) and prints, per operation, the median of --rounds for the emulated device and for the host
equivalent, with their ratio:

* push / pull of a --mb MiB random file (adb CLI)        vs  cp of the same file on the host;
* `adb shell true` (builtin: one adb round trip)         vs  fork/exec of /bin/true;
* an ARM hello program via `adb shell` (qemu start-up)   vs  the same program under qemu-user directly;
* a 5 M-iteration integer loop in an ARM program          vs  the same C code compiled for the host.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import median_time  # benchmarks/ is on sys.path when a script runs

LOOP_C = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 0; unsigned long x = 1;
    for (long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    printf("%lu\n", x & 1);
    return 0;
}
"""


def _run(cmd: list[str], **kw) -> None:
    subprocess.run(cmd, check=True, capture_output=True, stdin=subprocess.DEVNULL, **kw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    from edgeclas.emulator import manager
    from edgeclas.sdk.cross import qemu_command

    from edgeclas.device import AdbServer, adb_binary

    adb = adb_binary()
    adb_port = manager.free_port()
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(adb_port)
    AdbServer("127.0.0.1", adb_port).ensure_running()
    work = Path(tempfile.mkdtemp(prefix="bench-emulator-"))
    info = None
    try:
        info = manager.start(arch="armv8", adb_port=adb_port, root=work / "root")
        s = ["-P", str(adb_port), "-s", info.serial]
        blob = work / "blob.bin"
        blob.write_bytes(os.urandom(args.mb * 1024 * 1024))
        (work / "loop.c").write_text(LOOP_C)
        _run(["aarch64-linux-gnu-gcc", "-O2", "-o", str(work / "loop-arm"), str(work / "loop.c")])
        _run(["gcc", "-O2", "-o", str(work / "loop-host"), str(work / "loop.c")])
        _run([adb, *s, "push", str(work / "loop-arm"), "/data/local/tmp/loop"])
        _run([adb, *s, "shell", "chmod 755 /data/local/tmp/loop"])
        qemu = qemu_command("armv8")
        rows = [
            (f"push {args.mb} MiB", lambda: _run([adb, *s, "push", str(blob), "/data/local/tmp/blob.bin"]),
             "cp", lambda: shutil.copyfile(blob, work / "copy.bin")),
            (f"pull {args.mb} MiB", lambda: _run([adb, *s, "pull", "/data/local/tmp/blob.bin", str(work / "back.bin")]),
             "cp", lambda: shutil.copyfile(work / "copy.bin", work / "back2.bin")),
            ("shell true", lambda: _run([adb, *s, "shell", "true"]), "exec /bin/true", lambda: _run(["/bin/true"])),
            ("ARM program start", lambda: _run([adb, *s, "shell", "/data/local/tmp/loop 0"]),
             "qemu direct", lambda: _run([*qemu, str(work / "loop-arm"), "0"])),
            ("ARM 5M-iteration loop", lambda: _run([adb, *s, "shell", "/data/local/tmp/loop 5000000"]),
             "host-native loop", lambda: _run([str(work / "loop-host"), "5000000"])),
        ]
        print(f"emulated armv8 device {info.serial}, adb {adb}, median of {args.rounds} rounds\n")
        print(f"{'operation':<24}{'emulated':>12}  {'host equivalent':<18}{'host':>10}{'ratio':>9}")
        for name, emu_fn, host_name, host_fn in rows:
            emu_t = median_time(emu_fn, args.rounds)
            host_t = median_time(host_fn, args.rounds)
            print(f"{name:<24}{emu_t * 1000:>10.1f}ms  {host_name:<18}{host_t * 1000:>8.1f}ms{emu_t / host_t:>8.1f}x")
    finally:
        if info is not None:
            manager.stop(port=info.port)
        subprocess.run([adb, "-P", str(adb_port), "kill-server"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
