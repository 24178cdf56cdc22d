from __future__ import annotations

from pathlib import Path

import pytest

from edgeclas.bench.accuracy import compare_probs
from edgeclas.bench.session import BuildCache
from edgeclas.errors import ConfigError, IntegrityError, ValidationError
from edgeclas.manifest import write_manifest
from edgeclas.targets import target

ARMV8_LINUX = target("armv8", "linux")


def _build(d: Path, abi: str = "arm64-v8a", os_name: str = "linux", engine: str = "onnxruntime") -> Path:
    (d / "bin").mkdir(parents=True)
    (d / "bin" / "clas_system").write_bytes(b"\x7fELF" + abi.encode())
    write_manifest(d, "build", {"target": {"os": os_name, "arch": "armv8", "abi": abi},
                                "engine": {"name": engine, "version": "1.32.0"}, "binary": "bin/clas_system"},
                   files=["bin/clas_system"])
    return d


def test_build_cache_picks_the_fitting_build_once(tmp_path):
    v7 = _build(tmp_path / "v7", abi="armeabi-v7a")
    android = _build(tmp_path / "android", os_name="android")
    lite = _build(tmp_path / "lite", engine="lite")
    good = _build(tmp_path / "good")
    cache = BuildCache(tmp_path / "root", [v7, android, lite, good], allow_build=False)
    assert cache.get(ARMV8_LINUX, "onnxruntime") == good
    assert cache.get(ARMV8_LINUX, "lite") == lite
    (good / "bin" / "clas_system").write_bytes(b"tampered")
    assert cache.get(ARMV8_LINUX, "onnxruntime") == good  # found once per run, not re-checked
    with pytest.raises(IntegrityError) as e:  # the named build is damaged: said, not passed over
        BuildCache(tmp_path / "root", [good], allow_build=False).get(ARMV8_LINUX, "onnxruntime")
    assert e.value.message.startswith(f"{good / 'bin' / 'clas_system'}: truncated")
    assert "edgeclas build --arch armv8 --os linux --engine onnxruntime" in e.value.hint
    assert BuildCache(tmp_path / "root", [good], allow_build=False, verify=False).get(ARMV8_LINUX, "onnxruntime") == good
    with pytest.raises(ConfigError, match="no onnxruntime build for linux/arm64-v8a"):
        BuildCache(tmp_path / "root", [v7], allow_build=False).get(ARMV8_LINUX, "onnxruntime")


def test_build_cache_uses_the_default_location(tmp_path):
    root = tmp_path / "build"
    d = _build(root / "linux-armv8-onnxruntime")
    assert BuildCache(root, [], allow_build=False).get(ARMV8_LINUX, "onnxruntime") == d


def test_accuracy_flags_a_wrong_device_and_missing_images():
    ref = {"a.png": [0.9, 0.1], "b.png": [0.3, 0.7]}
    same = compare_probs({"a.png": [0.9, 0.1], "b.png": [0.3000001, 0.6999999]}, ref)
    assert same["top1_agreement"] == 1.0 and same["max_abs_dprob"] == pytest.approx(1e-7, rel=1e-3)
    wrong = compare_probs({"a.png": [0.9, 0.1], "b.png": [0.8, 0.2]}, ref)
    assert wrong["top1_agreement"] == 0.5 and wrong["mismatched"] == ["b.png"]
    assert wrong["max_abs_dprob"] == pytest.approx(0.5)
    with pytest.raises(ValidationError, match="no prediction for 1 image"):
        compare_probs({"a.png": [0.9, 0.1]}, ref)
    with pytest.raises(ValidationError, match="device gave 3 class probabilities, the host reference 2"):
        compare_probs({"a.png": [0.9, 0.1, 0.0], "b.png": [0.3, 0.7]}, ref)
