"""The Paddle Lite worker: the only process that ever imports ``paddlelite``.

Started by :mod:`edgeclas.lite.runtime` as ``python -I worker.py [--path DIR]... MODE ...`` so that
the compat runtime (numpy < 2, the 3.10 wheel, the preloaded version shim) never touches the
driver's own interpreter. It imports nothing from edgeclas: only the standard library, numpy and
paddlelite from the ``--path`` directories.

Modes:
  ``info``                      versions as one JSON message
  ``opt --model-file F --param-file P --out PREFIX --targets T [--fp16] [--quant int8|int16] [--record]``
                                (``--record``: the ops/kernels lists for tailoring, written into PREFIX/)
  ``ops --targets T``           the text opt prints for ``print_supported_ops``
  ``serve``                     MobileConfig predictor; load/run requests over stdin/stdout

Messages (both directions) are framed as ``<u32 little-endian length><JSON>[payload]`` where the
JSON's ``nbytes`` says how many raw payload bytes follow (a C-contiguous float32 array). The
protocol uses a private duplicate of stdout; fd 1 itself is pointed at stderr so that anything the
C++ library prints cannot corrupt the stream.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import tempfile

__all__ = ["FRAME_LENGTH", "read_message", "write_message"]

FRAME_LENGTH = struct.Struct("<I")


def read_message(stream) -> tuple[dict, bytes] | None:
    """One framed message from a binary stream; None at a clean end of stream."""
    head = _read_exact(stream, FRAME_LENGTH.size)
    if head is None:
        return None
    (n,) = FRAME_LENGTH.unpack(head)
    body = _read_exact(stream, n)
    if body is None:
        raise EOFError("stream ended inside a message header")
    header = json.loads(body.decode("utf-8"))
    payload = b""
    if header.get("nbytes"):
        payload = _read_exact(stream, int(header["nbytes"])) or b""
        if len(payload) != int(header["nbytes"]):
            raise EOFError("stream ended inside a message payload")
    return header, payload


def write_message(stream, header: dict, payload: bytes = b"") -> None:
    if payload:
        header = {**header, "nbytes": len(payload)}
    body = json.dumps(header).encode("utf-8")
    stream.write(FRAME_LENGTH.pack(len(body)) + body)
    if payload:
        stream.write(payload)
    stream.flush()


def _read_exact(stream, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        b = stream.read(n - got)
        if not b:
            return None if got == 0 else b"".join(chunks)
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def _versions() -> dict:
    import numpy

    from paddlelite import lite

    return {
        "python": ".".join(map(str, sys.version_info[:3])),
        "numpy": numpy.__version__,
        "numpy_path": os.path.dirname(numpy.__file__),
        "lite": lite.Opt().version(),
        "lite_path": os.path.dirname(lite.__file__),
    }


def _make_opt(args):
    from paddlelite import lite

    opt = lite.Opt()
    if getattr(args, "model_file", None):
        opt.set_model_file(args.model_file)
        opt.set_param_file(args.param_file)
    if getattr(args, "fp16", False):
        opt.enable_fp16()
    opt.set_valid_places(args.targets)
    return opt


def _run_opt(args) -> dict:
    opt = _make_opt(args)
    opt.set_model_type("naive_buffer")
    opt.set_optimize_out(args.out)
    if args.quant:
        opt.set_quant_model(True)
        opt.set_quant_type({"int8": "QUANT_INT8", "int16": "QUANT_INT16"}[args.quant])
    if args.record:
        opt.record_model_info(True)
    opt.run()
    return {"ok": True, "out": args.out + ".nb", "version": opt.version()}


def _supported_ops_text(args) -> dict:
    # opt prints the table with C++ iostreams on fd 1: capture fd 1 into a file for the call.
    import ctypes

    opt = _make_opt(args)
    libc = ctypes.CDLL(None)
    with tempfile.TemporaryFile() as cap:
        saved = os.dup(1)
        os.dup2(cap.fileno(), 1)
        try:
            opt.print_supported_ops()
            libc.fflush(None)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        cap.seek(0)
        return {"ok": True, "text": cap.read().decode("utf-8", errors="replace")}


def _serve(proto_in, proto_out) -> None:
    import numpy as np

    from paddlelite import lite

    predictor = None
    input_checked = False
    write_message(proto_out, {"ok": True, "hello": _versions()})
    while True:
        msg = read_message(proto_in)
        if msg is None or msg[0].get("op") == "quit":
            return
        req, payload = msg
        try:
            if req["op"] == "load":
                config = lite.MobileConfig()
                config.set_model_from_file(req["model"])
                predictor = lite.create_paddle_predictor(config)
                write_message(proto_out, {"ok": True, "version": predictor.get_version()})
            elif req["op"] == "run":
                if predictor is None:
                    raise RuntimeError("run before load")
                x = np.frombuffer(payload, dtype=np.float32).reshape(req["shape"])
                tensor = predictor.get_input(0)
                tensor.from_numpy(np.ascontiguousarray(x))
                if not input_checked:
                    # numpy 2 breaks lite.so's numpy ABI: from_numpy then reads garbage and the outputs are
                    # zeros, NaN or plausible nonsense. Read the tensor back once through plain lists.
                    if not np.array_equal(np.asarray(tensor.float_data(), dtype=np.float32), x.ravel()):
                        write_message(proto_out, {"ok": False, "kind": "input_corrupted", "error":
                                                  f"Paddle Lite read the input batch wrongly with numpy {np.__version__}"})
                        continue
                    input_checked = True
                predictor.run()
                y = np.ascontiguousarray(predictor.get_output(0).numpy(), dtype=np.float32)
                write_message(proto_out, {"ok": True, "shape": list(y.shape)}, y.tobytes())
            else:
                raise ValueError(f"unknown op {req['op']!r}")
        except Exception as e:  # report to the driver and keep serving; the driver decides
            write_message(proto_out, {"ok": False, "error": f"{type(e).__name__}: {e}"})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="edgeclas-lite-worker")
    p.add_argument("--path", action="append", default=[], help="directory put first on sys.path")
    sub = p.add_subparsers(dest="mode", required=True)
    sub.add_parser("info")
    sub.add_parser("serve")
    po = sub.add_parser("opt")
    po.add_argument("--model-file", required=True)
    po.add_argument("--param-file", required=True)
    po.add_argument("--out", required=True, help="output path without the .nb suffix")
    po.add_argument("--targets", required=True)
    po.add_argument("--fp16", action="store_true")
    po.add_argument("--quant", choices=["int8", "int16"])
    po.add_argument("--record", action="store_true", help="also write the tailoring lists into OUT/")
    ps = sub.add_parser("ops")
    ps.add_argument("--targets", required=True)
    args = p.parse_args(argv)

    for d in reversed(args.path):
        sys.path.insert(0, d)
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if args.mode == "serve":
        _serve(sys.stdin.buffer, proto_out)
        return 0
    result = {"info": lambda a: {"ok": True, **_versions()}, "opt": _run_opt, "ops": _supported_ops_text}[args.mode](args)
    write_message(proto_out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
