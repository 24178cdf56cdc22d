"""``edgeclas deploy``: bundle a build + a model + images, push what changed, run on the device, parse.

Four stage functions, each usable alone (``edgeclas bench`` calls the first three per cell):

* :func:`make_bundle` — a self-contained directory (binary, runtime libs, model, labels, generated
  ``config.txt``, images) with a ``manifest.json`` listing the sha256 of every file;
* :func:`sync_bundle` — pushes only the files whose sha256 differs from the device's copy, so
  deploying an unchanged bundle again pushes 0 bytes;
* :func:`run_bundle` — runs ``clas_system`` with ``LD_LIBRARY_PATH`` and a time limit (device side
  ``timeout`` plus a host-side deadline) and parses its output into a :class:`RunResult`;
* :func:`deploy` — selects the device, picks (or builds, :func:`edgeclas.build.locate`) the build
  matching its ABI, does the three steps above, writes the result JSON atomically and removes the
  remote dir unless ``keep``.

Every path that reaches the device shell is quoted with ``shlex.quote``; image names travel through
the sync protocol (not the shell) and clas_system is given the image *directory*, so a file named
``a b'; touch pwned; '.png`` is deployed and classified like any other.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from . import targets
from .device.base import Device, DeviceInfo
from .device.errors import OutputParseError, PushError, RemoteCommandError, RemoteCrash, RemoteTimeout
from .errors import BuildError, ConfigError, DataError, EdgeclasError, ModelError
from .fsutil import atomic_write_json, atomic_write_text, sha256_file
from .manifest import MANIFEST_NAME, check_files, read_manifest, utc_now, write_manifest
from .parsers.clas_system import ImageResult, LatencyStats, parse_clas_system

__all__ = [
    "DEFAULT_REMOTE_DIR",
    "RunSettings",
    "Bundle",
    "SyncStats",
    "RunResult",
    "DeployResult",
    "render_config",
    "make_bundle",
    "sync_bundle",
    "run_bundle",
    "deploy",
]

DEFAULT_REMOTE_DIR = "/data/local/tmp/edgeclas"
# Remote dirs that must never be the target of the final ``rm -rf``.
_PROTECTED = {"/", "/data", "/data/local", "/data/local/tmp", "/sdcard", "/storage", "/system", "/vendor", "/tmp"}
# Lists the bundle files synced into a remote dir, so the next sync can remove ones no longer wanted.
_REMOTE_INDEX = ".edgeclas-files"
# Extra seconds the host waits beyond the device-side ``timeout`` before it cuts the stream itself.
_HOST_GRACE_S = 15.0


@dataclass(frozen=True)
class RunSettings:
    """How clas_system runs. ``power_mode``: 0 big cores, 1 little, 2 all, 3 no binding (Paddle Lite's)."""

    threads: int = 1
    power_mode: int = 0
    warmup: int = 1
    repeats: int = 10
    topk: int = 5
    timeout_s: float = 300.0

    def validate(self) -> "RunSettings":
        checks = [
            ("threads", self.threads >= 1, "≥ 1"),
            ("power_mode", self.power_mode in (0, 1, 2, 3), "0 (big), 1 (little), 2 (all) or 3 (no bind)"),
            ("warmup", self.warmup >= 0, "≥ 0"),
            ("repeats", self.repeats >= 1, "≥ 1"),
            ("topk", self.topk >= 1, "≥ 1"),
            ("timeout_s", self.timeout_s > 0, "> 0"),
        ]
        for key, ok, want in checks:
            if not ok:
                raise ConfigError(f"run setting {key}={getattr(self, key)!r} is invalid: must be {want}")
        return self


@dataclass(frozen=True)
class Bundle:
    """A bundle directory as :func:`make_bundle` wrote it (paths relative to ``path``)."""

    path: Path
    engine: str
    engine_version: str
    target: dict[str, str]
    binary: str
    libs: tuple[str, ...]
    model_file: str
    config: str
    images: tuple[str, ...]
    image_sources: dict[str, str]  # bundle-relative image → the host path it came from
    settings: RunSettings
    files: dict[str, str]  # bundle-relative path → sha256: everything pushed to the device
    manifest: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Bundle":
        path = Path(path)
        m = read_manifest(path, "bundle")
        try:
            b = m["bundle"]
            return cls(
                path=path,
                engine=str(b["engine"]["name"]),
                engine_version=str(b["engine"].get("version", "")),
                target=dict(b["target"]),
                binary=str(b["binary"]),
                libs=tuple(b.get("libs", [])),
                model_file=str(b["model_file"]),
                config=str(b["config"]),
                images=tuple(b["images"]),
                image_sources=dict(b.get("image_sources", {})),
                settings=RunSettings(**b["settings"]),
                files=dict(m["files"]),
                manifest=m,
            )
        except (KeyError, TypeError) as e:
            raise ModelError(f"{path / MANIFEST_NAME}: malformed bundle manifest ({e})",
                             hint="remake it: edgeclas deploy ... (bundles are rebuilt on every deploy)") from None

    @property
    def size_bytes(self) -> int:
        return sum((self.path / rel).stat().st_size for rel in self.files)


@dataclass(frozen=True)
class SyncStats:
    files_pushed: int
    bytes_pushed: int
    files_skipped: int
    seconds: float = 0.0


@dataclass
class RunResult:
    """One run of clas_system on a device: predictions, latency, and the raw output (always kept)."""

    serial: str
    command: str
    exit_code: int
    duration_s: float
    predictions: list[ImageResult] = field(default_factory=list)
    latency: LatencyStats | None = None
    engine: str = ""
    engine_version: str = ""
    threads: int | None = None
    power_mode: int | None = None
    warmup: int | None = None
    repeats: int | None = None
    affinity: dict[str, Any] | None = None
    peak_rss_kb: int | None = None
    output_format: str = ""
    stdout: str = ""
    stderr: str = ""
    error: dict[str, str] | None = None  # {"type": ..., "message": ...} when the run failed

    @property
    def ok(self) -> bool:
        return self.error is None

    def prediction(self, image: str) -> ImageResult | None:
        """The prediction for a bundle-relative image path (``images/x.png``)."""
        for p in self.predictions:
            if p.image == image or p.image.endswith("/" + image) or posixpath.normpath(p.image) == image:
                return p
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeployResult:
    device: DeviceInfo
    bundle: Bundle
    sync: SyncStats
    run: RunResult
    remote_dir: str
    cleaned: bool
    result_path: Path


# --- config -------------------------------------------------------------------------------------

def render_config(model_file: str, labels_file: str, preprocess: Any, engine: str, settings: RunSettings) -> str:
    """``config.txt``: the PaddleClas deploy/lite keys (accepted unchanged) plus edgeclas's own keys."""
    mean = " ".join(repr(float(x)) for x in preprocess.mean)
    std = " ".join(repr(float(x)) for x in preprocess.std)
    lines = [
        "# Generated by edgeclas deploy. PaddleClas deploy/lite keys first, then edgeclas keys.",
        f"clas_model_file {model_file}",
        f"label_path {labels_file}",
        f"resize_short_size {int(preprocess.resize_short)}",
        f"crop_size {int(preprocess.crop_size)}",
        "visualize 0",
        f"num_threads {settings.threads}",
        "batch_size 1",
        "precision FP32",
        "runtime_device arm_cpu",
        "enable_benchmark 0",
        "tipc_benchmark 0",
        f"engine {engine}",
        f"power_mode {settings.power_mode}",
        f"topk {settings.topk}",
        f"warmup {settings.warmup}",
        f"repeats {settings.repeats}",
        "output json",
        f"mean {mean}",
        f"std {std}",
        f"scale {float(preprocess.scale)!r}",
        f"channel_order {preprocess.channel_order}",
    ]
    return "\n".join(lines) + "\n"


# --- make_bundle --------------------------------------------------------------------------------

def _image_entries(images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[tuple[str, Path]]:
    """(bundle-relative name under images/, host path) for a file, a folder or a list of files."""
    from .preprocess import list_images

    if isinstance(images, (str, os.PathLike)):
        root = Path(images)
        if root.is_dir():
            entries = [(p.relative_to(root).as_posix(), p) for p in list_images(root)]
        else:
            entries = [(root.name, p) for p in list_images(root)]
    else:
        entries = []
        for item in images:
            p = Path(item)
            if not p.is_file():
                raise DataError(f"{p}: no such image file")
            entries.append((p.name, p))
    if not entries:
        raise DataError("no images given", hint="pass --images FILE_OR_FOLDER")
    seen: set[str] = set()
    out = []
    for rel, p in entries:
        if any(c in rel for c in "\n\r\0"):
            raise DataError(f"{p}: image names with line breaks cannot be reported back reliably; rename it")
        stem, suffix = posixpath.splitext(rel)
        name, n = rel, 1
        while name in seen:  # two files called the same in a list: keep both
            n += 1
            name = f"{stem}-{n}{suffix}"
        seen.add(name)
        out.append(("images/" + name, p))
    return out


def make_bundle(
    build_dir: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    settings: RunSettings | None = None,
    out_dir: str | os.PathLike[str] | None = None,
) -> Bundle:
    """Write the bundle directory (atomically) and return it; see the module doc for the layout."""
    from .fsutil import staging_dir
    from .model_dir import ModelDir

    settings = (settings or RunSettings()).validate()
    build_dir = Path(build_dir)
    bm = read_manifest(build_dir, "build")
    problems = check_files(build_dir, bm)
    if problems:
        raise BuildError(f"{build_dir}: build changed since it was made: {problems[0]}",
                         hint=f"rebuild it: edgeclas build --out {build_dir}")
    try:
        engine = str(bm["engine"]["name"])
        engine_version = str(bm["engine"].get("version", ""))
        target = {k: str(v) for k, v in bm["target"].items()}
        binary = str(bm.get("binary", "bin/clas_system"))
        libs = [str(x) for x in bm.get("libs", [])]
    except (KeyError, TypeError, AttributeError) as e:
        raise BuildError(f"{build_dir / MANIFEST_NAME}: malformed build manifest ({e})",
                         hint=f"rebuild it: edgeclas build --out {build_dir}") from None
    if not (build_dir / binary).is_file():
        raise BuildError(f"{build_dir / binary}: the build's binary is missing", hint=f"rebuild: edgeclas build --out {build_dir}")

    model = ModelDir.load(model_dir)
    model_src = targets.engine(engine).model_file(model.path, model.formats, engine_version)
    model_rel = f"model/{model_src.name}"
    image_entries = _image_entries(images)
    out_dir = Path(out_dir) if out_dir else Path("bundles") / f"{model.name}-{target.get('os', '')}-{target.get('arch', '')}-{engine}"

    with staging_dir(out_dir) as tmp:
        def put(src: Path, rel: str) -> None:
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)  # follows symlinks: the device gets real files

        put(build_dir / binary, "bin/clas_system")
        lib_rels = []
        for lib in libs:
            rel = "lib/" + Path(lib).name
            put(build_dir / lib, rel)
            lib_rels.append(rel)
        put(model_src, model_rel)
        put(model.labels_file, "labels.txt")
        atomic_write_text(tmp / "config.txt", render_config(model_rel, "labels.txt", model.preprocess, engine, settings))
        for rel, src in image_entries:
            put(src, rel)
        files = ["bin/clas_system", *lib_rels, model_rel, "labels.txt", "config.txt", *(r for r, _ in image_entries)]
        body = {
            "inputs": {
                "build": {"path": str(build_dir.resolve()), "manifest_sha256": sha256_file(build_dir / MANIFEST_NAME)},
                "model": {"path": str(model.path.resolve()), "manifest_sha256": sha256_file(model.path / MANIFEST_NAME)},
            },
            "bundle": {
                "engine": {"name": engine, "version": engine_version},
                "target": target,
                "binary": "bin/clas_system",
                "libs": lib_rels,
                "model_file": model_rel,
                "labels": "labels.txt",
                "config": "config.txt",
                "images": [r for r, _ in image_entries],
                "image_sources": {r: str(Path(s).resolve()) for r, s in image_entries},
                "settings": asdict(settings),
                "model": {"name": model.name, "arch": model.arch, "class_num": model.class_num},
            },
        }
        write_manifest(tmp, "bundle", body, files)
    return Bundle.load(out_dir)


# --- sync_bundle ---------------------------------------------------------------------------------

def _check_remote_dir(remote_dir: str) -> str:
    norm = posixpath.normpath(remote_dir)
    if not remote_dir.startswith("/") or any(c in remote_dir for c in "\n\r\0") or norm in _PROTECTED:
        raise ConfigError(
            f"remote dir '{remote_dir}' is not usable: it must be an absolute path of its own "
            f"(edgeclas deletes it afterwards), not one of {', '.join(sorted(_PROTECTED))}",
            hint=f"use e.g. --remote-dir {DEFAULT_REMOTE_DIR}",
        )
    return norm


def _inside(rel: str) -> bool:
    """A bundle-relative path from the device's index that stays inside the remote dir."""
    norm = posixpath.normpath(rel)
    return bool(rel) and not rel.startswith("/") and norm != "." and not norm.startswith("..")


def _check(r: Any, what: str, serial: str) -> None:
    if r.exit_code != 0:
        raise RemoteCommandError(f"{serial}: {what} failed (exit {r.exit_code}): {(r.stderr or r.stdout).strip()[:200]}")


def sync_bundle(device: Device, bundle: Bundle, remote_dir: str = DEFAULT_REMOTE_DIR) -> SyncStats:
    """Push the bundle's files whose sha256 differs on the device; ``chmod +x`` the binary.

    Files a previous bundle left in ``remote_dir`` (listed in its index file) and this bundle does
    not have are removed, so clas_system never sees stale images in ``images/``.
    """
    start = time.monotonic()
    remote_dir = _check_remote_dir(remote_dir)
    remote = {rel: posixpath.join(remote_dir, rel) for rel in bundle.files}
    index = posixpath.join(remote_dir, _REMOTE_INDEX)
    listed = device.shell(["cat", index], timeout=60)
    previous = set(listed.stdout.splitlines()) if listed.exit_code == 0 else set()
    stale = sorted(rel for rel in previous - set(bundle.files) if _inside(rel))
    for i in range(0, len(stale), 64):
        chunk = [posixpath.join(remote_dir, rel) for rel in stale[i:i + 64]]
        _check(device.shell(["rm", "-f", *chunk], timeout=60), "removing the previous bundle's files", device.serial)
    have = device.sha256(list(remote.values()))
    todo = [rel for rel, digest in bundle.files.items() if have.get(remote[rel]) != digest]
    if todo:
        dirs = sorted({posixpath.dirname(remote[rel]) for rel in todo})
        _check(device.shell(["mkdir", "-p", *dirs], timeout=60), "creating the remote dirs", device.serial)
    pushed_bytes = device.push_many([(bundle.path / rel, remote[rel], 0o755 if rel == bundle.binary else 0o644)
                                     for rel in todo])
    if todo:
        got = device.sha256([remote[rel] for rel in todo])
        bad = [rel for rel in todo if got.get(remote[rel]) != bundle.files[rel]]
        if bad:
            raise PushError(f"{device.serial}: {len(bad)} file(s) differ on the device after the push "
                            f"(first: {remote[bad[0]]})", partial=pushed_bytes)
    _check(device.shell(["chmod", "755", remote[bundle.binary]], timeout=60), "chmod of the binary", device.serial)
    if previous != set(bundle.files):
        with tempfile.TemporaryDirectory() as td:
            local = Path(td) / _REMOTE_INDEX
            local.write_text("".join(f"{rel}\n" for rel in sorted(bundle.files)), encoding="utf-8")
            device.push(local, index)
    return SyncStats(len(todo), pushed_bytes, len(bundle.files) - len(todo), time.monotonic() - start)


# --- run_bundle ----------------------------------------------------------------------------------

def _signal_name(code: int) -> str | None:
    if 128 < code < 128 + 65:
        try:
            return signal.Signals(code - 128).name
        except ValueError:
            return f"signal {code - 128}"
    return None


def _fill(result: RunResult, stdout: str, lenient: bool) -> None:
    """Parse stdout into ``result``; lenient keeps whatever parsed before a problem."""
    try:
        parsed = parse_clas_system(stdout)
    except OutputParseError as e:
        if not lenient:
            raise
        parsed = e.partial
        if parsed is None:
            return
    result.output_format = parsed.format
    result.predictions = list(parsed.images)
    s = parsed.summary
    if s is not None:
        result.latency = s.latency
        result.engine, result.engine_version = s.engine, s.engine_version
        result.threads, result.power_mode, result.warmup, result.repeats = s.threads, s.power_mode, s.warmup, s.repeats
        result.affinity, result.peak_rss_kb = s.affinity, s.peak_rss_kb


def _fail(result: RunResult, err: EdgeclasError) -> EdgeclasError:
    result.error = {"type": type(err).__name__, "message": err.message}
    err.partial = result  # type: ignore[attr-defined]
    return err


def run_bundle(
    device: Device,
    remote_dir: str,
    bundle: Bundle,
    settings: RunSettings | None = None,
) -> RunResult:
    """Run the synced bundle's clas_system over its images; raise a DeviceError subclass on failure.

    Every raised error carries the :class:`RunResult` collected so far (raw stdout/stderr, any
    predictions parsed before the fault) in ``error.partial``. ``settings`` other than the bundle's
    are applied through a separate config file pushed beside the bundle's own.
    """
    remote_dir = _check_remote_dir(remote_dir)
    settings = (settings or bundle.settings).validate()
    config_rel = bundle.config
    if replace(settings, timeout_s=0) != replace(bundle.settings, timeout_s=0):
        from .preprocess import PreprocessConfig

        pre = PreprocessConfig.from_dict(_model_preprocess(bundle))
        text = render_config(bundle.model_file, "labels.txt", pre, bundle.engine, settings)
        config_rel = "config.run.txt"
        with tempfile.TemporaryDirectory() as td:
            local = Path(td) / config_rel
            local.write_text(text, encoding="utf-8")
            device.push(local, posixpath.join(remote_dir, config_rel))

    limit = int(max(1, round(settings.timeout_s)))
    q = shlex.quote
    command = (
        f"cd {q(remote_dir)} && export LD_LIBRARY_PATH={q(posixpath.join(remote_dir, 'lib'))} && "
        f"timeout {limit} ./{q(bundle.binary)} {q(config_rel)} images"
    )
    result = RunResult(device.serial, command, -1, 0.0)
    try:
        r = device.shell(command, timeout=limit + _HOST_GRACE_S)
    except RemoteTimeout as e:
        partial = getattr(e, "partial", None)
        result.exit_code, result.duration_s = 124, limit + _HOST_GRACE_S
        if partial is not None:
            result.stdout, result.stderr = partial.stdout, partial.stderr
        _fill(result, result.stdout, lenient=True)
        raise _fail(result, RemoteTimeout(
            f"{device.serial}: clas_system did not finish within {limit} s (+{_HOST_GRACE_S:.0f} s grace); "
            "the connection was closed so the device kills it")) from None
    result.exit_code, result.duration_s, result.stdout, result.stderr = r.exit_code, r.duration_s, r.stdout, r.stderr
    err_lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    last_err = err_lines[-1].strip() if err_lines else ""
    if r.exit_code == 124:
        _fill(result, r.stdout, lenient=True)
        raise _fail(result, RemoteTimeout(f"{device.serial}: clas_system ran past its {limit} s limit and was killed "
                                          f"after {len(result.predictions)} image result(s)"))
    sig = _signal_name(r.exit_code)
    if sig:
        _fill(result, r.stdout, lenient=True)
        raise _fail(result, RemoteCrash(
            f"{device.serial}: clas_system was killed by {sig} (exit {r.exit_code})"
            + (f"; last stderr line: {last_err[:160]}" if last_err else "")))
    if r.exit_code in (126, 127):
        raise _fail(result, RemoteCommandError(
            f"{device.serial}: cannot execute {bundle.binary} (exit {r.exit_code}): {last_err[:200]}",
            hint="the build does not fit this device: check 'edgeclas devices' (ABI, OS) against the build"))
    if r.exit_code != 0:
        _fill(result, r.stdout, lenient=True)
        errors = [ln.strip() for ln in err_lines if ln.strip().startswith("error")] or err_lines[-3:]
        raise _fail(result, RemoteCommandError(
            f"{device.serial}: clas_system failed (exit {r.exit_code}): {'; '.join(errors)[:300]}",
            hint="its full stdout/stderr are kept in the result file; rerun with --keep to reproduce with 'adb shell'"))
    try:
        _fill(result, r.stdout, lenient=False)
    except OutputParseError as e:
        _fill(result, r.stdout, lenient=True)
        raise _fail(result, OutputParseError(f"{device.serial}: {e.message}")) from None
    missing = [img for img in bundle.images if result.prediction(img) is None]
    if missing:
        raise _fail(result, OutputParseError(
            f"{device.serial}: clas_system reported no result for {len(missing)} of {len(bundle.images)} image(s) "
            f"(first: {missing[0]})"))
    return result


def _model_preprocess(bundle: Bundle) -> dict[str, Any]:
    """Recover the preprocess keys from the bundle's own config.txt (the model dir may have moved)."""
    keys: dict[str, Any] = {}
    for line in (bundle.path / bundle.config).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2 or line.startswith("#"):
            continue
        k, vals = parts[0], parts[1:]
        if k == "resize_short_size":
            keys["resize_short"] = int(vals[0])
        elif k == "crop_size":
            keys["crop_size"] = int(vals[0])
        elif k in ("mean", "std"):
            keys[k] = [float(v) for v in vals]
        elif k == "scale":
            keys["scale"] = float(vals[0])
        elif k == "channel_order":
            keys["channel_order"] = vals[0]
    return keys


# --- deploy --------------------------------------------------------------------------------------

def _check_build_fits(build_dir: Path, info: DeviceInfo) -> None:
    bm = read_manifest(build_dir, "build")
    target = bm.get("target") or {}
    abi, os_name = str(target.get("abi", "")), str(target.get("os", ""))
    if abi not in info.abilist:
        raise ConfigError(
            f"{build_dir}: built for {abi or '(unknown ABI)'} but device {info.serial} runs "
            f"{', '.join(info.abilist) or '(no ABI reported)'}",
            hint=f"omit --build to use/build the right one, or: edgeclas build --arch {info.build_arch or 'armv8'} "
            f"--os {info.os}",
        )
    if os_name and os_name != info.os:
        raise ConfigError(
            f"{build_dir}: built for {os_name} but device {info.serial} needs {info.os} binaries",
            hint=f"edgeclas build --arch {info.build_arch} --os {info.os}  (or pass --os if the device is misdetected)",
        )


def _summarise_bundle(bundle: Bundle) -> dict[str, Any]:
    return {
        "path": str(bundle.path.resolve()),
        "engine": {"name": bundle.engine, "version": bundle.engine_version},
        "target": bundle.target,
        "files": bundle.files,
        "bytes": bundle.size_bytes,
        "settings": asdict(bundle.settings),
        "image_sources": bundle.image_sources,
    }


def deploy(
    device_serial: str | None,
    model_dir: str | os.PathLike[str],
    images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    build_dir: str | os.PathLike[str] | None = None,
    settings: RunSettings | None = None,
    remote_dir: str = DEFAULT_REMOTE_DIR,
    keep: bool = False,
    out: str | os.PathLike[str] | None = None,
    *,
    engine: str | None = None,
    os_name: str | None = None,
    adb_server: str | None = None,
    bundle_dir: str | os.PathLike[str] | None = None,
    lock_timeout_s: float = 600.0,
) -> DeployResult:
    """Select → pick/build → bundle → sync → run → write result JSON → clean up (see module doc).

    On a failure after the device was reached, the result JSON is still written (status "error",
    the raw output and whatever was collected) before the error is raised again. The device is
    held with the same inter-process lock ``edgeclas bench`` uses, so the two never share a phone.
    """
    from .device.lock import device_lock
    from .build import device_target, locate
    from .device import AdbServer, select_device
    from .model_dir import ModelDir

    settings = (settings or RunSettings()).validate()
    remote_dir = _check_remote_dir(remote_dir)
    if engine is not None and engine not in targets.model_engine_names():
        raise ConfigError(f"engine '{engine}' is not one of {', '.join(targets.model_engine_names())}")
    model = ModelDir.load(model_dir)
    device = select_device(device_serial, AdbServer.resolve(adb_server))
    info = device.info()
    if os_name:
        info = replace(info, os=os_name)

    if build_dir is not None:
        build_path = Path(build_dir)
        _check_build_fits(build_path, info)
    else:
        build_path = locate(device_target(info), engine or targets.default_engine_for_model(model.formats, info.os))

    bundle = make_bundle(build_path, model.path, images, settings, bundle_dir)
    result_path = Path(out) if out else bundle.path.with_name(bundle.path.name + ".result.json")
    record: dict[str, Any] = {
        "kind": "deploy_result",
        "schema": 1,
        "created": utc_now(),
        "status": "running",
        "device": info.to_dict(),
        "model": {"path": str(model.path.resolve()), "name": model.name},
        "build": str(build_path.resolve()),
        "bundle": _summarise_bundle(bundle),
        "remote_dir": remote_dir,
        "sync": None,
        "run": None,
        "error": None,
    }
    stats: SyncStats | None = None
    cleaned = False
    with device_lock(device.serial, lock_timeout_s):
        try:
            stats = sync_bundle(device, bundle, remote_dir)
            record["sync"] = asdict(stats)
            run = run_bundle(device, remote_dir, bundle, settings)
            record["run"] = run.to_dict()
            record["status"] = "ok"
        except EdgeclasError as e:
            partial = getattr(e, "partial", None)
            if isinstance(partial, RunResult):
                record["run"] = partial.to_dict()
            record["status"] = "error"
            record["error"] = {"type": type(e).__name__, "message": e.message, "hint": e.hint}
            e.hint = f"{e.hint + '; ' if e.hint else ''}what was collected, raw output included: {result_path}"
            raise
        finally:
            if not keep:
                cleaned = _cleanup(device, remote_dir)
            record["cleaned"] = cleaned
            atomic_write_json(result_path, record)
    return DeployResult(info, bundle, stats, run, remote_dir, cleaned, result_path)


def _cleanup(device: Device, remote_dir: str) -> bool:
    try:
        return device.shell(["rm", "-rf", remote_dir], timeout=60).exit_code == 0
    except EdgeclasError:
        return False  # the device is gone; nothing more to clean
