"""The C++ in native/ against the Python reference: preprocessing parity, decode, config, errors, ORT results.

Builds come from tests/fixtures_build.py (``host_build``: ONNX Runtime engine + the ``_native`` module +
ctest). Parity is checked from the SAME decoded pixels (numpy uint8 into the C++); decoding itself (bit-exact
with cv2, EXIF orientation) is tested in tests/test_native_decode.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeclas.preprocess import PreprocessConfig, decode_image, preprocess

from fixtures_build import clas_config, photo, photo_folder

pytestmark = pytest.mark.integration

PADDLECLAS_CONFIG = """\
clas_model_file ./MobileNetV3_large_x1_0.nb
label_path ./imagenet1k_label_list.txt
resize_short_size 256
crop_size 224
visualize 0
num_threads 1
batch_size 1
precision FP32
runtime_device arm_cpu
enable_benchmark 0
tipc_benchmark 0
"""


def _crops() -> list[tuple[str, np.ndarray]]:
    """Real photos at several sizes, odd and portrait ones included."""
    astro, coffee, chelsea, rocket = (photo(n) for n in ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"))
    return [
        ("astronaut 512x512", astro),
        ("coffee 600x400", coffee),
        ("chelsea 451x300", chelsea),
        ("rocket 427x640 portrait", rocket),
        ("astronaut 211x301 odd portrait", astro[17:318, 40:251]),
        ("coffee 567x377 odd", coffee[13:390, 7:574]),
        ("chelsea 77x91 small", chelsea[100:191, 200:277]),
    ]


def _run(cmd: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def test_native_unit_tests_pass_on_host(host_build):
    r = host_build.tests
    assert r is not None and r.ran, "host_build was made with tests=True"
    assert r.ok and r.total >= 17, f"ctest: {r.failed} of {r.total} failed"


@pytest.mark.parametrize("cfg", [
    PreprocessConfig(resize_short=73, crop_size=64),
    PreprocessConfig(resize_short=256, crop_size=224),
    PreprocessConfig(resize_short=80, crop_size=80, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), channel_order="BGR"),
], ids=["73-64", "256-224", "80-80-bgr"])
def test_preprocess_matches_python_reference(native, cfg):
    worst = {}
    for name, img in _crops():
        ref = preprocess(img, cfg)
        got = native.preprocess(img, cfg.resize_short, cfg.crop_size, list(cfg.mean), list(cfg.std), cfg.scale,
                                cfg.channel_order)
        assert got.shape == ref.shape == (3, cfg.crop_size, cfg.crop_size), name
        worst[name] = float(np.abs(got - ref).max())
    print("max |C++ - Python| per image:", worst)
    # Goal is <= 1e-3; with cv2's sampling rules and exact weights it lands at float rounding (~1e-6).
    assert max(worst.values()) <= 1e-5, worst


def test_preprocess_simd_path_equals_scalar_on_host(native):
    """The x86-64 build has the SSE2 path (NEON on ARM: tested by ctest under qemu); without FMA on x86-64 the
    two paths round alike, so they agree exactly."""
    img = _crops()[4][1]
    args = (img, 73, 64, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert native.simd == "SSE2"
    a = native.preprocess(*args, impl="scalar")
    b = native.preprocess(*args, impl="simd")
    assert np.array_equal(a, b) and np.array_equal(b, native.preprocess(*args))
    assert np.abs(a - preprocess(img, PreprocessConfig(resize_short=73, crop_size=64))).max() <= 1e-5


def test_paddleclas_config_parses_unchanged(native):
    settings, warnings = native.parse_config(PADDLECLAS_CONFIG, "config.txt")
    assert warnings == []
    assert settings["clas_model_file"] == "./MobileNetV3_large_x1_0.nb"
    assert (settings["resize_short_size"], settings["crop_size"], settings["num_threads"]) == (256, 224, 1)
    assert (settings["topk"], settings["power_mode"], settings["output"]) == (5, 0, "text")


@pytest.mark.parametrize("line,key", [
    ("num_threads two", "num_threads"), ("power_mode 9", "power_mode"), ("crop_size", "crop_size"),
    ("mean 0.5 0.5", "mean"), ("channel_order GBR", "channel_order"), ("repeats 0", "repeats"),
])
def test_bad_config_value_names_key_and_line(native, line, key):
    with pytest.raises(ValueError) as e:
        native.parse_config(PADDLECLAS_CONFIG + line + "\n", "config.txt")
    assert f"config.txt:12: {key}" in str(e.value)


def test_native_topk_and_stats_agree_with_numpy(native):
    rng = np.random.default_rng(0)
    probs = rng.random(37).astype(np.float32)
    got = native.topk(probs.tolist(), 5)
    assert [d["class_id"] for d in got] == list(np.argsort(-probs, kind="stable")[:5])
    samples = rng.random(101) * 10
    s = native.stats(samples.tolist())
    for q in (50, 90, 99):
        assert s[f"p{q}"] == pytest.approx(np.percentile(samples, q), rel=1e-12)
    assert s["std"] == pytest.approx(samples.std(ddof=1), rel=1e-12)  # the same convention as edgeclas.stats


@pytest.mark.parametrize("kind, classes", [("Topk", 7), ("ThreshOutput", 2), ("MultiLabelThreshOutput", 7)])
def test_native_decide_is_the_twin_of_predict_postprocess(native, kind, classes):
    from edgeclas.predict import postprocess

    rng = np.random.default_rng(1)
    labels = [f"c{i}" for i in range(classes)]
    for threshold in (None, 0.3, 0.7):
        probs = rng.random((20, classes)).astype(np.float32)
        want = postprocess(probs, [""] * 20, labels, 3, threshold, kind=kind)
        for row, p in zip(probs, want):
            got = native.decide(row.tolist(), kind, 3, -1.0 if threshold is None else threshold, labels)
            assert [d["class_id"] for d in got] == p.class_ids and [d["label"] for d in got] == p.label_names
            assert [round(d["score"], 5) for d in got] == pytest.approx(p.scores, abs=2e-5)
    with pytest.raises(ValueError, match="ThreshOutput needs a 2-class model"):
        native.decide([0.2, 0.3, 0.5], "ThreshOutput", 1)


def _manifest(model_dir: Path) -> dict:
    return json.loads((model_dir / "manifest.json").read_text())


def _python_ort_probs(model: Path, images: list[Path], pre: PreprocessConfig) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: preprocess(decode_image(p), pre)[None]})[0] for p in images])


def test_host_clas_system_matches_python_onnxruntime(host_build, model_dir, png_images, tmp_path):
    m = _manifest(model_dir)
    pre = PreprocessConfig.from_dict(m["preprocess"])
    model = model_dir / m["formats"]["onnx"]["file"]
    cfg = clas_config(tmp_path, model, model_dir / m["labels_file"], m["preprocess"], topk=2, warmup=1, repeats=3,
                      num_threads=2)
    r = _run(host_build.command(cfg, png_images[0].parent), env=host_build.env())
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    images, summary = lines[:-1], lines[-1]
    assert [Path(d["image"]).name for d in images] == sorted(p.name for p in png_images)
    ref = _python_ort_probs(model, [Path(d["image"]) for d in images], pre)
    got = np.array([d["probs"] for d in images], dtype=np.float32)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-4, np.abs(got - ref).max()
    for d, row in zip(images, ref):
        assert d["topk"][0]["class_id"] == int(row.argmax())
        assert d["topk"][0]["label"] == m["labels"][int(row.argmax())]
    assert summary["type"] == "summary" and summary["engine"] == "onnxruntime"
    assert summary["threads"] == 2 and summary["images"] == len(images) and summary["failed"] == 0
    lat = summary["latency_ms"]
    assert len(lat["samples"]) == 3 * len(images)
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert summary["peak_rss_kb"] > 0
    assert set(summary["affinity"]) == {"power_mode", "cpus", "applied", "note"}
    assert r.stderr.startswith("===settings===")  # settings go to stderr in JSON mode


def _run_onnx(host_build, model_dir: Path, directory: Path, target: Path, **keys) -> subprocess.CompletedProcess:
    """clas_system on the model's ONNX file with its preprocessing and ``keys``, config written in ``directory``."""
    m = _manifest(model_dir)
    directory.mkdir()
    cfg = clas_config(directory, model_dir / m["formats"]["onnx"]["file"], None, m["preprocess"], **keys)
    return _run(host_build.command(cfg, target), env=host_build.env())


