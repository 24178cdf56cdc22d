"""Pure readers for what Paddle Lite consumes and produces: legacy programs, ``.nb`` headers, op tables.

No Paddle, no Paddle Lite: these read bytes and text, so they are tested on recorded samples and
let ``convert`` check a model before it ever starts opt.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError

__all__ = [
    "FormatError",
    "NbHeader",
    "parse_nb_header",
    "parse_nb",
    "check_nb_file",
    "program_op_types",
    "rewrite_flatten_to_reshape",
    "parse_supported_ops",
    "normalize_lite_version",
    "TAILOR_FILES",
    "Tailoring",
    "parse_tailoring",
    "merge_tailorings",
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


# After the topology, the parameters (Paddle Lite's ParamSerializer, format 0): u16 format version, u16
# size of reserved meta bytes, those bytes; u16 header size, header (u16 parameter count, u32 largest
# tensor size); then per parameter u32 total size, u32 offset (>= 4), offset - 4 bytes, total - offset bytes.
_U16, _U32 = struct.Struct("<H"), struct.Struct("<I")


def parse_nb(data: bytes) -> tuple[NbHeader, int]:
    """Walk a whole ``.nb``: its header and every parameter record, which must end exactly at the end of the
    file. Returns (header, number of parameters); FormatError naming the first thing that does not fit,
    so a truncated file is caught here instead of crashing (or being blamed on) the runtime."""
    header = parse_nb_header(data)
    pos, size = _NB_HEAD.size + header.topology_size, len(data)

    def take(n: int, what: str) -> int:
        nonlocal pos
        if n < 0 or pos + n > size:
            raise FormatError(f"truncated: {what} needs bytes {pos}..{pos + n} of a {size}-byte file")
        pos += n
        return pos - n

    def u16(what: str) -> int:
        return _U16.unpack_from(data, take(2, what))[0]

    def u32(what: str) -> int:
        return _U32.unpack_from(data, take(4, what))[0]

    if u16("the parameters' format version") != 0:
        raise FormatError(f"parameters' format version at byte {pos - 2} is not 0")
    take(u16("the parameters' meta size"), "the parameters' meta bytes")
    head_size = u16("the parameter header size")
    start = take(head_size, "the parameter header")
    if head_size < 6:
        raise FormatError(f"parameter header of {head_size} bytes, expected at least 6")
    count = _U16.unpack_from(data, start)[0]
    for i in range(count):
        total, offset = u32(f"parameter {i + 1} of {count}"), u32(f"parameter {i + 1} of {count}")
        if offset < 4 or total < offset:
            raise FormatError(f"parameter {i + 1} of {count} has sizes {total}/{offset}, which cannot be")
        take(total - 4, f"parameter {i + 1} of {count}")
    if pos != size:
        raise FormatError(f"{size - pos} bytes after the last of {count} parameters")
    return header, count


def check_nb_file(path: str | Path, remake: str) -> NbHeader:
    """:func:`parse_nb` of a file; a :class:`ModelError` naming it (and ``remake``) when it is not a whole .nb."""
    p = Path(path)
    try:
        return parse_nb(p.read_bytes())[0]
    except OSError as e:
        raise ModelError(f"{p}: cannot read ({e.strerror or e})") from None
    except FormatError as e:
        raise ModelError(f"{p}: not a complete Paddle Lite .nb ({e})",
                         hint=f"the file is damaged, not the runtime: make it again with: {remake}") from None


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


# --- rewriting a legacy program (the one safe rewrite opt needs) ---

_U64 = (1 << 64) - 1
_ATTR_INTS = 3  # framework.proto AttrType.INTS


def _enc_varint(n: int) -> bytes:
    n &= _U64  # negative int32/int64 values are sign-extended to ten bytes, as protobuf does
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _enc(fields) -> bytes:
    out = bytearray()
    for num, wt, val in fields:
        out += _enc_varint(num << 3 | wt)
        if wt == 0:
            out += _enc_varint(val)
        elif wt == 2:
            out += _enc_varint(len(val)) + val
        else:
            out += val
    return bytes(out)


def _signed(n: int) -> int:
    return n - (1 << 64) if n >> 63 else n


def _var_ranks(block: bytes) -> dict[str, int]:
    """Rank of every LoD-tensor variable of a block (VarDesc.type.lod_tensor.tensor.dims)."""
    ranks = {}
    for num, wt, var in _fields(block):
        if num != 3 or wt != 2:
            continue
        fields = list(_fields(var))
        name = next((v for n, w, v in fields if n == 1 and w == 2), b"").decode()
        for vt in (v for n, w, v in fields if n == 2 and w == 2):
            for lod in (v for n, w, v in _fields(vt) if n == 3 and w == 2):
                for tensor in (v for n, w, v in _fields(lod) if n == 1 and w == 2):
                    ranks[name] = sum(1 for n, _, _ in _fields(tensor) if n == 2)
    return ranks


def _rewrite_flatten(op: list, ranks: dict[str, int]) -> tuple[list | None, str]:
    """flatten_contiguous_range(start_axis=1, stop_axis=last) → reshape(shape=[0, -1]); else (None, why not)."""
    attrs, inputs = {}, {}
    for num, wt, val in op:
        if num == 4:
            a = list(_fields(val))
            name = next(v for n, _, v in a if n == 1).decode()
            attrs[name] = next((_signed(v) for n, w, v in a if n == 3 and w == 0), None)
        elif num == 1:
            v = list(_fields(val))
            inputs[next(x for n, _, x in v if n == 1).decode()] = [x.decode() for n, _, x in v if n == 2]
    rank = ranks.get((inputs.get("X") or [""])[0])
    start, stop = attrs.get("start_axis"), attrs.get("stop_axis")
    if start != 1 or rank is None or stop not in (-1, rank - 1):
        return None, f"flattens axes {start}..{stop} of a rank-{rank} input, not everything after the batch"
    shape = _enc([(1, 2, b"shape"), (2, 0, _ATTR_INTS), (6, 0, 0), (6, 0, -1)])
    new = []
    for num, wt, val in op:
        if num == 3:
            val = b"reshape"
        elif num == 4 and next(v for n, _, v in _fields(val) if n == 1) in (b"start_axis", b"stop_axis"):
            continue
        new.append((num, wt, val))
    return new + [(4, 2, shape)], ""


def rewrite_flatten_to_reshape(pdmodel: bytes) -> tuple[bytes, int, list[str]]:
    """Turn every flatten_contiguous_range that flattens all axes after the batch into ``reshape [0, -1]``.

    The two are the same computation, and opt 2.13 crashes on the first for x86. Returns
    (new program bytes, ops rewritten, reasons for flatten ops that could not be rewritten).
    """
    program, count, refused = [], 0, []
    for num, wt, block in _fields(pdmodel):
        if num == 1 and wt == 2:
            ranks = _var_ranks(block)
            new_block = []
            for bnum, bwt, op in _fields(block):
                if bnum == 4 and bwt == 2:
                    fields = list(_fields(op))
                    if any(n == 3 and v == b"flatten_contiguous_range" for n, _, v in fields):
                        rewritten, why = _rewrite_flatten(fields, ranks)
                        if rewritten is None:
                            refused.append(why)
                        else:
                            fields, count = rewritten, count + 1
                        op = _enc(fields)
                new_block.append((bnum, bwt, op))
            block = _enc(new_block)
        program.append((num, wt, block))
    return _enc(program), count, refused


# --- tailoring lists (what opt's record_model_info writes next to the .nb) ---

# The four files Paddle Lite's CMake reads from LITE_OPTMODEL_DIR when LITE_BUILD_TAILOR=ON. Each list
# pairs line by line with its source list (CMake reads kernel i's source from line i), so they travel as pairs.
TAILOR_FILES = {
    "ops": (".tailored_ops_list", ".tailored_ops_source_list"),  # conv2d / conv_op.cc
    "kernels": (".tailored_kernels_list", ".tailored_kernels_source_list"),  # conv2d,kARM,kFloat,kNCHW,def / conv_compute.cc
}
_ENTRY_RE = {"ops": re.compile(r"[A-Za-z_]\w*"), "kernels": re.compile(r"[A-Za-z_]\w*,k\w+,k\w+,k\w+,\w+")}
_SOURCE_RE = re.compile(r"[\w\-]+\.(cc|mm)")


@dataclass(frozen=True)
class Tailoring:
    """The ops and kernels a model (or several) needs: what a tailored Paddle Lite library must contain.

    ``ops``: (op type, its source file); ``kernels``: (``op,target,precision,layout,alias``, its source file).
    """

    ops: tuple[tuple[str, str], ...]
    kernels: tuple[tuple[str, str], ...]

    @property
    def op_names(self) -> list[str]:
        return [op for op, _ in self.ops]

    @property
    def kernel_specs(self) -> list[str]:
        return [k for k, _ in self.kernels]

    def files(self) -> dict[str, str]:
        """File name → content, as Paddle Lite's CMake reads them."""
        out = {}
        for key, (names, sources) in TAILOR_FILES.items():
            pairs = getattr(self, key)
            out[names] = "".join(f"{a}\n" for a, _ in pairs)
            out[sources] = "".join(f"{b}\n" for _, b in pairs)
        return out

    def missing_from(self, library_kernels: list[str] | tuple[str, ...]) -> list[str]:
        """Kernels this needs that a library tailored to ``library_kernels`` lacks, in order."""
        have = set(library_kernels)
        return [k for k in self.kernel_specs if k not in have]


