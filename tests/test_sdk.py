"""SDK layer: safe extraction, sha256 pins, resolution order, clear messages for missing pieces, doctor rows."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from edgeclas import sdk
from edgeclas.errors import ConfigError, ToolchainError
from edgeclas.fsutil import sha256_file
from edgeclas.sdk.download import UnsafeArchiveError, safe_extract, verify_sha256

NDK_VARS = ("ANDROID_NDK_HOME", "ANDROID_NDK_ROOT", "EDGECLAS_NDK")


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty edgeclas cache and no SDK environment variables."""
    root = tmp_path / "cache"
    monkeypatch.setenv("EDGECLAS_CACHE", str(root))
    for var in (*NDK_VARS, "EDGECLAS_ORT_ROOT", "EDGECLAS_LITE_ROOT", "EDGECLAS_QEMU_LD_PREFIX", "EDGECLAS_IMAGE_LIBS_ROOT"):
        monkeypatch.delenv(var, raising=False)
    return root


# ----------------------------------------------------------------------------- archives

def _tar(path: Path, members: list[tuple[str, str, bytes | str]]) -> Path:
    """members: (name, kind: file|symlink|hardlink|dir, data-or-linkname)."""
    with tarfile.open(path, "w:gz") as tf:
        for name, kind, data in members:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))  # type: ignore[arg-type]
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            else:
                ti.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                ti.linkname = data  # type: ignore[assignment]
                tf.addfile(ti)
    return path