def test_num_threads_reaches_the_engine(host_build, model_dir, png_images, tmp_path):
    """PaddleClas's demo reads num_threads and never applies it; clas_system's engine must start that many threads."""
    threads = {}
    for n in (1, 4):
        r = _run_onnx(host_build, model_dir, tmp_path / f"t{n}", png_images[0], num_threads=n, repeats=1,
                      decode_threads=1)
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout.splitlines()[-1])
        assert summary["threads"] == n
        threads[n] = summary["process_threads"]
    # ONNX Runtime's intra-op pool has num_threads - 1 workers beside the calling thread.
    assert threads[1] >= 1 and threads[4] - threads[1] == 3, threads


def test_paddleclas_settings_take_effect_or_are_printed_as_ignored(native, host_build, model_dir, png_images,
                                                                     tmp_path):
    """precision, runtime_device, enable_benchmark, tipc_benchmark: honoured, or a warning with the reason."""
    m = _manifest(model_dir)
    cfg = clas_config(tmp_path, model_dir / m["formats"]["onnx"]["file"], None, m["preprocess"], precision="FP16",
                      runtime_device="arm_gpu", enable_benchmark=1, tipc_benchmark=1, batch_size=2)
    r = _run(host_build.command(cfg, png_images[0]), env=host_build.env())
    assert r.returncode == 0, r.stderr
    warned = {ln.split(": ", 2)[2].split(" ", 1)[0]: ln for ln in r.stderr.splitlines() if " ignored: " in ln}
    assert set(warned) == {"precision", "runtime_device", "tipc_benchmark"}, r.stderr
    assert "precision FP16 ignored: onnxruntime runs the .onnx model" in warned["precision"]
    settings = r.stderr.split("===settings===\n", 1)[1].split("\n\n", 1)[0].splitlines()
    shown = {ln.split(" ", 1)[0]: ln.split(" ", 1)[1] for ln in settings if " " in ln}
    assert not set(warned) & set(shown)  # an ignored setting is never listed as in effect
    assert shown["enable_benchmark"] == "1" and (shown["warmup"], shown["repeats"]) == ("10", "990")
    assert shown["batch_size"] == "2"  # honoured (test_concurrent_images_and_batches_* below)
    summary = json.loads(r.stdout.splitlines()[-1])
    assert (summary["warmup"], summary["repeats"]) == (10, 990) and len(summary["latency_ms"]["samples"]) == 990
    settings_dict, warnings = native.parse_config(cfg.read_text(), "config.txt")
    assert "tipc_benchmark 1 ignored" in " ".join(warnings) and "precision" in settings_dict  # the engine decides that one
    assert settings_dict["batch_size"] == 2 and "batch_size" not in " ".join(warnings)


