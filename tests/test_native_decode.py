"""clas_system's decoder and input checks against the host reference (issue 12).

* EXIF orientation: JPEGs (and a PNG) of all 8 orientations, generated here from a real photo, give the same
  pixels as ``edgeclas.preprocess.decode_image`` (cv2) and the same probabilities as the Python pipeline, on
  the host build and on the armv8 Linux build under qemu;
* JPEG (libjpeg-turbo) and PNG (libpng) decode bit-exactly like cv2 for the common layouts;
* corrupt images (truncated JPEG/PNG, BMP of height INT_MIN, decompression bombs) give one error line each,
  never a signal; config values that overflow float, /dev/zero as label file and non-finite model outputs
  (a generated ONNX head that divides by zero) are errors, not ``null`` probabilities with exit 0.
"""

from __future__ import annotations

import json
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgeclas.preprocess import PreprocessConfig, decode_image, preprocess

from fixtures_build import clas_config, photo

pytestmark = pytest.mark.integration


def _jpeg(rgb: np.ndarray, *params: int) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), list(params) or [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def _png(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]) if rgb.ndim == 3 and rgb.shape[2] == 3 else rgb)
    assert ok
    return buf.tobytes()


def _tiff_orientation(orientation: int, big_endian: bool) -> bytes:
    """A TIFF block as EXIF carries it: byte-order mark, IFD0 with the one SHORT tag 0x0112."""
    e = ">" if big_endian else "<"
    return (b"MM" if big_endian else b"II") + struct.pack(e + "HIH", 42, 8, 1) + \
        struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(e + "I", 0)


def _with_exif(jpeg: bytes, orientation: int, big_endian: bool = False) -> bytes:
    seg = b"Exif\0\0" + _tiff_orientation(orientation, big_endian)
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(seg) + 2) + seg + jpeg[2:]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_with_exif(png: bytes, orientation: int) -> bytes:
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return png[:ihdr_end] + _png_chunk(b"eXIf", _tiff_orientation(orientation, True)) + png[ihdr_end:]


