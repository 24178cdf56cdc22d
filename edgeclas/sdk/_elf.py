"""Read the CPU an ELF file was built for, so a library for the wrong target is caught before linking."""

from __future__ import annotations

import os

__all__ = ["elf_machine", "MACHINE_NAMES"]

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
