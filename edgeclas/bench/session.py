"""The real per-device session of ``edgeclas bench``: builds, bundles and runs through :mod:`edgeclas.deploy`.

Per device: the device info is read once; for each (model, engine) a bundle is made once (binary,
libs, model, the benchmark images) and synced once (unchanged files are not pushed again); each
cell then runs that bundle with its own settings (threads, power mode, warm-up, repeats). Builds
are shared by every device with the same (OS, arch, engine): found in ``--build`` dirs or under
the builds root, else built once with :func:`edgeclas.build.build`.
"""

from __future__ import annotations

import posixpath
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import DeviceError, EdgeclasError
from ..fsutil import safe_name
from ..manifest import read_manifest
from ..targets import Target
from .accuracy import compare_probs, reference_probs
from .matrix import Cell
from ..stats import compute

__all__ = ["BuildCache", "ReferenceCache", "DeploySession"]

REMOTE_ROOT = "/data/local/tmp/edgeclas-bench"


@dataclass
class BuildCache:
    """Device builds by (target, engine), found or made once per run with :func:`edgeclas.build.locate`
    (given dirs first, then ``root/<os>-<arch>-<engine>``, else built there when allowed)."""

    root: Path
    given: Sequence[Path] = ()
    allow_build: bool = True
    verify: bool = True  # a given build whose files differ from its manifest is an error (False: used as is)
    _found: dict[tuple[Target, str], Path] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, t: Target, engine: str) -> Path:
        from ..build import locate

        with self._lock:  # two devices of one ABI wait for one build instead of building twice
            if (t, engine) not in self._found:
                self._found[(t, engine)] = locate(t, engine, given=self.given, root=self.root,
                                                  allow_build=self.allow_build, verify=self.verify)
            return self._found[(t, engine)]


class ReferenceCache:
    """Host reference probabilities per (model dir, image), computed once per model for all devices."""

    def __init__(self, engine: str = "paddle", *, verify: bool = True) -> None:
        self.engine = engine
        self.verify = verify
        self._probs: dict[str, dict[str, list[float]]] = {}
        self._lock = threading.Lock()

    def get(self, model_dir: str, images: Sequence[Path]) -> dict[str, list[float]]:
        with self._lock:
            if model_dir not in self._probs:
                probs = reference_probs(model_dir, images, self.engine, verify=self.verify)
                self._probs[model_dir] = {str(Path(p).resolve()): list(map(float, row)) for p, row in zip(images, probs)}
            return self._probs[model_dir]