def _zip(path: Path, members: list[tuple[str, str, bytes | str]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, kind, data in members:
            zi = zipfile.ZipInfo(name)
            if kind == "symlink":
                zi.external_attr = (0o120777 << 16)
                zf.writestr(zi, data)
            else:
                zi.external_attr = (0o100644 << 16)
                zf.writestr(zi, data)
    return path


def test_safe_extract_unpacks_files_dirs_and_inner_links(tmp_path: Path) -> None:
    arc = _tar(tmp_path / "ok.tar.gz", [
        ("pkg/", "dir", b""), ("pkg/include/a.h", "file", b"int a;"), ("pkg/lib/libx.so.1", "file", b"\x7fELF"),
        ("pkg/lib/libx.so", "symlink", "libx.so.1"), ("pkg/copy.h", "hardlink", "pkg/include/a.h"),
    ])
    written = safe_extract(arc, tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "pkg/include/a.h").read_bytes() == b"int a;"
    assert os.readlink(out / "pkg/lib/libx.so") == "libx.so.1"
    assert (out / "pkg/copy.h").read_bytes() == b"int a;"
    assert "pkg/lib/libx.so.1" in written


def test_safe_extract_select_maps_and_skips(tmp_path: Path) -> None:
    arc = _zip(tmp_path / "x.aar", [("headers/a.h", "file", b"A"), ("jni/arm64-v8a/lib.so", "file", b"L"),
                                    ("classes.jar", "file", b"J")])
    safe_extract(arc, tmp_path / "inc", select=lambda n: n[8:] if n.startswith("headers/") else None)
    assert sorted(p.name for p in (tmp_path / "inc").iterdir()) == ["a.h"]


@pytest.mark.parametrize("members, words", [
    ([("../evil", "file", b"x")], "'..'"),
    ([("ok/../../evil", "file", b"x")], "'..'"),
    ([("/tmp/abs-evil", "file", b"x")], "absolute"),
    ([("link", "symlink", "../../etc")], "outside"),
    ([("link", "symlink", "/etc/passwd")], "outside"),
    ([("hl", "hardlink", "/etc/passwd")], "absolute"),
    # Writing through a link the archive itself made is how lexical checks get fooled.
    ([("s", "symlink", "."), ("s/x/y/l", "symlink", "../../.."), ], "through a link"),
    ([("a", "symlink", "b"), ("b", "symlink", "c/../.."), ], "outside"),
])
def test_safe_extract_rejects_escapes_in_tar(tmp_path: Path, members, words: str) -> None:
    arc = _tar(tmp_path / "bad.tar.gz", members)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("old")
    with pytest.raises(UnsafeArchiveError, match=words.replace(".", r"\.").replace("'", "'")):
        safe_extract(arc, dest)
    assert (dest / "keep.txt").read_text() == "old"  # a rejected archive leaves the target untouched
    assert not (tmp_path / "evil").exists() and not Path("/tmp/abs-evil").exists()


@pytest.mark.parametrize("members, words", [
    ([("../evil", "file", b"x")], "'..'"),
    ([("/abs", "file", b"x")], "absolute"),
    ([("lnk", "symlink", "../../outside")], "outside"),
])
def test_safe_extract_rejects_escapes_in_zip(tmp_path: Path, members, words: str) -> None:
    arc = _zip(tmp_path / "bad.zip", members)
    with pytest.raises(UnsafeArchiveError, match=words.replace(".", r"\.")):
        safe_extract(arc, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_safe_extract_size_and_count_limits(tmp_path: Path) -> None:
    arc = _tar(tmp_path / "big.tar.gz", [("zeros", "file", b"\0" * 4096), ("more", "file", b"\0" * 4096)])
    with pytest.raises(UnsafeArchiveError, match="MiB"):
        safe_extract(arc, tmp_path / "d1", max_total_bytes=6000)
    with pytest.raises(UnsafeArchiveError, match="members"):
        safe_extract(arc, tmp_path / "d2", max_members=1)


def test_sha256_mismatch_is_rejected_and_deleted(tmp_path: Path) -> None:
    f = tmp_path / "artifact.whl"
    f.write_bytes(b"not the pinned file")
    with pytest.raises(ToolchainError, match="sha256 mismatch"):
        verify_sha256(f, "0" * 64)
    assert not f.exists()
    g = tmp_path / "ok.bin"
    g.write_bytes(b"data")
    verify_sha256(g, sha256_file(g))  # the right digest passes (case-insensitive)
    verify_sha256(g, sha256_file(g).upper())


def test_cli_install_with_wrong_sha256_refuses_and_keeps_users_file(tmp_path: Path, cache: Path) -> None:
    arc = _tar(tmp_path / "inference_lite_lib.armlinux.armv8.gcc.with_extra.with_cv.tar.gz",
               [("inference_lite_lib.armlinux.armv8.gcc.with_extra.with_cv/cxx/include/paddle_api.h", "file", b"")])
    proc = subprocess.run([str(Path(sys.executable).with_name("edgeclas")), "sdk", "install", "paddle-lite", "--arch", "armv8",
                           "--os", "linux", "--archive", str(arc), "--sha256", "ab" * 32],
                          capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 5, proc.stderr
    assert "sha256 mismatch" in proc.stderr and "Traceback" not in proc.stderr
    assert arc.exists()  # the user's own download is not deleted
    assert not (cache / "sdk" / "paddle-lite").exists()


# ----------------------------------------------------------------------------- targets, resolution

def test_target_words() -> None:
    assert sdk.target("armv8").os == "android"  # phones are the default target
    t = sdk.target("aarch64", "linux")
    assert (t.arch, t.abi, t.triple) == ("armv8", "arm64-v8a", "aarch64-linux-gnu")
    assert sdk.target("armhf", "linux").triple == "arm-linux-gnueabihf"
    assert sdk.target("armv7").triple == "armv7a-linux-androideabi"
    with pytest.raises(ConfigError, match="--arch"):
        sdk.target("mips")
    with pytest.raises(ConfigError):
        sdk.target("host", "android")
    with pytest.raises(ConfigError, match="did you mean 'onnxruntime'"):
        sdk.resolve("onnxruntim")


def _fake_ort(root: Path) -> Path:
    """A real ORT SDK layout around this machine's real libonnxruntime (from the onnxruntime wheel)."""
    ort = pytest.importorskip("onnxruntime", reason="the onnxruntime wheel provides a real host libonnxruntime")
    lib = next((Path(ort.__file__).parent / "capi").glob("libonnxruntime.so.*"))
    (root / "include").mkdir(parents=True)
    (root / "include" / "onnxruntime_cxx_api.h").write_text("// header\n")
    (root / "lib").mkdir()
    (root / "lib" / lib.name).symlink_to(lib)
    return root


def test_ort_resolution_order_flag_env_cache(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ToolchainError) as e:
        sdk.resolve("onnxruntime", arch="host")
    assert e.value.hint == "edgeclas sdk install onnxruntime --arch host"

    cached = _fake_ort(cache / "sdk" / "onnxruntime" / f"linux-{sdk.target('host').abi}")
    (cached / "sdk.json").write_text('{"version": "9.9.9"}')
    item = sdk.resolve("onnxruntime", arch="host")
    assert (item.source, item.path, item.version) == ("cache", cached, "9.9.9")

    env_root = _fake_ort(tmp_path / "env-ort")
    monkeypatch.setenv("EDGECLAS_ORT_ROOT", str(env_root))
    item = sdk.resolve("onnxruntime", arch="host")
    assert (item.source, item.path) == ("env", env_root)
    assert item.version.count(".") == 2  # read from libonnxruntime.so.X.Y.Z

    flag_root = _fake_ort(tmp_path / "flag-ort")
    assert sdk.resolve("onnxruntime", arch="host", flag=flag_root).source == "flag"


def test_ort_wrong_architecture_is_caught(tmp_path: Path, cache: Path) -> None:
    x86 = _fake_ort(tmp_path / "x86-ort")
    if sdk.target("host").machine != "x86_64":
        pytest.skip("the check is demonstrated with an x86_64 library on an x86_64 host")
    with pytest.raises(ToolchainError, match="built for x86_64, but the target linux-armv8 needs aarch64"):
        sdk.resolve("onnxruntime", arch="armv8", os="linux", flag=x86)


def test_ort_armhf_is_refused_with_the_reason(cache: Path) -> None:
    with pytest.raises(ToolchainError, match="no ONNX Runtime exists for 32-bit ARM Linux") as e:
        sdk.resolve("onnxruntime", arch="armv7", os="linux")
    assert "--engine none" in e.value.hint


def test_ndk_missing_says_what_to_do(cache: Path) -> None:
    with pytest.raises(ToolchainError, match="Android NDK not found") as e:
        sdk.resolve("ndk", arch="armv8")
    assert "ANDROID_NDK_HOME" in e.value.hint and "edgeclas sdk install ndk" in e.value.hint
    with pytest.raises(ToolchainError, match="not in any package registry"):
        sdk.install("ndk", arch="armv8")


def test_ndk_from_env_and_from_a_verified_archive(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ndk = tmp_path / "android-ndk-r99"
    (ndk / "build" / "cmake").mkdir(parents=True)
    (ndk / "build" / "cmake" / "android.toolchain.cmake").write_text("# toolchain\n")
    (ndk / "source.properties").write_text("Pkg.Desc = Android NDK\nPkg.Revision = 99.0.1234\n")
    monkeypatch.setenv("ANDROID_NDK_ROOT", str(ndk))
    item = sdk.resolve("ndk", arch="armv8")
    assert (item.version, item.source, item.path) == ("99.0.1234", "env", ndk)
    monkeypatch.setenv("ANDROID_NDK_HOME", str(tmp_path))  # checked first, and not an NDK: say so
    with pytest.raises(ToolchainError, match="from ANDROID_NDK_HOME.*not an Android NDK"):
        sdk.resolve("ndk", arch="armv8")
    monkeypatch.delenv("ANDROID_NDK_HOME")
    monkeypatch.delenv("ANDROID_NDK_ROOT")

    arc = tmp_path / "android-ndk-r99-linux.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        for f in ndk.rglob("*"):
            if f.is_file():
                zf.write(f, f"android-ndk-r99/{f.relative_to(ndk)}")
    with pytest.raises(ToolchainError, match="sha256"):
        sdk.install("ndk", arch="armv8", archive=str(arc))  # no digest given: refuse
    (item,) = sdk.install("ndk", arch="armv8", archive=str(arc), sha256=sha256_file(arc))
    assert item.version == "99.0.1234"
    assert sdk.resolve("ndk", arch="armv8").source == "cache"


def test_paddle_lite_offline_message_names_archive_and_command(cache: Path) -> None:
    with pytest.raises(ToolchainError) as e:
        sdk.resolve("paddle-lite", arch="armv8", os="android")
    assert "inference_lite_lib.android.armv8.clang.c++_shared.with_extra.with_cv" in e.value.hint
    assert "v2.13-rc" in e.value.hint and "EDGECLAS_LITE_ROOT" in e.value.hint
    with pytest.raises(ToolchainError, match="no sha256 is published"):
        sdk.install("paddle_lite", arch="armv8", os="linux")  # the underscore spelling is the same item


def test_cross_tools_missing_name_the_apt_package(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(cache))  # nothing on PATH
    with pytest.raises(ToolchainError) as e:
        sdk.resolve("cross-gcc", arch="armv8", os="linux")
    assert e.value.hint == "apt-get install g++-aarch64-linux-gnu"
    with pytest.raises(ToolchainError) as e:
        sdk.resolve("qemu", arch="armv7", os="linux")
    assert e.value.hint == "apt-get install qemu-user-static"


def test_qemu_prefix_layout(cache: Path) -> None:
    from edgeclas.sdk.cross import qemu_prefix

    if not Path("/usr/aarch64-linux-gnu/lib").is_dir():
        pytest.skip("needs the aarch64 cross libc: apt-get install g++-aarch64-linux-gnu")
    prefix = qemu_prefix("armv8")
    assert prefix == cache / "sdk" / "qemu-prefix" / "aarch64"
    assert os.readlink(prefix / "lib") == "/usr/aarch64-linux-gnu/lib"
    text = (prefix / "proc" / "cpuinfo").read_text()
    assert text.count("processor\t:") == 8 and "CPU part\t: 0xd0b" in text and "CPU part\t: 0xd05" in text
    # sysfs agrees with it on the CPU count (Paddle Lite counts cpuN/uevent and indexes by cpuinfo's processors).
    cpus = prefix / "sys" / "devices" / "system" / "cpu"
    assert sorted(p.name for p in cpus.glob("cpu*") if (p / "uevent").is_file()) == [f"cpu{n}" for n in range(8)]
    assert sdk.resolve("qemu-prefix", arch="armv8", os="linux").source == "cache"
    # A prefix made before the sysfs part is made again on first use.
    import shutil as _shutil

    _shutil.rmtree(cpus)
    with pytest.raises(ToolchainError, match="uevent"):
        sdk.resolve("qemu-prefix", arch="armv8", os="linux")
    assert (qemu_prefix("armv8") / "sys" / "devices" / "system" / "cpu" / "cpu7" / "uevent").is_file()


@pytest.mark.integration
@pytest.mark.parametrize("arch, gcc", [("armv8", "aarch64-linux-gnu-gcc"), ("armv7", "arm-linux-gnueabihf-gcc")])
def test_arm_binary_under_qemu_sees_the_arm_cpuinfo(tmp_path: Path, cache: Path, arch: str, gcc: str) -> None:
    from edgeclas.sdk.cross import qemu_command

    if not shutil.which(gcc):
        pytest.skip(f"{gcc} not installed")
    src = tmp_path / "cat.c"
    src.write_text('#include <stdio.h>\nint main(void){FILE*f=fopen("/proc/cpuinfo","r");int c;'
                   'if(!f)return 2;while((c=fgetc(f))!=EOF)putchar(c);return 0;}\n')
    exe = tmp_path / "cat"
    subprocess.run([gcc, "-O1", "-o", str(exe), str(src)], check=True)  # dynamic: needs the prefix's loader
    out = subprocess.run([*qemu_command(arch), str(exe)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "CPU implementer\t: 0x41" in out.stdout  # an ARM cpuinfo, not the host's x86 one
    assert "GenuineIntel" not in out.stdout and "AuthenticAMD" not in out.stdout
    # The CPU count the way Paddle Lite takes it (cpuN/uevent files) matches the cpuinfo's processors.
    src.write_text('#include <stdio.h>\nint main(void){int n=0;char p[64];FILE*f;for(;;){'
                   'snprintf(p,sizeof p,"/sys/devices/system/cpu/cpu%d/uevent",n);if(!(f=fopen(p,"r")))break;'
                   'fclose(f);n++;}printf("%d\\n",n);return 0;}\n')
    subprocess.run([gcc, "-O1", "-o", str(exe), str(src)], check=True)
    count = subprocess.run([*qemu_command(arch), str(exe)], capture_output=True, text=True, timeout=60)
    assert int(count.stdout) == out.stdout.count("processor\t:"), (count.stdout, count.stderr)


def test_doctor_shows_sdk_rows_found_and_missing(cache: Path) -> None:
    from edgeclas.doctor import collect

    rows = [r for r in collect(["edgeclas.sdk:doctor_rows"]) if r.group == "sdk"]
    names = {r.name for r in rows}
    assert {"ndk", "onnxruntime (linux-host)", "onnxruntime (linux-armv8)", "paddle-lite (android-armv8)",
            "cross-gcc (linux-armv8)", "qemu (linux-armv7)", "qemu-prefix (linux-armv8)"} <= names
    ndk = next(r for r in rows if r.name == "ndk")
    assert not ndk.found and "edgeclas sdk install ndk" in ndk.how
    ort = next(r for r in rows if r.name == "onnxruntime (linux-host)")
    assert not ort.found and ort.how == "edgeclas sdk install onnxruntime --arch host"
    for r in rows:
        assert r.found or r.how, f"{r.name}: missing without a way to get it"


def test_sdk_list_and_path_cli(cache: Path) -> None:
    from click.testing import CliRunner

    from edgeclas.cli import cli

    res = CliRunner().invoke(cli, ["sdk", "list", "--json"])
    assert res.exit_code == 0, res.output
    assert '"onnxruntime (linux-armv8)"' in res.output
    res = CliRunner().invoke(cli, ["sdk", "path", "onnxruntime", "--arch", "armv8", "--os", "linux"])
    assert res.exit_code == 5
    assert "edgeclas sdk install onnxruntime --arch armv8 --os linux" in res.output


def test_ort_install_assembles_every_target_from_the_pinned_artifacts(tmp_path: Path, monkeypatch) -> None:
    """install() on the real pinned artifacts (taken from the user's cache, so no network): layout, links,
    architectures, and the provenance recorded in sdk.json."""
    from edgeclas.paths import cache_dir
    from edgeclas.sdk import onnxruntime as ort_sdk
    from edgeclas.sdk._elf import elf_machine

    real = cache_dir("sdk", "downloads")
    needed = [ort_sdk.AAR_NAME, *(w.name for w in ort_sdk.WHEELS.values())]
    if not all((real / n).is_file() for n in needed):
        pytest.skip(f"the pinned ORT artifacts are not in {real} yet: edgeclas sdk install onnxruntime")
    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGECLAS_ORT_ROOT", raising=False)
    downloads = cache_dir("sdk", "downloads")
    downloads.mkdir(parents=True)
    for n in needed:
        (downloads / n).symlink_to(real / n)

    items = sdk.install("onnxruntime")  # every supported target
    assert [i.target for i in items] == ["linux-host", "linux-armv8", "android-armv8", "android-armv7"]
    for item in items:
        t = sdk.target(*item.target.split("-")[::-1])
        root = item.path
        header = (root / "include" / "onnxruntime_c_api.h").read_text()
        assert "#define ORT_API_VERSION 29" in header
        meta = __import__("json").loads((root / "sdk.json").read_text())
        if t.os == "android":
            assert item.version == "1.29.0"
            assert elf_machine(root / "lib" / "libonnxruntime.so") == t.machine
            assert meta["sources"]["headers+lib"]["sha256"] == ort_sdk.AAR_SHA256
        else:
            assert item.version == "1.32.0"
            assert os.readlink(root / "lib" / "libonnxruntime.so") == "libonnxruntime.so.1"
            assert os.readlink(root / "lib" / "libonnxruntime.so.1") == "libonnxruntime.so.1.32.0"
            assert elf_machine(root / "lib" / "libonnxruntime.so.1.32.0") == t.machine
            assert meta["sources"]["lib"]["sha256"] == ort_sdk.WHEELS[t.machine].sha256
        assert sdk.resolve("onnxruntime", arch=t.arch, os=t.os).source == "cache"


def test_ort_install_rejects_a_tampered_artifact(tmp_path: Path, monkeypatch) -> None:
    from edgeclas.paths import cache_dir
    from edgeclas.sdk import onnxruntime as ort_sdk

    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))
    downloads = cache_dir("sdk", "downloads")
    downloads.mkdir(parents=True)
    # A file under the pinned name with other content: it is not trusted, and the fetch that follows
    # is refused here (PATH without npm) rather than silently using the tampered file.
    (downloads / ort_sdk.AAR_NAME).write_bytes(b"PK\x03\x04 not the official AAR")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match="npm"):
        sdk.install("onnxruntime", arch="armv8", os="android")
    assert not (downloads / ort_sdk.AAR_NAME).exists()  # deleted on the sha256 mismatch
    assert not (cache_dir("sdk", "onnxruntime")).exists()


# ----------------------------------------------------------------------------- image-libs (ARM Linux decoders)

def test_image_libs_missing_names_the_install_command_and_refuses_other_targets(tmp_path: Path, cache: Path,
                                                                                 monkeypatch) -> None:
    with pytest.raises(ToolchainError) as e:
        sdk.resolve("image-libs", arch="armv8", os="linux")
    assert e.value.hint == "edgeclas sdk install image-libs --arch armv8 --os linux"
    with pytest.raises(ToolchainError, match="stb_image"):
        sdk.resolve("image-libs", arch="armv8", os="android")
    half = tmp_path / "half"
    (half / "include").mkdir(parents=True)
    (half / "include" / "jpeglib.h").write_text("")
    monkeypatch.setenv("EDGECLAS_IMAGE_LIBS_ROOT", str(half))
    with pytest.raises(ToolchainError, match=r"lib/libpng16\.a.*EDGECLAS_IMAGE_LIBS_ROOT"):
        sdk.resolve("image-libs", arch="armv7", os="linux")


def test_image_libs_pins_every_package_for_both_arches() -> None:
    from edgeclas.sdk import image_libs

    for machine, arch in (("aarch64", "arm64"), ("armv7", "armhf")):
        arts = image_libs.PACKAGES[machine]
        assert {a.spec.split(":")[0] for a in arts} == {"libjpeg62-turbo-dev", "libpng-dev", "zlib1g-dev"}
        for a in arts:
            assert a.via == "apt" and f":{arch}=" in a.spec and a.name.endswith(f"_{arch}.deb")
            assert len(a.sha256) == 64 and int(a.sha256, 16) >= 0


def test_image_libs_install_from_the_pinned_debs(tmp_path: Path, monkeypatch) -> None:
    """install() on the real pinned .debs (from the user's cache, so no network): the flat static layout."""
    from edgeclas.paths import cache_dir
    from edgeclas.sdk import image_libs
    from edgeclas.sdk._elf import elf_machine

    real = cache_dir("sdk", "downloads")
    needed = [a.name for a in image_libs.PACKAGES["aarch64"]]
    if not all((real / n).is_file() for n in needed):
        pytest.skip(f"the pinned .debs are not in {real} yet: edgeclas sdk install image-libs --arch armv8 --os linux")
    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGECLAS_IMAGE_LIBS_ROOT", raising=False)
    downloads = cache_dir("sdk", "downloads")
    downloads.mkdir(parents=True)
    for n in needed:
        (downloads / n).symlink_to(real / n)
    item, = sdk.install("image-libs", arch="armv8", os="linux")
    assert (item.path / "include" / "jconfig.h").read_text().count("LIBJPEG_TURBO_VERSION")
    assert "PNG_LIBPNG_VER_STRING" in (item.path / "include" / "png.h").read_text()
    for lib in ("libjpeg.a", "libpng16.a", "libz.a"):
        with open(item.path / "lib" / lib, "rb") as f:
            assert f.read(8) == b"!<arch>\n", lib
    objs = subprocess.run(["ar", "t", str(item.path / "lib" / "libjpeg.a")], capture_output=True, text=True).stdout
    first = objs.split()[0]
    subprocess.run(["ar", "x", str(item.path / "lib" / "libjpeg.a"), first], cwd=tmp_path, check=True)
    assert elf_machine(tmp_path / first) == "aarch64"
    assert sdk.resolve("image-libs", arch="armv8", os="linux").source == "cache"
