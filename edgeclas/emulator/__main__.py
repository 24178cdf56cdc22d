"""``python -m edgeclas.emulator``: the emulated device server process (started by ``edgeclas emulator start``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..sdk.userland import load
from .profile import load_profile
from .server import serve


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgeclas.emulator", description=__doc__)
    ap.add_argument("--profile", required=True, help="profile name in devices/ or a YAML path")
    ap.add_argument("--root", required=True, type=Path, help="device root folder on the host")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    ap.add_argument("--quota-mb", type=int, default=None, help="storage quota of /data + /sdcard")
    ap.add_argument("--ready-file", type=Path, default=None, help="written (JSON) once listening")
    ap.add_argument("--userland", required=True, type=Path, help="the android-userland folder for the profile's arch")
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    profile = load_profile(args.profile)
    return serve(profile, args.root, load(args.userland, profile.arch), port=args.port, quota_mb=args.quota_mb,
                 ready_file=args.ready_file)


if __name__ == "__main__":
    raise SystemExit(main())