class DeploySession:
    """One device for one bench run (see module doc). Created by the runner's worker thread."""

    def __init__(
        self,
        serial: str,
        *,
        images: Sequence[Path],
        work_dir: Path,
        builds: BuildCache,
        references: ReferenceCache | None,
        adb_server: str | None = None,
        os_name: str | None = None,
        timeout_s: float = 600.0,
        keep: bool = False,
        verify: bool = True,
    ) -> None:
        from ..device import AdbDevice, AdbServer

        self.serial = serial
        self.images = list(images)
        self.work_dir = work_dir
        self.builds = builds
        self.references = references
        self.timeout_s = timeout_s
        self.keep = keep
        self.verify = verify
        self.device = AdbDevice(serial, AdbServer.resolve(adb_server))
        self.info = self.device.info()
        self.os = os_name or self.info.os
        self.remote_root = posixpath.join(REMOTE_ROOT, safe_name(serial))
        self._bundles: dict[tuple[str, str], Any] = {}

    def identity(self) -> str:
        return self.info.identity

    def environment(self) -> dict[str, Any]:
        info = self.info
        kernel = None
        try:
            r = self.device.shell(["uname", "-r"], timeout=30)
            kernel = r.stdout.strip() or None if r.exit_code == 0 else None
        except EdgeclasError:
            pass  # the kernel version is nice to have; the cells will say if the device is gone
        clusters = sorted(info.clusters, key=lambda c: -c.max_freq_khz)
        return {
            "serial": info.serial,
            "model": info.model or None,
            "manufacturer": info.manufacturer or None,
            "soc": info.soc or info.board or None,
            "abi": info.abi or None,
            "android_version": info.android_version or None,
            "sdk": info.sdk or None,
            "kernel": kernel,
            "cpu_clusters": [
                {"name": c.role, "cores": list(c.cpus), "max_freq_khz": c.max_freq_khz or None} for c in clusters
            ],
        }

    def _bundle(self, cell: Cell) -> tuple[Any, str]:
        from ..deploy import make_bundle, sync_bundle

        from ..build import device_target

        key = (cell.model.dir, cell.engine)
        if key not in self._bundles:
            build_dir = self.builds.get(device_target(self.info, self.os), cell.engine)
            out = self.work_dir / "bundles" / safe_name(self.serial) / f"{safe_name(cell.model.name)}-{cell.engine}"
            bundle = make_bundle(build_dir, cell.model.dir, self.images, out_dir=out, verify=self.verify)
            remote = posixpath.join(self.remote_root, f"{safe_name(cell.model.name)}-{cell.engine}")
            sync_bundle(self.device, bundle, remote)
            self._bundles[key] = (bundle, remote)
        return self._bundles[key]

    def run_cell(self, cell: Cell) -> dict[str, Any]:
        from ..deploy import RunSettings, run_bundle

        bundle, remote = self._bundle(cell)
        settings = RunSettings(threads=cell.threads, power_mode=cell.power_mode, warmup=cell.warmup,
                               repeats=cell.repeats, topk=1, timeout_s=self.timeout_s)
        res = run_bundle(self.device, remote, bundle, settings)
        lat = res.latency
        if lat is None or not lat.samples:
            raise DeviceError(f"{self.serial}: clas_system printed no latency samples",
                              hint="the binary is older than this edgeclas: rebuild it (edgeclas build)")
        stats = compute(lat.samples)
        build_m = read_manifest(bundle.path, "bundle")["inputs"]["build"]
        bm = read_manifest(build_m["path"], "build")
        measured: dict[str, Any] = {
            "build": {
                "dir": build_m["path"],
                "os": bundle.target.get("os"),
                "abi": bundle.target.get("abi"),
                "engine": bundle.engine,
                "engine_version": res.engine_version or bundle.engine_version or None,
                "compiler": bm.get("compiler"),
                "binary_sha256": bundle.files.get(bundle.binary),
            },
            "latency_ms": {"init": lat.init, "first": lat.first, **stats.to_dict(), "samples": list(lat.samples)},
            "peak_rss_kb": res.peak_rss_kb,
            "affinity": self._affinity(res.affinity),
        }
        if self.references is not None:
            measured["accuracy"] = self._accuracy(cell, bundle, res)
        return measured

    def _affinity(self, aff: dict[str, Any] | None) -> dict[str, Any] | None:
        if not aff:
            return None
        cores = [int(c) for c in aff.get("cpus") or []]
        applied = bool(aff.get("applied"))
        names = [c.role for c in self.info.clusters if applied and set(c.cpus) & set(cores)]
        return {"cores": cores if applied else [], "clusters": names, "applied": applied,
                "note": str(aff["note"]) if aff.get("note") else None}

    def _accuracy(self, cell: Cell, bundle: Any, res: Any) -> dict[str, Any]:
        assert self.references is not None
        ref_by_host = self.references.get(cell.model.dir, self.images)
        reference, device = {}, {}
        for rel in bundle.images:
            host = str(Path(bundle.image_sources[rel]).resolve())
            reference[rel] = ref_by_host[host]
            pred = res.prediction(rel)
            if pred is not None and pred.probs is not None:
                device[rel] = pred.probs
        return compare_probs(device, reference, self.references.engine)

    def close(self) -> None:
        if self.keep:
            return
        try:
            self.device.shell(["rm", "-rf", self.remote_root], timeout=60)
        except EdgeclasError:
            pass  # the device went away; nothing left to clean