def parse_tailoring(texts: dict[str, str]) -> Tailoring:
    """A :class:`Tailoring` from the four files' texts, keyed by file name (``.tailored_ops_list``, …).

    Pairs keep opt's order, repeated entries dropped; a line that is not an op name, a kernel spec or a
    source file name is a FormatError (these lists end up in CMake and the compiler's file list).
    """
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for key, (names_file, sources_file) in TAILOR_FILES.items():
        lists = []
        for fname, pattern in ((names_file, _ENTRY_RE[key]), (sources_file, _SOURCE_RE)):
            if fname not in texts:
                raise FormatError(f"no {fname}")
            items = [ln.strip() for ln in texts[fname].splitlines() if ln.strip()]
            for n, item in enumerate(items, 1):
                if not pattern.fullmatch(item):
                    raise FormatError(f"{fname} entry {n}: {item[:80]!r} is not valid")
            lists.append(items)
        if len(lists[0]) != len(lists[1]):
            raise FormatError(f"{names_file} has {len(lists[0])} entries but {sources_file} has {len(lists[1])}")
        if not lists[0]:
            raise FormatError(f"{names_file} is empty")
        out[key] = tuple(dict.fromkeys(zip(lists[0], lists[1])))
    return Tailoring(**out)


def merge_tailorings(parts: list[Tailoring]) -> Tailoring:
    """The union (first-seen order) of several models' lists: a library that runs every one of them."""
    return Tailoring(*(tuple(dict.fromkeys(x for p in parts for x in getattr(p, k))) for k in TAILOR_FILES))
