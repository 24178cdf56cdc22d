"""``edgeclas serve`` input handling without a server: image headers and limits, request bodies, and
Paddle Serving's pipeline protocol (pure functions over bytes)."""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import struct
import zlib

import cv2
import httpx
import numpy as np
import pytest

from edgeclas.predict import Prediction, postprocess
from edgeclas.preprocess import PreprocessConfig
from edgeclas.serve import paddle_serving
from edgeclas.serve.errors import RequestError
from edgeclas.serve.images import check_image, read_header
from edgeclas.serve.inputs import MAX_IMAGES, b64_image, parse_multipart, parse_predict_body, read_body

CFG = PreprocessConfig(256, 224)


def _photo(h: int = 60, w: int = 90) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def _encode(ext: str, img: np.ndarray | None = None, params: tuple = ()) -> bytes:
    ok, buf = cv2.imencode(ext, _photo() if img is None else img, list(params))
    assert ok
    return buf.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 20000) -> bytes:
    """A valid 1-bit grey PNG of side×side zeros: ~50 kB that a decoder expands to side² RGB pixels."""
    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


@pytest.mark.parametrize("ext,fmt,params", [
    (".png", "png", ()),
    (".jpg", "jpeg", ()),
    (".jpg", "jpeg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
    (".bmp", "bmp", ()),
])
def test_header_gives_format_and_size_of_real_files(ext, fmt, params):
    head = read_header(_encode(ext, params=params))
    assert (head.format, head.width, head.height) == (fmt, 90, 60)


@pytest.mark.parametrize("ext,cut", [(".png", 0.5), (".png", 0.999), (".jpg", 0.5), (".jpg", 0.99), (".bmp", 0.7)])
def test_truncated_files_are_refused_from_the_header(ext, cut):
    data = _encode(ext)
    with pytest.raises(RequestError) as e:
        read_header(data[: int(len(data) * cut)])
    assert (e.value.status, e.value.kind) == (400, "truncated_image")


@pytest.mark.parametrize("data", [b"hello world", b"", b"GIF89a\x01\x00\x01\x00", b"RIFF\x00\x00\x00\x00WEBPVP8 "])
def test_other_bytes_are_not_an_image(data):
    with pytest.raises(RequestError) as e:
        read_header(data)
    assert (e.value.status, e.value.kind) == (415, "not_an_image")
    assert "\n" not in e.value.message


def test_decompression_bomb_is_refused_before_decoding():
    bomb = png_bomb()
    assert len(bomb) < 200_000 and read_header(bomb).pixels == 20000 * 20000
    with pytest.raises(RequestError) as e:
        check_image(bomb, "bomb.png", 40_000_000, CFG)
    assert (e.value.status, e.value.kind) == (413, "too_many_pixels")
    assert e.value.message == ("bomb.png: 20000x20000 PNG is 400,000,000 pixels, above the limit of 40,000,000 "
                               "pixels (--max-pixels)")


def test_extreme_aspect_ratio_is_refused_by_its_resized_size():
    strip = _encode(".png", np.zeros((1, 20000, 3), np.uint8))  # 20 000 pixels, but 256 x 5 120 000 after resize
    with pytest.raises(RequestError) as e:
        check_image(strip, "strip.png", 40_000_000, CFG)
    assert e.value.kind == "too_many_pixels" and "resized to short side 256 is 5120000x256" in e.value.message
    assert check_image(_encode(".png"), "ok.png", 40_000_000, CFG).pixels == 90 * 60


def test_raw_body_whatever_its_content_type():
    png = _encode(".png")
    # curl --data-binary sends application/x-www-form-urlencoded
    [u] = parse_predict_body("application/x-www-form-urlencoded", png, None)
    assert (u.name, u.data) == ("image", png)
    assert parse_predict_body("image/png", png, "cat.png")[0].name == "cat.png"


def test_json_images_by_content_type_or_by_brace():
    png, jpg = _encode(".png"), _encode(".jpg")
    body = json.dumps({"images": [base64.b64encode(png).decode(), "data:image/jpeg;base64," + base64.b64encode(jpg).decode()]})
    for ctype in ("application/json", "application/x-www-form-urlencoded", ""):
        ups = parse_predict_body(ctype, body.encode(), None)
        assert [(u.name, u.data) for u in ups] == [("images[0]", png), ("images[1]", jpg)]
    named = json.dumps({"images": [base64.b64encode(png).decode()], "names": ["a.png"]}).encode()
    assert parse_predict_body("application/json", named, None)[0].name == "a.png"


@pytest.mark.parametrize("body,status,kind,words", [
    (b"", 400, "bad_request", "empty body"),
    (b'{"images": [', 400, "bad_json", "line 1 column 13"),
    (b'{"image": "x"}', 400, "bad_request", 'no "images" key'),
    (b'{"images": "abc"}', 400, "bad_request", 'a str "images" key'),
    (b'{"images": []}', 400, "bad_request", "no image in the request"),
    (b'{"images": ["not base64!"]}', 400, "bad_request", "images[0]: not valid base64"),
    (b'{"images": [42]}', 400, "bad_request", "images[0]: expected a non-empty base64 string, got int"),
    (b'{"images": ["aGk="], "names": [1]}', 400, "bad_request", '"names" must be a list of 1 strings'),
    (json.dumps({"images": ["aGk="] * (MAX_IMAGES + 1)}).encode(), 413, "too_many_images", f"at most {MAX_IMAGES}"),
])
def test_wrong_json_is_a_4xx_with_a_one_line_reason(body, status, kind, words):
    with pytest.raises(RequestError) as e:
        parse_predict_body("application/json", body, None)
    assert (e.value.status, e.value.kind) == (status, kind)
    assert words in e.value.message and "\n" not in e.value.message


def test_b64_data_uri_must_be_base64():
    with pytest.raises(RequestError, match="must be base64"):
        b64_image("data:image/png,rawtext", "x")


def _body(chunks, headers=None, limit=100):
    async def stream():
        for c in chunks:
            yield c

    return asyncio.run(read_body(headers or {}, stream(), limit))


def test_body_limit():
    assert _body([b"a" * 60, b"b" * 40]) == b"a" * 60 + b"b" * 40
    with pytest.raises(RequestError) as e:
        _body([b"a" * 60, b"b" * 41])  # read to the end (the client gets the 413, not a reset), then refused
    assert (e.value.status, e.value.kind) == (413, "body_too_large")
    assert "request body of 101 bytes is above the limit of 100 bytes" in e.value.message
    with pytest.raises(RequestError, match="more than 400"):
        _body([b"a" * 300, b"a" * 300])  # far above: cut without reading on
    with pytest.raises(RequestError, match="of 5,000 bytes"):
        _body([], {"content-length": "5000"})  # declared far above: refused before reading


def _multipart(files=None, data=None) -> tuple[str, bytes]:
    req = httpx.Request("POST", "http://x/predict", files=files, data=data)
    return req.headers["content-type"], req.read()


def test_multipart_files_named_by_file_name():
    png, jpg = _encode(".png"), _encode(".jpg")
    ctype, body = _multipart(files=[("file", ("cat.png", png, "image/png")), ("other", ("dog.jpg", jpg, "image/jpeg"))],
                             data={"note": "ignored"})
    ups = asyncio.run(parse_multipart(ctype, body))
    assert [(u.name, u.data) for u in ups] == [("cat.png", png), ("dog.jpg", jpg)]


def test_multipart_without_a_file_or_malformed():
    body = b'--xyz\r\nContent-Disposition: form-data; name="note"\r\n\r\nno file\r\n--xyz--\r\n'
    with pytest.raises(RequestError, match="no image in the request"):
        asyncio.run(parse_multipart("multipart/form-data; boundary=xyz", body))
    with pytest.raises(RequestError, match="malformed multipart body: Missing boundary"):
        asyncio.run(parse_multipart("multipart/form-data", b"junk"))


# -- Paddle Serving's pipeline protocol --------------------------------------------------------------

def pipeline_client_body(image_bytes: bytes) -> bytes:
    """The body PaddleClas's deploy/paddleserving/pipeline_http_client.py posts (requests.post(data=json.dumps(…)))."""
    image = base64.b64encode(image_bytes).decode("utf8")
    data = {"key": ["image"], "value": [image]}
    return json.dumps(data).encode()


def test_pipeline_request_as_paddleclas_client_builds_it():
    png = _encode(".png")
    [u] = paddle_serving.parse_request(pipeline_client_body(png))
    assert (u.name, u.data) == ("image", png)
    body = json.dumps({"key": ["a", "b"], "value": [base64.b64encode(png).decode()] * 2, "logid": 7}).encode()
    assert [u.name for u in paddle_serving.parse_request(body)] == ["a", "b"]


@pytest.mark.parametrize("body,words", [
    (b"not json", "body is not valid JSON"),
    (b'{"key": ["image"]}', 'needs "key" and "value" lists'),
    (b'{"key": ["image", "b"], "value": ["aGk="]}', "2 keys for 1 values"),
    (b'{"key": [], "value": []}', "no key/value pair"),
    (b'{"key": ["image"], "value": ["%%%"]}', "value of key 'image': not valid base64"),
])
def test_pipeline_request_errors(body, words):
    with pytest.raises(RequestError) as e:
        paddle_serving.parse_request(body)
    assert e.value.status == 400 and words in e.value.message
    assert paddle_serving.error_answer(e.value) == {"err_no": 5000, "err_msg": e.value.message, "key": [], "value": [],
                                                    "tensors": []}


def test_pipeline_answer_has_the_shape_paddleclas_documents():
    preds = [Prediction("image", [1, 0], [0.93414, 0.06586], ["daisy", "rose"]),
             Prediction("b", [0, 1], [0.7, 0.3], ["garter snake, grass snake", "x"])]
    ans = paddle_serving.answer(preds)
    assert ans == {"err_no": 0, "err_msg": "", "key": ["label", "prob"],
                   "value": ["['daisy', 'garter snake grass snake']", "[0.93414, 0.7]"], "tensors": []}
    assert ast.literal_eval(ans["value"][0]) == ["daisy", "garter snake grass snake"]
    assert paddle_serving.error_answer(RequestError(503, "not_ready", "loading"))["err_no"] == 3002


def test_postprocess_threshold_keeps_the_top_k_above_it():
    probs = np.array([[0.1, 0.6, 0.3], [0.34, 0.33, 0.33]], np.float32)
    a, b = postprocess(probs, ["a", "b"], ["x", "y", "z"], 2, threshold=0.3)
    assert (a.class_ids, a.label_names, a.scores) == ([1, 2], ["y", "z"], [0.6, 0.3])
    assert (b.class_ids, b.scores) == ([0, 1], [0.34, 0.33])
    a, b = postprocess(probs, ["a", "b"], ["x", "y", "z"], 3, threshold=0.5)
    assert (a.class_ids, b.class_ids, b.scores, b.label_names) == ([1], [], [], [])
    assert postprocess(probs, ["a", "b"], ["x", "y", "z"], 3)[1].class_ids == [0, 1, 2]


def test_doctor_lists_the_serving_packages():
    from edgeclas.doctor import python_rows

    rows = {r.name: r for r in python_rows()}
    for dist in ("uvicorn", "starlette", "python-multipart", "prometheus_client", "httpx"):
        assert rows[dist].found and rows[dist].version, dist
    assert "serve" in rows["uvicorn"].note