def test_native_module_pipeline_matches_clas_system(native, host_build, model_dir, png_images, tmp_path):
    m = _manifest(model_dir)
    cfg = clas_config(tmp_path, model_dir / m["formats"]["onnx"]["file"], None, m["preprocess"])
    got = native.classify(str(cfg), [str(p) for p in png_images])
    ref = _python_ort_probs(model_dir / m["formats"]["onnx"]["file"], png_images, PreprocessConfig.from_dict(m["preprocess"]))
    assert np.abs(np.array([d["probs"] for d in got]) - ref).max() <= 1e-4
    # The module runs the same Pipeline::Run as clas_system: batches and concurrent workers apply there too,
    # and an image that fails raises once the workers are done (no thread left behind, no crash).
    (tmp_path / "b").mkdir()
    cfg = clas_config(tmp_path / "b", model_dir / m["formats"]["onnx"]["file"], None, m["preprocess"], batch_size=2,
                      concurrent_images=2)
    got = native.classify(str(cfg), [str(p) for p in png_images])
    assert [d["image"] for d in got] == [str(p) for p in png_images]
    assert np.abs(np.array([d["probs"] for d in got]) - ref).max() <= 1e-4
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    with pytest.raises(ValueError, match="bad.png"):
        native.classify(str(cfg), [str(png_images[0]), str(bad), str(png_images[1])])


