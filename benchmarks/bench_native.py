"""Host C++ `clas_system` (ONNX Runtime, 2 threads) vs the Python pipeline, on the same images and models.

    .venv/bin/python benchmarks/bench_native.py [--model MODEL_DIR] [--images N] [--rounds 5] [--build OUT]
                                                [--skip-x1]

Two models, printed one after the other:
* the demo model (MODEL_DIR; default: the test model cached by tests/fixtures_model.py, built the same way
  when absent) on scikit-image's photographs as they ship (PNG, one JPEG), repeated up to N, and on the same
  photographs saved as JPEG (quality 90);
* PP-LCNet x1.0 at 224² (1000 classes, random weights: speed does not depend on them, but its probabilities
  are near-uniform, so accuracy is judged on the demo model; exported and converted once into
  .cache/bench-pplcnet-x1_0) on the JPEGs, and on --phone-images JPEGs upscaled to 12 MP (4032x3024), the
  size a phone camera writes, where decoding dominates.

Per model, C++ / Python / ratio:
* full pipeline images/s: `clas_system CONFIG DIR` for the whole process (start-up, model load, decode,
  preprocess, inference, top-k, JSON output) vs two Python pipelines in-process: a loop over the images
  (session creation, cv2 decode, edgeclas.preprocess, ORT with 2 intra-op threads, top-k) and
  `edgeclas.predict` as `edgeclas predict --engine onnxruntime --threads 2` runs it (batches of 8) — the
  ratio is taken against the faster of the two; interpreter start-up and imports are NOT charged to
  Python, so the ratio is conservative for C++ (one row, "both CLIs", times the whole `edgeclas predict`
  process against the whole clas_system one: what a user waits for). Rows: wall clock; per CPU second (the fair
  number on a loaded machine: wall time there mostly measures waiting for a core); the stages after decode;
  clas_system with `concurrent_images 2` and 1 thread per inference (the same 2 cores: two images in
  flight, the first ones decoded while the model loads; its latency samples overlap, so it is a throughput
  mode, not bench's), alone and with `batch_size 4` (each worker infers 4 images at a time, as
  `edgeclas predict` does 8); and clas_system with `jpeg_dct_scaling 1` (JPEGs decoded at 1/2..1/8 size in
  the DCT domain);
* DCT scaling vs cv2's full decode (JPEG sets): max and mean |Δ| of the network input, max |Δprob| and top-1
  agreement against the Python pipeline;
* preprocessing ms/image: `edgeclas._native.preprocess` vs `edgeclas.preprocess.preprocess` on the same pixels.

Medians of --rounds; a round runs every variant once, one after the other, so a neighbour that slows the
machine for a while slows all of them alike instead of one variant's rounds. The host build comes from `edgeclas build --arch host --python` (cached, incremental).
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
X1_DIR = ROOT / ".cache" / "bench-pplcnet-x1_0"


def _default_model(work: Path) -> Path:
    """The test model cached by tests/fixtures_model.py, or a fresh one built the same way (~1 min)."""
    found = sorted((ROOT / ".cache" / "test-model").glob("*/model/manifest.json"), key=lambda p: p.stat().st_mtime)
    if found:
        return found[-1].parent
    sys.path.insert(0, str(ROOT / "tests"))
    from fixtures_model import build_test_model

    print("no cached test model: training the small demo model first", file=sys.stderr)
    return build_test_model(work / "model-build")


def _x1_model() -> Path:
    """PP-LCNet x1.0, 224², 1000 classes, random weights: checkpoint → export (PIR) → ONNX, cached."""
    model = X1_DIR / "model"
    if (model / "manifest.json").is_file() and (model / "model.onnx").is_file():
        return model
    import paddle

    from edgeclas.export import export
    from edgeclas.models import build_model
    from edgeclas.onnx_convert import convert_onnx
    from edgeclas.preprocess import PreprocessConfig
    from edgeclas.train.checkpoint import save_checkpoint

    print("exporting PP-LCNet x1.0 (224², random weights) once into", X1_DIR, file=sys.stderr)
    shutil.rmtree(X1_DIR, ignore_errors=True)
    paddle.seed(0)
    net = build_model("PPLCNet_x1_0", class_num=1000)
    net.eval()
    opt = paddle.optimizer.SGD(parameters=net.parameters())
    body = {"model": {"arch": "PPLCNet_x1_0", "class_num": 1000, "input_size": [3, 224, 224], "arch_kwargs": {}},
            "preprocess": PreprocessConfig(resize_short=256, crop_size=224).to_dict(),
            "labels": [f"class{i}" for i in range(1000)]}
    save_checkpoint(X1_DIR / "ckpt", net, opt, body)
    export(X1_DIR / "ckpt", model, formats=("pir",), name="pplcnet_x1_0")
    convert_onnx(model)
    return model


def _load_native(path: Path):
    spec = importlib.util.spec_from_file_location("edgeclas._native", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _images(folder: Path, count: int, as_jpeg: bool, phone: bool = False) -> Path:
    """The photographs repeated up to ``count``: as shipped, as JPEG q90, or as 12 MP (4032x3024) JPEGs."""
    import cv2
    import skimage

    folder.mkdir()
    for i in range(count):
        name = PHOTOS[i % len(PHOTOS)]
        src = Path(skimage.data_dir) / name
        if as_jpeg:
            img = cv2.imread(str(src), cv2.IMREAD_COLOR)
            if phone:  # a phone camera's pixel count (the content is upscaled: decode cost, not detail)
                h, w = img.shape[:2]
                img = cv2.resize(img, (4032, 3024) if w >= h else (3024, 4032), interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(folder / f"{i:03d}_{Path(name).stem}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        else:
            shutil.copy(src, folder / f"{i:03d}_{name}")
    return folder


def bench_model(label: str, model_dir: Path, img_dir: Path, b, native, rounds: int, work: Path) -> None:
    import numpy as np
    import onnxruntime as ort

    from edgeclas.predict import predict
    from edgeclas.preprocess import PreprocessConfig, decode_image, preprocess

    manifest = json.loads((model_dir / "manifest.json").read_text())
    pre = PreprocessConfig.from_dict(manifest["preprocess"])
    onnx_file = model_dir / manifest["formats"]["onnx"]["file"]
    images = sorted(img_dir.iterdir())
    jpeg_set = all(p.suffix == ".jpg" for p in images)

    def config(dct: bool, concurrent: int = 1, batch: int = 1) -> Path:
        cfg = work / f"config-{label}-{int(dct)}-{concurrent}-{batch}.txt"
        cfg.write_text("".join(f"{k} {v}\n" for k, v in {
            "clas_model_file": onnx_file, "resize_short_size": pre.resize_short, "crop_size": pre.crop_size,
            "mean": " ".join(map(str, pre.mean)), "std": " ".join(map(str, pre.std)), "scale": repr(pre.scale),
            "channel_order": pre.channel_order, "num_threads": 2 // concurrent, "power_mode": 3, "topk": 5,
            "output": "json", "jpeg_dct_scaling": int(dct), "concurrent_images": concurrent, "batch_size": batch,
        }.items()))
        return cfg

    # Per round: (wall s, CPU s, s spent after decode: preprocess + inference + top-k), and the probabilities.
    def run_cpp(dct: bool, concurrent: int = 1, batch: int = 1) -> tuple[tuple[float, float, float],
                                                                         dict[str, list[float]]]:
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(b.command(config(dct, concurrent, batch), img_dir), env=b.env(), capture_output=True,
                           text=True)
        wall = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode != 0:
            raise SystemExit(f"clas_system failed: {r.stderr[-2000:]}")
        rows = [json.loads(x) for x in r.stdout.splitlines()]
        after = sum(sum(d["timing_ms"].values()) for d in rows if d["type"] == "image") / 1e3
        probs = {Path(d["image"]).name: d["probs"] for d in rows if d["type"] == "image"}
        return (wall, (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime), after), probs

    def run_python() -> tuple[tuple[float, float, float], dict[str, list[float]]]:
        t0, c0 = time.perf_counter(), time.process_time()
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(onnx_file), so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        after = 0.0
        out = {}
        for p in images:
            img = decode_image(p)
            t1 = time.perf_counter()
            probs = sess.run(None, {name: preprocess(img, pre)[None]})[0][0]
            np.argsort(-probs)[:5]
            after += time.perf_counter() - t1
            out[p.name] = probs
        return (time.perf_counter() - t0, time.process_time() - c0, after), out

    def run_predict() -> tuple[tuple[float, float, float], dict[str, list[float]]]:
        # edgeclas's own Python pipeline as `edgeclas predict --engine onnxruntime --threads 2` runs it
        # (batches of 8; the manifest check is left out: clas_system has none to match it).
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in predict(model_dir, img_dir, engine="onnxruntime", batch_size=8, threads=2, verify=False):
            pass
        return (time.perf_counter() - t0, time.process_time() - c0, float("nan")), {}

    def run_predict_cli() -> float:
        # The whole `edgeclas predict` process, interpreter start-up and imports included: what a user waits for.
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("edgeclas")), "predict", str(model_dir), "-i", str(img_dir), "--engine",
                        "onnxruntime", "--threads", "2", "--no-verify"], check=True, capture_output=True)
        return time.perf_counter() - t0

    run_cpp(False), run_cpp(False, 2), run_python(), run_predict()  # warm the page cache and every code path once
    cpp_runs, conc_runs, batch_runs, py_runs, pred_runs, dct_runs, cli_runs = [], [], [], [], [], [], []
    for _ in range(rounds):  # interleaved: see the module's docstring
        cpp_runs.append(run_cpp(False))
        py_runs.append(run_python())
        conc_runs.append(run_cpp(False, 2))
        pred_runs.append(run_predict())
        batch_runs.append(run_cpp(False, 2, 4))
        cli_runs.append(run_predict_cli())
        if jpeg_set:
            dct_runs.append(run_cpp(True))
    cpp = [statistics.median(x) for x in zip(*(r[0] for r in cpp_runs))]
    py = [statistics.median(x) for x in zip(*(r[0] for r in py_runs))]
    pred = [statistics.median(x) for x in zip(*(r[0] for r in pred_runs))]
    n = len(images)
    kinds = ", ".join(sorted({p.suffix for p in images}))
    print(f"\n== {label}: {manifest['model'].get('arch', '?')}, input {pre.crop_size}x{pre.crop_size}, "
          f"{n} images ({kinds}), ORT 2 threads, median of {rounds}")
    print("   Python loop: one image at a time; predict: edgeclas.predict, batches of 8; the ratio is C++ over the "
          "faster Python")
    print(f"{'full pipeline, images/s':<44}{'C++':>10}{'Py loop':>10}{'predict':>10}{'C++/Python':>12}")

    def row(text: str, c: float, i: int) -> None:
        best = min(py[i], pred[i]) if i < 2 else py[i]
        p8 = f"{n / pred[i]:>10.1f}" if i < 2 else f"{'-':>10}"
        print(f"{text:<44}{n / c:>10.1f}{n / py[i]:>10.1f}{p8}{best / c:>11.2f}x")

    for text, i in (("wall clock (whole process for C++)", 0), ("per CPU second (all threads)", 1),
                    ("after decode (preprocess+infer+top-k)", 2)):
        row(text, cpp[i], i)
    conc = [statistics.median(x) for x in zip(*(r[0] for r in conc_runs))]
    for text, i in (("  concurrent_images 2 x 1 thread: wall clock", 0), ("  concurrent_images 2: per CPU second", 1)):
        row(text, conc[i], i)
    batched = [statistics.median(x) for x in zip(*(r[0] for r in batch_runs))]
    for text, i in (("  concurrent 2, batch_size 4: wall clock", 0), ("  concurrent 2, batch_size 4: per CPU second", 1)):
        row(text, batched[i], i)
    cli = statistics.median(cli_runs)
    print(f"{'  both CLIs, whole process (conc. 2, batch 4)':<44}{n / batched[0]:>10.1f}{'-':>10}{n / cli:>10.1f}"
          f"{cli / batched[0]:>11.2f}x")
    if dct_runs:
        dct = [statistics.median(x) for x in zip(*(r[0] for r in dct_runs))]
        for text, i in (("  jpeg_dct_scaling 1: wall clock", 0), ("  jpeg_dct_scaling 1: per CPU second", 1)):
            row(text, dct[i], i)
        ref = py_runs[0][1]
        for text, got in (("full decode (default)", cpp_runs[0][1]), ("concurrent_images 2", conc_runs[0][1]),
                          ("concurrent 2, batch_size 4", batch_runs[0][1]),
                          ("jpeg_dct_scaling 1", dct_runs[0][1])):
            d = [float(np.abs(np.asarray(got[k], np.float32) - ref[k]).max()) for k in ref]
            top1 = sum(int(np.argmax(got[k])) == int(np.argmax(ref[k])) for k in ref)
            print(f"  vs Python (cv2 full decode), {text:<24} max |Δprob| {max(d):.2e}, "
                  f"top-1 agreement {top1}/{len(ref)}")
        t_max = t_mean = 0.0
        for p in images[: len(PHOTOS)]:
            a = native.preprocess(native.decode(str(p), pre.resize_short), pre.resize_short, pre.crop_size,
                                  list(pre.mean), list(pre.std), pre.scale, pre.channel_order)
            diff = np.abs(a - preprocess(decode_image(p), pre))
            t_max, t_mean = max(t_max, float(diff.max())), max(t_mean, float(diff.mean()))
        print(f"  network input, DCT-scaled vs full decode: max |Δ| {t_max:.3f}, worst image mean |Δ| {t_mean:.4f} "
              "(normalised units; one 8-bit level is ~0.017)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--images", type=int, default=192,
                    help="number of images (photos repeated); fewer let start-up costs weigh more (C++ pays its "
                         "process start and ONNX Runtime's one-time set-up, Python neither)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--build", type=Path, help="output dir of the host build (default: a temp dir)")
    ap.add_argument("--skip-x1", action="store_true", help="only the demo model")
    ap.add_argument("--phone-images", type=int, default=12, help="12 MP JPEGs for the x1.0 model (0: skip)")
    args = ap.parse_args()

    from edgeclas.build import build
    from edgeclas.preprocess import PreprocessConfig, decode_image, preprocess

    work = Path(tempfile.mkdtemp(prefix="bench-native-"))
    try:
        out = args.build or work / "build"
        b = build(arch="host", os_="linux", engine="onnxruntime", out=out, python=True, jobs=2)
        native = _load_native(b.python_module)
        print(f"decoders: {native.decoders}")
        demo = args.model or _default_model(work)
        jpegs = _images(work / "jpegs", args.images, True)
        bench_model("demo model", demo, _images(work / "photos", args.images, False), b, native, args.rounds,
                    work)
        bench_model("demo model, JPEG", demo, jpegs, b, native, args.rounds, work)
        if not args.skip_x1:
            x1 = _x1_model()
            bench_model("PP-LCNet x1.0", x1, jpegs, b, native, args.rounds, work)
            if args.phone_images:
                bench_model("PP-LCNet x1.0, 12 MP JPEGs", x1, _images(work / "phone", args.phone_images, True, True),
                            b, native, args.rounds, work)

        print(f"\n{'preprocessing (same pixels)':<34}{'C++ ms':>12}{'Python ms':>14}{'speed-up':>12}")
        decoded = [decode_image(p) for p in sorted((work / "photos").iterdir())[: len(PHOTOS)]]
        pre = PreprocessConfig.from_dict(json.loads((demo / "manifest.json").read_text())["preprocess"])
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
