"""Read the CPU an ELF file was built for, so a library for the wrong target is caught before linking, and
the symbols a shared library leaves undefined, so a library missing its own code is caught before use, and
where a binary looks for its libraries (RUNPATH), so a shipped binary never searches the working directory."""

from __future__ import annotations

import os
import struct

__all__ = ["elf_machine", "undefined_symbols", "runpath", "MACHINE_NAMES"]

# e_machine values (ELF spec) for the CPUs edgeclas targets.
MACHINE_NAMES = {62: "x86_64", 183: "aarch64", 40: "armv7", 3: "x86"}


def elf_machine(path: str | os.PathLike[str]) -> str | None:
    """``x86_64`` / ``aarch64`` / ``armv7`` / ``x86``, ``other:N``, or None when not an ELF file."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order = "little" if head[5] == 1 else "big"
    code = int.from_bytes(head[18:20], order)
    return MACHINE_NAMES.get(code, f"other:{code}")


def undefined_symbols(path: str | os.PathLike[str]) -> list[str]:
    """Names in a little-endian ELF's dynamic symbol table that it does not define (what the loader must find
    elsewhere); [] when it is not such a file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[5] != 1:
        return []
    wide = data[4] == 2
    shoff = struct.unpack_from("<Q" if wide else "<I", data, 0x28 if wide else 0x20)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A if wide else 0x2E)
    # (type, offset, size, link) of each section header
    fmt, fields = ("<IIQQQQIIQQ", (1, 4, 5, 6)) if wide else ("<IIIIIIIIII", (1, 4, 5, 6))
    sections = []
    for i in range(shnum):
        h = struct.unpack_from(fmt, data, shoff + i * shentsize)
        sections.append(tuple(h[k] for k in fields))
    dynsym = next((s for s in sections if s[0] == 11), None)  # SHT_DYNSYM; its link is .dynstr
    if dynsym is None:
        return []
    strtab = sections[dynsym[3]][1]
    entsize = 24 if wide else 16
    out = []
    for i in range(1, dynsym[2] // entsize):
        off = dynsym[1] + i * entsize
        name = struct.unpack_from("<I", data, off)[0]
        shndx = struct.unpack_from("<H", data, off + (6 if wide else 14))[0]
        if shndx == 0 and name:
            end = data.index(0, strtab + name)
            out.append(data[strtab + name:end].decode("utf-8", "replace"))
    return out


def runpath(path: str | os.PathLike[str]) -> list[str] | None:
    """The entries of a little-endian ELF's DT_RUNPATH (else DT_RPATH), in order, empty ones kept (an empty
    entry means the working directory); None when it has neither or is not such a file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[5] != 1:
        return None
    wide = data[4] == 2
    shoff = struct.unpack_from("<Q" if wide else "<I", data, 0x28 if wide else 0x20)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A if wide else 0x2E)
    fmt, fields = ("<IIQQQQIIQQ", (1, 4, 5, 6)) if wide else ("<IIIIIIIIII", (1, 4, 5, 6))
    sections = [tuple(struct.unpack_from(fmt, data, shoff + i * shentsize)[k] for k in fields) for i in range(shnum)]
    dynamic = next((s for s in sections if s[0] == 6), None)  # SHT_DYNAMIC; its link is .dynstr
    if dynamic is None:
        return None
    strtab = sections[dynamic[3]][1]
    entry = "<qQ" if wide else "<iI"
    size = 16 if wide else 8
    found: dict[int, int] = {}
    for off in range(dynamic[1], dynamic[1] + dynamic[2], size):
        tag, value = struct.unpack_from(entry, data, off)
        if tag == 0:  # DT_NULL
            break
        if tag in (15, 29):  # DT_RPATH, DT_RUNPATH
            found[tag] = value
    if not found:
        return None
    start = strtab + found.get(29, found.get(15, 0))
    return data[start:data.index(0, start)].decode("utf-8", "replace").split(":")