def test_chunked_parallel_decode_keeps_order_and_results(host_build, model_dir, png_images, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(11):  # more than one chunk (4 images per decode thread)
        src = png_images[i % len(png_images)]
        (folder / f"{i:02d}_{src.name}").write_bytes(src.read_bytes())
    runs = {}
    for threads in (1, 2):
        r = _run_onnx(host_build, model_dir, tmp_path / f"t{threads}", folder, decode_threads=threads)
        assert r.returncode == 0, r.stderr
        runs[threads] = [json.loads(x) for x in r.stdout.splitlines()][:-1]
    for rows in runs.values():
        assert [Path(d["image"]).name for d in rows] == sorted(p.name for p in folder.iterdir())
    assert [d["probs"] for d in runs[1]] == [d["probs"] for d in runs[2]]


def test_concurrent_images_and_batches_keep_order_results_and_failures(host_build, model_dir, png_images, tmp_path):
    """concurrent_images N: N workers in flight, the first images decoded while the model loads; batch_size B:
    B consecutive images in one inference (the last batch shorter, a bad image left out of its batch to fail
    alone), alone and per worker. Answers, order and failures as one image at a time (exactly, without
    batches), one latency sample per timed run of a batch, and the summary says how it ran."""
    folder = tmp_path / "many"
    names = photo_folder(folder, png_images, 150)  # past the 64 slots of the in-flight window: they wrap
    (folder / "066_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    runs = {}
    for b, n in ((1, 1), (1, 3), (4, 1), (4, 3), (8, 2), (64, 2)):
        r = _run_onnx(host_build, model_dir, tmp_path / f"b{b}c{n}", folder, batch_size=b, concurrent_images=n,
                      warmup=1, repeats=2)
        _assert_clean_failure(r, 1, "066_corrupt.png")
        warnings, settings = r.stderr.split("===settings===")
        assert "batch_size" not in warnings  # no warning: it takes effect
        assert f"concurrent_images {n}" in settings and f"batch_size {b}" in settings  # among those in effect
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        summary = lines[-1]
        assert (summary["batch_size"], summary["concurrent_images"]) == (b, n)
        assert summary["images"] == 151 and summary["failed"] == 1
        # 151 files in batches of b, warm-up runs left out; a batch of one corrupt image alone (b = 1) has no run
        batches = 150 if b == 1 else -(-151 // b)
        assert len(summary["latency_ms"]["samples"]) == 2 * batches, (b, n)
        runs[(b, n)] = lines[:-1]
    ref = np.array([d["probs"] for d in runs[(1, 1)]])
    assert len({tuple(p) for p in ref}) > 100  # the images differ, so a mix-up would show
    assert [d["probs"] for d in runs[(1, 1)]] == [d["probs"] for d in runs[(1, 3)]]
    for key, rows in runs.items():
        assert [Path(d["image"]).name for d in rows] == names, key
        got = np.array([d["probs"] for d in rows])
        assert np.abs(got - ref).max() <= 1e-5, key
        assert (got.argmax(1) == ref.argmax(1)).all(), key
    # An image's inference time is its share of its batch's: the shares add up to the time of the runs.
    assert len({d["timing_ms"]["inference"] for d in runs[(4, 1)][:3]}) == 1
    # A folder too small for a batch per worker: batches shrink (3 images, 2 workers: 2 + 1), the summary says so.
    photo_folder(tmp_path / "few", png_images, 3)
    r = _run_onnx(host_build, model_dir, tmp_path / "few-cfg", tmp_path / "few", batch_size=8, concurrent_images=2)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    assert (summary["batch_size"], summary["images"], len(summary["latency_ms"]["samples"])) == (2, 3, 2)


def test_batch_size_is_refused_for_a_model_with_a_fixed_batch(host_build, model_dir, png_images, tmp_path):
    import onnx

    m = _manifest(model_dir)
    model = onnx.load(str(model_dir / m["formats"]["onnx"]["file"]))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1  # exported for exactly one image
    fixed = tmp_path / "fixed.onnx"
    onnx.save(model, str(fixed))
    runs = {}
    for b in (1, 2):
        d = tmp_path / f"b{b}"
        d.mkdir()
        runs[b] = _run(host_build.command(clas_config(d, fixed, None, m["preprocess"], batch_size=b), png_images[0]),
                       env=host_build.env())
    assert runs[1].returncode == 0, runs[1].stderr
    _assert_clean_failure(runs[2], 1, "fixed.onnx: the model's input takes exactly 1 image(s) per inference, so "
                          "batch_size 2 cannot take effect (set batch_size 1 in")
    assert runs[2].stdout == ""


def test_concurrent_images_report_a_model_that_fails_to_load_and_stop(host_build, model_dir, png_images, tmp_path):
    m = _manifest(model_dir)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes((model_dir / m["formats"]["onnx"]["file"]).read_bytes()[:1000])
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(9):
        (folder / f"{i:02d}.png").write_bytes(png_images[i % len(png_images)].read_bytes())
    cfg = clas_config(tmp_path, broken, None, m["preprocess"], concurrent_images=4, decode_threads=2)
    r = _run(host_build.command(cfg, folder), env=host_build.env())
    _assert_clean_failure(r, 1, "broken.onnx")
    assert r.stdout == ""  # no result and no summary from a model that never loaded
    assert "decode_threads 2 ignored: with concurrent_images > 1 each of its workers decodes" in r.stderr


def test_text_output_keeps_paddleclas_result_lines(host_build, model_dir, png_images, tmp_path):
    m = _manifest(model_dir)
    cfg = clas_config(tmp_path, model_dir / m["formats"]["onnx"]["file"], model_dir / m["labels_file"],
                      m["preprocess"], output="text", topk=1)
    r = _run(host_build.command(cfg, png_images[0]), env=host_build.env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("===settings===")
    assert f"===clas result for image: {png_images[0]}===" in r.stdout
    assert "\tTop-1, class_id: " in r.stdout and ", class_name: " in r.stdout and ", score: " in r.stdout
    assert "Time(unit: ms): init = " in r.stdout


def _assert_clean_failure(r: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert r.returncode > 0  # never a signal (segfault/abort shows as negative)
    assert "error: " in r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr
    for crash in ("terminate called", "Segmentation", "Aborted", "std::"):
        assert crash not in r.stderr


def test_bad_config_and_missing_key_exit_2(host_build, tmp_path, png_images):
    bad = tmp_path / "bad.txt"
    bad.write_text("clas_model_file m.onnx\n\n# comment\nnum_threads lots\n")
    _assert_clean_failure(_run(host_build.command(bad, png_images[0]), env=host_build.env()), 2, "bad.txt:4",
                          "num_threads")
    missing = tmp_path / "missing.txt"
    missing.write_text(PADDLECLAS_CONFIG.replace("clas_model_file ./MobileNetV3_large_x1_0.nb\n", ""))
    _assert_clean_failure(_run(host_build.command(missing, png_images[0]), env=host_build.env()), 2,
                          "clas_model_file")
    _assert_clean_failure(_run(host_build.command(tmp_path / "nope.txt", png_images[0]), env=host_build.env()), 2,
                          "nope.txt")


def test_corrupt_image_fails_cleanly_and_keeps_other_results(host_build, model_dir, png_images, tmp_path):
    m = _manifest(model_dir)
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a_good.png").write_bytes(png_images[0].read_bytes())
    (folder / "b_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (folder / "c_empty.png").write_bytes(b"")
    cfg = clas_config(tmp_path, model_dir / m["formats"]["onnx"]["file"], None, m["preprocess"])
    r = _run(host_build.command(cfg, folder), env=host_build.env())
    _assert_clean_failure(r, 1, "b_corrupt.jpg", "c_empty.png")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [Path(d["image"]).name for d in lines if d["type"] == "image"] == ["a_good.png"]
    assert lines[-1]["failed"] == 2 and lines[-1]["images"] == 3


def test_empty_folder_and_engine_mismatch_are_clear(host_build, model_dir, tmp_path):
    m = _manifest(model_dir)
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = clas_config(tmp_path, model_dir / m["formats"]["onnx"]["file"], None, m["preprocess"])
    _assert_clean_failure(_run(host_build.command(cfg, empty), env=host_build.env()), 2, "no images")
    (tmp_path / "lite").mkdir()
    (empty / "x.png").write_bytes(b"")
    cfg = clas_config(tmp_path / "lite", model_dir / m["formats"]["onnx"]["file"], None, m["preprocess"], engine="lite")
    _assert_clean_failure(_run(host_build.command(cfg, empty), env=host_build.env()), 1, "engine 'lite'",
                          "--engine lite")


def test_wrong_model_kind_and_unknown_key(host_build, model_dir, png_images, tmp_path):
    m = _manifest(model_dir)
    nb = tmp_path / "model.nb"
    nb.write_bytes(b"not really")
    cfg = clas_config(tmp_path, nb, None, m["preprocess"], num_thread=4)
    r = _run(host_build.command(cfg, png_images[0]), env=host_build.env())
    _assert_clean_failure(r, 1, "model.nb", "Paddle Lite")
    assert "unknown key 'num_thread'" in r.stderr