def _run(cmd: list[str], env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def exif_photos(tmp_path_factory) -> list[Path]:
    """A real, non-square photo as JPEG in all 8 EXIF orientations (both byte orders) and as PNG with eXIf."""
    folder = tmp_path_factory.mktemp("exif")
    rgb = photo("chelsea.png")[20:230, 60:380]  # 320 x 210, landscape: orientations 5-8 make it portrait
    jpeg = _jpeg(rgb)
    paths = []
    for o in range(1, 9):
        p = folder / f"o{o}.jpg"
        p.write_bytes(_with_exif(jpeg, o, big_endian=o % 2 == 0))
        paths.append(p)
    p = folder / "o6.png"
    p.write_bytes(_png_with_exif(_png(rgb), 6))
    paths.append(p)
    return sorted(paths)


def test_exif_orientation_decodes_like_cv2(native, exif_photos):
    shapes = {}
    for p in exif_photos:
        ref = decode_image(p)
        got = native.decode(str(p))
        assert got.shape == ref.shape, p.name
        assert np.array_equal(got, ref), f"{p.name}: max pixel diff {np.abs(got.astype(int) - ref).max()}"
        shapes[p.name] = got.shape[:2]
    # cv2 really rotated them: otherwise this test would pass on a decoder that ignores EXIF.
    assert shapes["o1.jpg"] == (210, 320) and shapes["o6.jpg"] == (320, 210) and shapes["o6.png"] == (320, 210)
    assert native.exif_orientation(exif_photos[5].read_bytes()) == 6


def _probs(build, model_dir: Path, folder: Path, work: Path, **keys) -> dict[str, np.ndarray]:
    m = json.loads((model_dir / "manifest.json").read_text())
    cfg = clas_config(work, model_dir / m["formats"]["onnx"]["file"], None, m["preprocess"], topk=1, **keys)
    r = _run(build.command(cfg, folder), env=build.env())
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    return {Path(d["image"]).name: np.asarray(d["probs"], np.float32) for d in rows if d["type"] == "image"}


def _reference(model_dir: Path, images: list[Path]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    m = json.loads((model_dir / "manifest.json").read_text())
    pre = PreprocessConfig.from_dict(m["preprocess"])
    sess = ort.InferenceSession(str(model_dir / m["formats"]["onnx"]["file"]), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return {p.name: sess.run(None, {name: preprocess(decode_image(p), pre)[None]})[0][0] for p in images}


def _assert_same_answers(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> float:
    assert set(got) == set(ref)
    worst = max(float(np.abs(got[k] - ref[k]).max()) for k in ref)
    for k in ref:
        assert int(got[k].argmax()) == int(ref[k].argmax()), k
    assert worst <= 1e-5, worst  # same pixels, same preprocessing: float rounding only
    return worst


def test_exif_rotated_photos_same_answer_on_host(host_build, model_dir, exif_photos, tmp_path):
    got = _probs(host_build, model_dir, exif_photos[0].parent, tmp_path)
    worst = _assert_same_answers(got, _reference(model_dir, exif_photos))
    print(f"host: max |C++ - Python| over 8 orientations + PNG: {worst:.2e}")


def test_exif_rotated_photos_same_answer_on_armv8_under_qemu(armv8_linux_build, model_dir, exif_photos, tmp_path):
    got = _probs(armv8_linux_build, model_dir, exif_photos[0].parent, tmp_path)
    worst = _assert_same_answers(got, _reference(model_dir, exif_photos))
    print(f"armv8 (qemu): max |C++ - Python| over 8 orientations + PNG: {worst:.2e}")


def test_jpeg_and_png_layouts_decode_bit_exactly_like_cv2(native, tmp_path):
    import cv2

    rgb = photo("astronaut.png")[5:402, 3:330]  # odd sizes: partial MCUs
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rng = np.random.default_rng(0)
    cases = {
        "q90_420.jpg": _jpeg(rgb),
        "q95_444.jpg": _jpeg(rgb, cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                             cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
        "q80_422.jpg": _jpeg(rgb, cv2.IMWRITE_JPEG_QUALITY, 80, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                             cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422),
        "progressive.jpg": _jpeg(rgb, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        "restart.jpg": _jpeg(rgb, cv2.IMWRITE_JPEG_RST_INTERVAL, 3),
        "gray.jpg": cv2.imencode(".jpg", gray)[1].tobytes(),
        "rgb.png": _png(rgb),
        "gray.png": cv2.imencode(".png", gray)[1].tobytes(),
        "rgba.png": cv2.imencode(".png", rng.integers(0, 256, (31, 17, 4), dtype=np.uint8))[1].tobytes(),
        "16bit.png": cv2.imencode(".png", rng.integers(0, 65536, (9, 13, 3), dtype=np.uint16))[1].tobytes(),
        "photo.bmp": cv2.imencode(".bmp", rgb[:, :, ::-1])[1].tobytes(),
    }
    try:
        from PIL import Image

        for mode, name in (("CMYK", "cmyk.jpg"), ("P", "palette.png")):
            p = tmp_path / name
            Image.fromarray(rgb).convert(mode).save(p)
            cases[name] = p.read_bytes()
    except ImportError:
        print("Pillow missing: CMYK JPEG and palette PNG not checked")
    worst = {}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        ref, got = decode_image(p), native.decode(str(p))
        assert got.shape == ref.shape, name
        worst[name] = int(np.abs(got.astype(int) - ref).max())
    print("max |C++ - cv2| per file:", worst, "decoders:", native.decoders)
    assert all(v == 0 for v in worst.values()), worst


def test_corrupt_images_give_one_error_line_each_and_never_a_signal(host_build, model_dir, tmp_path):
    import cv2

    rgb = photo("coffee.png")
    jpeg, png = _jpeg(rgb), _png(rgb)
    bmp = bytearray(cv2.imencode(".bmp", rgb[:8, :8])[1].tobytes())
    bmp[22:26] = struct.pack("<i", -2**31)  # height INT_MIN: signed overflow inside stb 2.27
    sof = jpeg.index(b"\xff\xc0")
    jpeg_bomb = bytearray(jpeg)
    jpeg_bomb[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)  # 4.2 G pixels declared in 200 kB
    png_bomb = bytearray(png)
    png_bomb[16:24] = struct.pack(">II", 60000, 60000)
    png_bomb[29:33] = struct.pack(">I", zlib.crc32(bytes(png_bomb[12:29])))  # a valid IHDR
    folder = tmp_path / "imgs"
    folder.mkdir()
    files = {
        "a_good.jpg": jpeg,
        "b_truncated.jpg": jpeg[: len(jpeg) // 2],
        "c_truncated.png": png[: len(png) // 2],
        "d_int_min.bmp": bytes(bmp),
        "e_bomb.jpg": bytes(jpeg_bomb),
        "f_bomb.png": bytes(png_bomb),
        "g_text.jpg": b"not an image at all\n" * 10,
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    m = json.loads((model_dir / "manifest.json").read_text())
    cfg = clas_config(tmp_path, model_dir / m["formats"]["onnx"]["file"], None, m["preprocess"])
    r = _run(host_build.command(cfg, folder), env=host_build.env(), timeout=60)
    assert r.returncode == 1, (r.returncode, r.stderr)  # never negative (a signal)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == len(files) - 1, errors
    for name in files:
        if name != "a_good.jpg":
            assert sum(name in e for e in errors) == 1, (name, errors)
    assert any("max_image_pixels" in e and "e_bomb.jpg" in e for e in errors)
    assert any("max_image_pixels" in e and "f_bomb.png" in e for e in errors)
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [Path(d["image"]).name for d in rows if d["type"] == "image"] == ["a_good.jpg"]
    assert rows[-1]["failed"] == len(files) - 1
    peak_mb = rows[-1]["peak_rss_kb"] / 1024
    assert peak_mb < 500, f"peak RSS {peak_mb:.0f} MB: a bomb was allocated"


@pytest.mark.parametrize("line,key", [
    ("scale 1e39", "scale"), ("mean 3e38 0.456 0.406", "mean"), ("std 1e-45 0.224 0.225", "std"),
])
def test_values_that_overflow_float_are_refused_at_config_check(host_build, model_dir, tmp_path, line, key):
    m = json.loads((model_dir / "manifest.json").read_text())
    cfg = clas_config(tmp_path, model_dir / m["formats"]["onnx"]["file"], None, m["preprocess"])
    cfg.write_text(cfg.read_text() + line + "\n")
    n = len(cfg.read_text().splitlines())
    r = _run(host_build.command(cfg, tmp_path), env=host_build.env(), timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"config.txt:{n}: {key}" in r.stderr, r.stderr
    assert "null" not in r.stdout


def test_label_path_dev_zero_is_refused_at_once(host_build, model_dir, sample_images, tmp_path):
    m = json.loads((model_dir / "manifest.json").read_text())
    cfg = clas_config(tmp_path, model_dir / m["formats"]["onnx"]["file"], Path("/dev/zero"), m["preprocess"])
    r = _run(host_build.command(cfg, sample_images[0]), env=host_build.env(), timeout=20)
    assert r.returncode == 1 and "/dev/zero" in r.stderr and "not a regular file" in r.stderr, r.stderr


def _nan_model(path: Path, channels: int = 3) -> Path:
    """An ONNX classifier whose scores are each channel's mean divided by zero: ±inf, or NaN for 0/0.

    A trained network rarely overflows for any preprocessing (BatchNorm and saturating activations absorb
    even inputs of 1e38), so the model itself is made to answer with non-finite numbers."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
             helper.make_node("Div", ["flat", "zero"], ["probs"])]
    graph = helper.make_graph(
        nodes, "nan_head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", channels, None, None])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", channels])],
        initializer=[helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_non_finite_model_output_is_an_error_not_null(host_build, model_dir, sample_images, tmp_path):
    """A model answering inf/NaN is an error naming the output, never ``null`` scores with exit 0."""
    m = json.loads((model_dir / "manifest.json").read_text())
    cfg = clas_config(tmp_path, _nan_model(tmp_path / "nan.onnx"), None, m["preprocess"])
    r = _run(host_build.command(cfg, sample_images[0]), env=host_build.env(), timeout=60)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "NaN" in r.stderr or "infinite" in r.stderr, r.stderr
    assert "null" not in r.stdout
