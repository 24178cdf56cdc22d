"""``python -m edgeclas.emulator``: the emulated device server process (started by ``edgeclas emulator start``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .profile import load_profile
from .server import serve


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m edgeclas.emulator", description=__doc__)
    ap.add_argument("--profile", required=True, help="profile name in devices/ or a YAML path")
    ap.add_argument("--root", required=True, type=Path, help="device root folder on the host")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    ap.add_argument("--quota-mb", type=int, default=None, help="storage quota of /data + /sdcard")
    ap.add_argument("--ready-file", type=Path, default=None, help="written (JSON) once listening")
    ap.add_argument("--isolate", action="store_true", help="run programs chrooted in a private mount namespace")
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(load_profile(args.profile), args.root, port=args.port, quota_mb=args.quota_mb, ready_file=args.ready_file,
          isolate=args.isolate)


if __name__ == "__main__":
    main()
