"""Host C++ `clas_system` (ONNX Runtime, 2 threads) vs the Python pipeline, on the same images and model.

    .venv/bin/python benchmarks/bench_native.py [--model MODEL_DIR] [--images N] [--rounds 3] [--build OUT]

* full pipeline images/s: `clas_system CONFIG DIR` for the whole process (start-up, model load, decode,
  preprocess, inference, top-k, JSON output) vs the Python pipeline in-process (session creation, cv2
  decode, edgeclas.preprocess, ORT with 2 intra-op threads, top-k) — interpreter start-up and imports are
  NOT charged to Python, so the ratio is conservative for C++. Three rows: wall clock; per CPU second
  (the fair number on a loaded machine: wall time there mostly measures waiting for a core); and the
  stages after decode (clas_system's own per-image timings vs the same stages timed in Python);
* preprocessing ms/image: the C++ path through `edgeclas._native.preprocess` vs `edgeclas.preprocess.preprocess`
  on the same decoded pixels, at the model's resize/crop and at 256/224.

MODEL_DIR is an exported model directory (manifest + model.onnx); default: the test model cached by
tests/fixtures_model.py (.cache/test-model), built the same way when absent. Images: scikit-image's photographs (PNG and JPEG, real sizes),
repeated up to N. The host build comes from `edgeclas build --arch host --python` (cached, incremental).
Prints the median of --rounds per row and the ratios side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import median_time  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "brick.png")


def _default_model(work: Path) -> Path:
    """The test model cached by tests/fixtures_model.py, or a fresh one built the same way (~1 min)."""
    found = sorted((ROOT / ".cache" / "test-model").glob("*/model/manifest.json"), key=lambda p: p.stat().st_mtime)
    if found:
        return found[-1].parent
    sys.path.insert(0, str(ROOT / "tests"))
    from fixtures_model import build_test_model

    print("no cached test model: training the small demo model first", file=sys.stderr)
    return build_test_model(work / "model-build")


def _load_native(path: Path):
    spec = importlib.util.spec_from_file_location("edgeclas._native", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--images", type=int, default=48, help="number of images (photos repeated)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build", type=Path, help="output dir of the host build (default: a temp dir)")
    args = ap.parse_args()

    import numpy as np
    import onnxruntime as ort
    import skimage

    from edgeclas.build import build
    from edgeclas.preprocess import PreprocessConfig, decode_image, list_images, preprocess

    work = Path(tempfile.mkdtemp(prefix="bench-native-"))
    try:
        model_dir = args.model or _default_model(work)
        manifest = json.loads((model_dir / "manifest.json").read_text())
        pre = PreprocessConfig.from_dict(manifest["preprocess"])
        onnx_file = model_dir / manifest["formats"]["onnx"]["file"]
        out = args.build or work / "build"
        b = build(arch="host", os_="linux", engine="onnxruntime", out=out, python=True, jobs=2)
        native = _load_native(b.python_module)

        img_dir = work / "images"
        img_dir.mkdir()
        for i in range(args.images):
            name = PHOTOS[i % len(PHOTOS)]
            shutil.copy(Path(skimage.data_dir) / name, img_dir / f"{i:03d}_{name}")
        images = list_images(img_dir)
        cfg = work / "config.txt"
        cfg.write_text("".join(f"{k} {v}\n" for k, v in {
            "clas_model_file": onnx_file, "resize_short_size": pre.resize_short, "crop_size": pre.crop_size,
            "mean": " ".join(map(str, pre.mean)), "std": " ".join(map(str, pre.std)), "scale": repr(pre.scale),
            "channel_order": pre.channel_order, "num_threads": 2, "power_mode": 3, "topk": 5, "output": "json",
        }.items()))

        # Per round: (wall s, CPU s, s spent after decode: preprocess + inference + top-k).
        def run_cpp() -> tuple[float, float, float]:
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            r = subprocess.run(b.command(cfg, img_dir), env=b.env(), capture_output=True, text=True)
            wall = time.perf_counter() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if r.returncode != 0:
                raise SystemExit(f"clas_system failed: {r.stderr[-2000:]}")
            rows = [json.loads(x) for x in r.stdout.splitlines()]
            after = sum(sum(d["timing_ms"].values()) for d in rows if d["type"] == "image") / 1e3
            return wall, (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime), after

        def run_python() -> tuple[float, float, float]:
            t0, c0 = time.perf_counter(), time.process_time()
            so = ort.SessionOptions()
            so.intra_op_num_threads = 2
            so.inter_op_num_threads = 1
            sess = ort.InferenceSession(str(onnx_file), so, providers=["CPUExecutionProvider"])
            name = sess.get_inputs()[0].name
            after = 0.0
            for p in images:
                img = decode_image(p)
                t1 = time.perf_counter()
                probs = sess.run(None, {name: preprocess(img, pre)[None]})[0][0]
                np.argsort(-probs)[:5]
                after += time.perf_counter() - t1
            return time.perf_counter() - t0, time.process_time() - c0, after

        run_cpp(), run_python()  # warm the page cache and both code paths once
        cpp = [statistics.median(x) for x in zip(*(run_cpp() for _ in range(args.rounds)))]
        py = [statistics.median(x) for x in zip(*(run_python() for _ in range(args.rounds)))]
        n = len(images)

        print(f"model {model_dir.name}: input {pre.crop_size}x{pre.crop_size}, {n} images, ORT 2 threads, "
              f"median of {args.rounds}")
        print(f"{'full pipeline, images/s':<40}{'C++':>10}{'Python':>10}{'C++/Python':>12}")
        for label, i in (("wall clock (whole process for C++)", 0), ("per CPU second (all threads)", 1),
                         ("after decode (preprocess+infer+top-k)", 2)):
            print(f"{label:<40}{n / cpp[i]:>10.1f}{n / py[i]:>10.1f}{py[i] / cpp[i]:>11.2f}x")

        print(f"\n{'preprocessing (same pixels)':<34}{'C++ ms':>12}{'Python ms':>14}{'speed-up':>12}")
        decoded = [decode_image(img_dir / f"{i:03d}_{name}") for i, name in enumerate(PHOTOS)]
        for rs, cs in ((pre.resize_short, pre.crop_size), (256, 224)):
            c = PreprocessConfig(resize_short=rs, crop_size=cs, mean=pre.mean, std=pre.std, scale=pre.scale,
                                 channel_order=pre.channel_order)
            reps = 20

            def cpp_pre() -> None:
                for _ in range(reps):
                    for a in decoded:
                        native.preprocess(a, rs, cs, list(c.mean), list(c.std), c.scale, c.channel_order)

            def py_pre() -> None:
                for _ in range(reps):
                    for a in decoded:
                        preprocess(a, c)

            per = reps * len(decoded)
            ms_cpp = median_time(cpp_pre, args.rounds) / per * 1e3
            ms_py = median_time(py_pre, args.rounds) / per * 1e3
            print(f"{f'resize {rs} / crop {cs}':<34}{ms_cpp:>12.3f}{ms_py:>14.3f}{ms_py / ms_cpp:>11.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
