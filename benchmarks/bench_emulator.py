"""What the emulated device costs: today's device (Android's mksh + toybox under qemu, in its own
namespaces) next to the device before it (a shell written in Python), and next to the host.

    .venv/bin/python benchmarks/bench_emulator.py [--mb 10] [--rounds 5] [--old-commit COMMIT]

Starts a private adb server and two emulated armv8 devices on free loopback ports: the current one,
and the one of ``--old-commit`` (default: the last commit before the real userland, run from a
temporary ``git worktree`` of it that is removed at the end). Prints, per operation, the median of
--rounds on each device and on the host, with the ratios:

* `adb shell true` (one adb round trip: the new device starts mksh under qemu, the old one ran a builtin);
* push / pull of a --mb MiB random file (adb CLI)       vs  cp of the same file on the host;
* an ARM program via `adb shell` (qemu start-up)         vs  the same program under qemu-user directly;
* a 5 M-iteration integer loop in an ARM program          vs  the same C code compiled for the host.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import median_time  # benchmarks/ is on sys.path when a script runs

# The last commit whose emulated device interpreted its shell in Python (before the android userland).
OLD_COMMIT = "d2c55116e84deee29de64e08500d2cb3b93adbbb"

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


def _old_device(repo: Path, commit: str, tree: Path, work: Path, server) -> tuple[subprocess.Popen, str] | str:
    """Start the old commit's device server from a worktree of it at ``tree``; (process, serial) or why not."""
    from edgeclas.emulator.manager import free_port

    r = subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), commit],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"no worktree of {commit[:12]}: {r.stderr.strip() or r.stdout.strip()}"
    port = free_port()
    ready = work / "old.ready"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(tree)}
    proc = subprocess.Popen([sys.executable, "-m", "edgeclas.emulator", "--profile", "emulated-armv8",
                             "--root", str(work / "old-root"), "--port", str(port), "--ready-file", str(ready),
                             "--isolate"], env=env, cwd=tree, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(work / "old.log", "wb"))
    deadline = time.monotonic() + 60
    serial = f"127.0.0.1:{port}"
    while not ready.exists() or next((s for s, st in server.list() if s == serial and st == "device"), None) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            return f"the old device did not start (its log: {(work / 'old.log').read_text()[-300:]!r})"
        if ready.exists():
            server.connect(serial)
        time.sleep(0.2)
    return proc, serial


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--old-commit", default=OLD_COMMIT, help="the commit whose device is the 'old' column")
    args = ap.parse_args()

    from edgeclas.device import AdbServer, adb_binary
    from edgeclas.emulator import manager
    from edgeclas.paths import checkout_root
    from edgeclas.sdk.cross import qemu_command

    repo = checkout_root()
    if repo is None:
        raise SystemExit("bench_emulator compares with an older commit: run it from a git checkout of edgeclas")

    adb = adb_binary()
    adb_port = manager.free_port()
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(adb_port)
    server = AdbServer("127.0.0.1", adb_port)
    server.ensure_running()
    work = Path(tempfile.mkdtemp(prefix="bench-emulator-"))
    old_tree = work / "old-tree"
    info = old = None
    try:
        info = manager.start(arch="armv8", adb_port=adb_port, root=work / "root")
        old = _old_device(repo, args.old_commit, old_tree, work, server)
        devices = {"new": info.serial}
        if isinstance(old, tuple):
            devices["old"] = old[1]
        blob = work / "blob.bin"
        blob.write_bytes(os.urandom(args.mb * 1024 * 1024))
        (work / "loop.c").write_text(LOOP_C)
        _run(["aarch64-linux-gnu-gcc", "-O2", "-o", str(work / "loop-arm"), str(work / "loop.c")])
        _run(["gcc", "-O2", "-o", str(work / "loop-host"), str(work / "loop.c")])
        for serial in devices.values():
            s = ["-P", str(adb_port), "-s", serial]
            _run([adb, *s, "push", str(work / "loop-arm"), "/data/local/tmp/loop"])
            _run([adb, *s, "shell", "chmod 755 /data/local/tmp/loop"])

        def on(which: str, *cmd: str):
            if which not in devices:
                return None
            return lambda: _run([adb, "-P", str(adb_port), "-s", devices[which], *cmd])

        rows = [
            ("adb shell true", lambda w: on(w, "shell", "true"), "exec /bin/true", lambda: _run(["/bin/true"])),
            (f"push {args.mb} MiB", lambda w: on(w, "push", str(blob), "/data/local/tmp/blob.bin"),
             "cp", lambda: shutil.copyfile(blob, work / "copy.bin")),
            (f"pull {args.mb} MiB", lambda w: on(w, "pull", "/data/local/tmp/blob.bin", str(work / f"back-{w}.bin")),
             "cp", lambda: shutil.copyfile(work / "copy.bin", work / "back2.bin")),
            ("ARM program start", lambda w: on(w, "shell", "/data/local/tmp/loop 0"),
             "qemu direct", lambda: _run([*qemu_command("armv8"), str(work / "loop-arm"), "0"])),
            ("ARM 5M-iteration loop", lambda w: on(w, "shell", "/data/local/tmp/loop 5000000"),
             "host-native loop", lambda: _run([str(work / "loop-host"), "5000000"])),
        ]
        print(f"new device {info.serial}; old device ({args.old_commit[:12]}, Python shell) "
              f"{devices.get('old', 'not started: ' + str(old))}; adb {adb}; median of {args.rounds} rounds; "
              f"load {os.getloadavg()[0]:.1f}\n")
        print(f"{'operation':<24}{'old device':>12}{'new device':>12}{'new/old':>9}  {'host equivalent':<18}"
              f"{'host':>9}{'new/host':>10}")
        results = []
        for name, dev_fn, host_name, host_fn in rows:
            t = {w: median_time(dev_fn(w), args.rounds) for w in ("old", "new") if dev_fn(w) is not None}
            host_t = median_time(host_fn, args.rounds)
            old_s = f"{t['old'] * 1000:>10.1f}ms" if "old" in t else f"{'-':>12}"
            ratio = f"{t['new'] / t['old']:>8.2f}x" if "old" in t else f"{'-':>9}"
            print(f"{name:<24}{old_s}{t['new'] * 1000:>10.1f}ms{ratio}  {host_name:<18}{host_t * 1000:>7.1f}ms"
                  f"{t['new'] / host_t:>9.1f}x")
            results.append({"operation": name, "old_ms": t.get("old", 0) * 1000, "new_ms": t["new"] * 1000,
                            "host_ms": host_t * 1000})
        (work / "results.json").write_text(json.dumps(results))
    finally:
        if info is not None:
            manager.stop(port=info.port)
        if isinstance(old, tuple):
            old[0].terminate()
            old[0].wait(timeout=30)
        if old_tree.exists():
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(old_tree)],
                           capture_output=True)
        server.kill()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
