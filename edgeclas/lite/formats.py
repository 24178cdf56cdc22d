"""Pure readers for what Paddle Lite consumes and produces: legacy programs, ``.nb`` headers, op tables.

No Paddle, no Paddle Lite: these read bytes and text, so they are tested on recorded samples and
let ``convert`` check a model before it ever starts opt.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

__all__ = [
    "FormatError",
    "NbHeader",
    "parse_nb_header",
    "program_op_types",
    "parse_supported_ops",
    "normalize_lite_version",
]


class FormatError(ValueError):
    """Bytes or text that are not what they claim to be (callers turn it into a ModelError)."""


# --- legacy ProgramDesc (framework.proto): ProgramDesc.blocks=1, BlockDesc.ops=4, OpDesc.type=3 ---

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise FormatError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise FormatError("varint too long")


def _fields(buf: bytes):
    """Yield (field number, wire type, value) of one protobuf message; value is bytes for wire type 2."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise FormatError("field number 0")
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        elif wt == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise FormatError("length-delimited field runs past the end")
            val, pos = buf[pos : pos + n], pos + n
        elif wt == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        else:
            raise FormatError(f"unsupported wire type {wt}")
        if pos > len(buf):
            raise FormatError("field runs past the end")
        yield num, wt, val


def program_op_types(pdmodel: bytes) -> list[str]:
    """Op types of a legacy ``inference.pdmodel`` in program order (all blocks); FormatError if not one."""
    ops: list[str] = []
    blocks = 0
    for num, wt, block in _fields(pdmodel):
        if num != 1 or wt != 2:
            continue
        blocks += 1
        for bnum, bwt, op in _fields(block):
            if bnum != 4 or bwt != 2:
                continue
            types = [v for n, w, v in _fields(op) if n == 3 and w == 2]
            if len(types) != 1:
                raise FormatError("an op without a type")
            ops.append(types[0].decode("utf-8"))
    if not blocks or not ops:
        raise FormatError("no program blocks with ops")
    return ops


# --- .nb (naive buffer, meta version 2): u16 meta version, char[16] opt version, u64 topology size ---

@dataclass(frozen=True)
class NbHeader:
    meta_version: int
    opt_version: str
    topology_size: int
    file_size: int


_NB_HEAD = struct.Struct("<H16sQ")


def parse_nb_header(data: bytes, file_size: int | None = None) -> NbHeader:
    """Read the fixed header of a Paddle Lite ``.nb``; FormatError when it is not a sane one."""
    size = len(data) if file_size is None else file_size
    if len(data) < _NB_HEAD.size:
        raise FormatError(f"{size} bytes: too short for a .nb header")
    meta, ver, topo = _NB_HEAD.unpack_from(data)
    version = ver.split(b"\0", 1)[0].decode("ascii", errors="replace")
    if meta != 2:
        raise FormatError(f"meta version {meta}; Paddle Lite 2.x writes 2")
    if not re.fullmatch(r"v?\d+\.\d+[\w.\-]*", version):
        raise FormatError(f"opt version field {version!r} is not a version")
    if topo == 0 or _NB_HEAD.size + topo > size:
        raise FormatError(f"topology size {topo} does not fit in {size} bytes")
    return NbHeader(meta, version, topo, size)


# --- opt's print_supported_ops table ---

def parse_supported_ops(text: str) -> dict[str, list[str]]:
    """``{op: [places that have a kernel]}`` from opt's ``Supported OPs on …`` table."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("OP_name"):
            header = line
            break
    else:
        raise FormatError("no 'OP_name' header line in opt's supported-ops output")
    # Columns are right-aligned under their names: a 'Y' ends where its column name ends.
    cols = {m.end(): m.group(0) for m in re.finditer(r"\S+", header)}
    table: dict[str, list[str]] = {}
    for line in lines[i + 1 :]:
        words = line.split()
        if not words:
            continue
        name, marks = words[0], words[1:]
        if not re.fullmatch(r"[A-Za-z_]\w*", name) or any(w != "Y" for w in marks):
            break  # the table ended (opt may print other text after it)
        after_name = line.index(name) + len(name)
        table[name] = [cols[m.end()] for m in re.finditer("Y", line) if m.start() >= after_name and m.end() in cols]
    if not table:
        raise FormatError("opt's supported-ops table is empty")
    return table


def normalize_lite_version(version: str) -> str:
    """Compare-friendly form: 'v2.13-rc', '2.13rc0', '2.13-rc' → '2.13rc'; '2.12.0' → '2.12'."""
    v = version.strip().lower().lstrip("v").replace("-", "").replace("_", "")
    v = re.sub(r"rc0*$", "rc", v)
    v = re.sub(r"^(\d+\.\d+)\.0(?=$|rc)", r"\1", v)
    return v
