"""``android-userland``: Debian packages read in Python, the pinned install, resolution and its messages."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from edgeclas import sdk
from edgeclas.errors import ToolchainError
from edgeclas.sdk.download import deb_data_tar, safe_extract


def _ar(members: list[tuple[str, bytes]]) -> bytes:
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}".encode() + b"\x60\n" + data
        if len(data) % 2:
            out += b"\n"  # ar pads members to an even size
    return bytes(out)


def _data_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_deb_data_member_is_found_after_odd_sized_members(tmp_path: Path) -> None:
    deb = tmp_path / "x.deb"
    deb.write_bytes(_ar([("debian-binary", b"2.0\n"), ("control.tar.xz", b"odd"),
                         ("data.tar.xz", _data_tar({"./bin/tool": b"\x7fELF...", "./usr/share/doc/x": b"doc"}))]))
    data = deb_data_tar(deb, tmp_path)
    assert data.name == "data.tar.xz"
    safe_extract(data, tmp_path / "out", select=lambda m: m if m == "bin/tool" else None)
    assert (tmp_path / "out/bin/tool").read_bytes() == b"\x7fELF..."
    assert not (tmp_path / "out/usr").exists()


@pytest.mark.parametrize("content, words", [
    (b"PK\x03\x04 a zip", "not a Debian package"),
    (_ar([("debian-binary", b"2.0\n"), ("control.tar.xz", b"x")]), "no data.tar member"),
    (b"!<arch>\n" + b"data.tar.xz     " + b"0" * 42 + b"no", "damaged ar member header"),
])
def test_bad_packages_are_refused_with_the_reason(tmp_path: Path, content: bytes, words: str) -> None:
    deb = tmp_path / "bad.deb"
    deb.write_bytes(content)
    with pytest.raises(ToolchainError, match=words):
        deb_data_tar(deb, tmp_path)


def test_missing_userland_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path))
    monkeypatch.delenv("EDGECLAS_USERLAND_ROOT", raising=False)
    for arch in ("armv8", "armv7"):
        with pytest.raises(ToolchainError) as e:
            sdk.resolve("android-userland", arch=arch)
        assert e.value.hint == f"edgeclas sdk install android-userland --arch {arch}"
        assert "mksh" in e.value.message and "not installed" in e.value.message
    rows = {r.name: r for r in sdk.doctor_rows()}
    row = rows["android-userland (android-armv8)"]
    assert not row.found and row.how == "edgeclas sdk install android-userland --arch armv8"


def _installed(arch: str) -> Path:
    from edgeclas.paths import cache_dir

    root = cache_dir("sdk", "android-userland", arch)
    if not (root / "sdk.json").is_file():
        pytest.skip(f"the {arch} userland is not installed: edgeclas sdk install android-userland --arch {arch}")
    return root


def test_env_folder_and_wrong_architecture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = _installed("armv8")
    shutil.copytree(real, tmp_path / "ul" / "armv8", symlinks=True)
    monkeypatch.setenv("EDGECLAS_USERLAND_ROOT", str(tmp_path / "ul"))
    item = sdk.resolve("android-userland", arch="armv8")
    assert (item.source, item.path) == ("env", tmp_path / "ul" / "armv8")
    assert item.version.startswith("mksh 59c") and "toybox 0.8.9" in item.version
    # A 64-bit shell in an armv7 folder is caught, and named.
    shutil.copytree(real, tmp_path / "ul" / "armv7", symlinks=True)
    with pytest.raises(ToolchainError, match=r"system/bin/sh is built for aarch64"):
        sdk.resolve("android-userland", arch="armv7")


@pytest.mark.parametrize("arch, machine", [("armv8", "aarch64"), ("armv7", "armv7")])
def test_install_from_the_pinned_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arch: str,
                                          machine: str) -> None:
    """install() on the real pinned .deb files (from the user's cache, so no network): layout, command
    lists read from the binaries, provenance in sdk.json."""
    from edgeclas.paths import cache_dir
    from edgeclas.sdk import userland
    from edgeclas.sdk._elf import elf_machine

    _installed(arch)
    real = cache_dir("sdk", "downloads")
    debs = [p.artifact.name for p in userland.PACKAGES[arch]]
    if not all((real / n).is_file() for n in debs):
        pytest.skip(f"the pinned packages are not in {real}")
    if not shutil.which("qemu-aarch64-static"):
        pytest.skip("qemu-user-static not installed")
    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGECLAS_USERLAND_ROOT", raising=False)
    (tmp_path / "cache/sdk/downloads").mkdir(parents=True)
    for n in debs:
        (tmp_path / "cache/sdk/downloads" / n).symlink_to(real / n)
    [item] = sdk.install("android-userland", arch=arch)
    root = item.path
    lib = "lib64" if arch == "armv8" else "lib"
    for rel in ("system/bin/sh", "system/bin/toybox", "system/bin/busybox", f"system/{lib}/libcrypt.so.1"):
        assert elf_machine(root / rel) == machine, rel
    meta = json.loads((root / "sdk.json").read_text())
    assert {"ls", "cat", "sha256sum", "md5sum", "timeout", "ps", "stat", "find"} <= set(meta["toybox"])
    assert "tr" not in meta["toybox"] and sorted(meta["busybox"]) == sorted(userland.BUSYBOX_COMMANDS)
    assert [p["sha256"] for p in meta["packages"]] == [p.artifact.sha256 for p in userland.PACKAGES[arch]]
    assert sdk.resolve("android-userland", arch=arch).source == "cache"
    assert not list(root.rglob(".unpack"))
    assert os.access(root / "system/bin/sh", os.X_OK)
