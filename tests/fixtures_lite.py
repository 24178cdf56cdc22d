"""Fixtures for the Paddle Lite tests: the compat runtime, set up as a user would, and tiny legacy models.

``lite_runtime`` (session): runs ``edgeclas sdk install lite-opt`` (idempotent: the runtime is cached
in the edgeclas cache; the first run fetches ~50 MB from PyPI) and returns the compat Route.

``tiny_lite_models`` (session): ``{"reshape"|"flatten"|"flatten_inner"|"zeros": dir}``: model
directories (``kind: "model"``, legacy format only) of a seeded conv → BN → ReLU → pool → head →
softmax net at 32²: the head is ``paddle.reshape`` (what edgeclas' models use), ``nn.Flatten()`` (the
op that crashes opt for x86; edgeclas rewrites it), ``nn.Flatten(2)`` (not rewritable: refused), or a
reshape head whose output is multiplied by zero (what a broken runtime returns). Saved by a child process with ``FLAGS_enable_pir_api=0`` (FINDINGS).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["lite_runtime", "tiny_lite_models", "make_tiny_models"]

_CHILD = r"""
import sys
import paddle

class Net(paddle.nn.Layer):
    def __init__(self, head):
        super().__init__()
        self.head = head
        self.conv = paddle.nn.Conv2D(3, 8, 3, stride=2, padding=1)
        self.bn = paddle.nn.BatchNorm2D(8)
        self.pool = paddle.nn.AdaptiveAvgPool2D(1)
        self.flatten = {"flatten": paddle.nn.Flatten(), "flatten_inner": paddle.nn.Flatten(2)}.get(head)
        self.fc = paddle.nn.Linear(8, 4)

    def forward(self, x):
        x = self.pool(paddle.nn.functional.relu(self.bn(self.conv(x))))
        if self.head == "flatten":
            x = self.flatten(x)
        else:  # flatten_inner leaves [N, 8, 1]: the reshape finishes the job
            x = paddle.reshape(self.flatten(x) if self.flatten is not None else x, [-1, 8])
        probs = paddle.nn.functional.softmax(self.fc(x) * 4.0, axis=-1)
        return probs * 0.0 if self.head == "zeros" else probs

for head, prefix in zip(sys.argv[1::2], sys.argv[2::2]):
    paddle.seed(7)
    net = Net(head)
    net.eval()
    paddle.jit.save(net, prefix, input_spec=[paddle.static.InputSpec([None, 3, 32, 32], "float32", "x")])
"""


def make_tiny_models(root: Path) -> dict[str, Path]:
    from edgeclas.manifest import write_manifest
    from edgeclas.preprocess import PreprocessConfig

    dirs = {head: root / f"tiny_{head}" for head in ("reshape", "flatten", "flatten_inner", "zeros")}
    args = []
    for head, d in dirs.items():
        args += [head, str(d / "legacy" / "inference")]
    env = dict(os.environ, FLAGS_enable_pir_api="0", CUDA_VISIBLE_DEVICES="")
    script = root / "make_tiny_models.py"  # paddle.jit traces forward() from its source file
    script.write_text(_CHILD)
    res = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    labels = ["a", "b", "c", "d"]
    for head, d in dirs.items():
        (d / "labels.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(labels)))
        write_manifest(d, "model", {
            "model": {"name": f"tiny_{head}", "arch": f"tiny-{head}", "class_num": 4, "input_size": [3, 32, 32]},
            "preprocess": PreprocessConfig(resize_short=36, crop_size=32).to_dict(),
            "labels": labels,
            "labels_file": "labels.txt",
            "formats": {"legacy": {"model": "legacy/inference.pdmodel", "params": "legacy/inference.pdiparams"}},
        }, files=["legacy/inference.pdmodel", "legacy/inference.pdiparams", "labels.txt"])
    return dirs


@pytest.fixture(scope="session")
def lite_runtime():
    from edgeclas.lite.runtime import compat_route

    exe = Path(sys.executable).with_name("edgeclas")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-c", "from edgeclas.cli import main; main()"]
    res = subprocess.run([*cmd, "sdk", "install", "lite-opt"], capture_output=True, text=True, timeout=1200)
    route = compat_route()
    if res.returncode != 0 or route is None:
        pytest.fail(f"edgeclas sdk install lite-opt failed (exit {res.returncode}): {res.stderr.strip()[-1500:]}")
    return route


@pytest.fixture(scope="session")
def tiny_lite_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_tiny_models(tmp_path_factory.mktemp("lite-models"))
