"""JPEG/PNG decoding libraries for ARM Linux builds of ``clas_system``: ``DIR/include`` + static ``DIR/lib``.

``clas_system`` decodes JPEG with libjpeg-turbo and PNG with libpng, as OpenCV does on the host, so the
device sees the same pixels as ``edgeclas predict``. For ARM Linux the libraries come from Debian's own
``-dev`` packages for arm64/armhf (``libjpeg.a``, ``libpng16.a``, ``libz.a`` and their headers), fetched
with ``apt-get download`` through a private apt state (never multiarch in the system's apt) and pinned by
sha256. They are linked statically, so a device bundle carries no extra ``.so``. The host build uses the
system's packages (``libjpeg62-turbo-dev libpng-dev``); Android builds use stb_image (docs/sdk.md).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ToolchainError
from ..fsutil import atomic_write_json, staging_dir
from ..paths import cache_dir
from . import SdkItem, Target
from . import target as make_target
from .download import DEB_ARCH, Artifact, deb_data_tar, fetch, safe_extract

__all__ = ["PACKAGES", "VERSION", "ENV", "check_root", "resolve", "install", "targets"]

ENV = "EDGECLAS_IMAGE_LIBS_ROOT"
PER_TARGET = True

# Debian 12 (bookworm) main; sha256 recorded at the first download (2026-11-30) and checked on every fetch.
_TRIPLE = {"aarch64": "aarch64-linux-gnu", "armv7": "arm-linux-gnueabihf"}
_VERSIONS = {"libjpeg62-turbo-dev": "1:2.1.5-2", "libpng-dev": "1.6.39-2+deb12u5", "zlib1g-dev": "1:1.2.13.dfsg-1"}
_SHA256 = {
    ("libjpeg62-turbo-dev", "arm64"): "d2ab47457f162d08ee9bfdd1a383013c25fe67b7e9a2210e7468333c5d18f6b7",
    ("libpng-dev", "arm64"): "f02dc017801713dfd11aaa7e72d705f747570e029fd242c29af072d64474ddfc",
    ("zlib1g-dev", "arm64"): "afb60f0bae432f2f0edfe2d674e99c1a13a147c9aa2b52f2f23e3df19ece76f5",
    ("libjpeg62-turbo-dev", "armhf"): "49fd2fe01e77f9e97f572fd2f4184f89d3f052e3bb712d011083a3baad72f74d",
    ("libpng-dev", "armhf"): "b5d8b45681688c8763c6e03fee8f142eb336bb4f68d680a9c25a8a8197658a64",
    ("zlib1g-dev", "armhf"): "4fbb63530bb52324d74f42f6d69b6b1c6e3c09bd2cb84cecc121f688191e04f5",
}


def _artifact(pkg: str, arch: str) -> Artifact:
    version = _VERSIONS[pkg]
    return Artifact(f"{pkg}_{version.replace(':', '%3a')}_{arch}.deb", "apt", f"{pkg}:{arch}={version}",
                    _SHA256[(pkg, arch)])


VERSION = "libjpeg-turbo 2.1.5, libpng 1.6.39, zlib 1.2.13 (Debian 12)"
PACKAGES = {machine: [_artifact(pkg, arch) for pkg in _VERSIONS] for machine, arch in DEB_ARCH.items()}

_LIBS = ("libjpeg.a", "libpng16.a", "libz.a")
_HEADERS = ("jpeglib.h", "jconfig.h", "jmorecfg.h", "jerror.h", "png.h", "pngconf.h", "pnglibconf.h", "zlib.h",
            "zconf.h")
_MANIFEST = "sdk.json"


def targets(name: str) -> list[Target]:
    return [make_target("armv8", "linux"), make_target("armv7", "linux")]


def _cache_path(t: Target) -> Path:
    return cache_dir("sdk", "image-libs", t.machine)


def _supported(t: Target) -> None:
    if t.os != "linux" or t.machine not in DEB_ARCH:
        raise ToolchainError(f"no image-libs SDK piece for {t.key}: the host uses the system's libjpeg/libpng, "
                             "Android builds decode with stb_image",
                             hint="use --arch armv8|armv7 --os linux")


def check_root(root: Path) -> str:
    """Validate a layout (include/ headers, lib/ archives); return its version string."""
    missing = [f"include/{h}" for h in _HEADERS if not (root / "include" / h).is_file()]
    missing += [f"lib/{a}" for a in _LIBS if not (root / "lib" / a).is_file()]
    if missing:
        raise ToolchainError(f"{root}: not an image-libs SDK (missing {', '.join(missing)})",
                             hint="the layout is DIR/include/{jpeglib,png,zlib}.h … and DIR/lib/{libjpeg,libpng16,libz}.a")
    try:
        return json.loads((root / _MANIFEST).read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "unknown"


def resolve(name: str, t: Target, flag: Path | None) -> SdkItem:
    _supported(t)
    for source, root in (("flag", flag), ("env", Path(os.environ[ENV]) if os.environ.get(ENV) else None)):
        if root is not None:
            try:
                return SdkItem(name, check_root(root), root, source, t.key)
            except ToolchainError as e:
                raise ToolchainError(f"{e.message} (given by {'the flag' if source == 'flag' else ENV})",
                                     hint=e.hint) from None
    root = _cache_path(t)
    if (root / _MANIFEST).is_file():
        return SdkItem(name, check_root(root), root, "cache", t.key, note="static libjpeg-turbo, libpng, zlib")
    raise ToolchainError(f"JPEG/PNG libraries for {t.key} not found (no ${ENV}, nothing in {root})",
                         hint=f"edgeclas sdk install image-libs {t.flags()}")


def install(name: str, t: Target, **_: object) -> SdkItem:
    _supported(t)
    downloads = cache_dir("sdk", "downloads")
    debs = [fetch(a, downloads) for a in PACKAGES[t.machine]]
    triple = _TRIPLE[t.machine]
    root = _cache_path(t)

    def wanted(member: str) -> str | None:  # headers, and the static archives of this triple
        keep = member.startswith("usr/include/") or (member.startswith(f"usr/lib/{triple}/") and member.endswith(".a"))
        return member if keep else None

    with tempfile.TemporaryDirectory(prefix="image-libs-") as td, staging_dir(root) as tmp:
        os.chmod(tmp, 0o755)
        usrs = []  # one tree per package: safe_extract replaces its destination as a whole
        for i, deb in enumerate(debs):  # verified by sha256 in fetch(), and still extracted with the checked extractor
            safe_extract(deb_data_tar(deb, td), Path(td) / f"data{i}", select=wanted)
            usrs.append(Path(td) / f"data{i}" / "usr")
        (tmp / "include").mkdir()
        (tmp / "lib").mkdir()
        header_dirs = [d for usr in usrs for d in (usr / "include", usr / "include" / triple, usr / "include" / "libpng16")]
        for h in _HEADERS:
            src = next((d / h for d in header_dirs if (d / h).is_file() and not (d / h).is_symlink()), None)
            if src is None:
                raise ToolchainError(f"{h} is not in the Debian packages for {t.key}",
                                     hint="the pin table in edgeclas/sdk/image_libs.py names the wrong packages")
            shutil.copy2(src, tmp / "include" / h)
        for lib in _LIBS:
            src = next((usr / "lib" / triple / lib for usr in usrs if (usr / "lib" / triple / lib).is_file()), None)
            if src is None:
                raise ToolchainError(f"{lib} is not in the Debian packages for {t.key}",
                                     hint="the pin table in edgeclas/sdk/image_libs.py names the wrong packages")
            shutil.copy2(src, tmp / "lib" / lib)
        version = VERSION
        atomic_write_json(tmp / _MANIFEST, {
            "name": "image-libs", "version": version, "target": t.key,
            "sources": [{"via": a.via, "spec": a.spec, "file": a.name, "sha256": a.sha256} for a in PACKAGES[t.machine]],
        })
        check_root(tmp)
    return SdkItem(name, version, root, "download", t.key)
