"""``edgeclas serve`` on a real uvicorn over loopback with the small exported model: every route, the
Paddle Serving pipeline client's request, concurrent clients, bad input, and the CLI's life cycle
(curl as the README shows it, SIGTERM with requests in flight, several workers, a model that cannot load).

In-process servers run uvicorn in a thread on a socket bound to a free 127.0.0.1 port; CLI servers are
``edgeclas serve --port 0`` subprocesses. Both are always stopped, also when a test fails.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import dataclasses
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import pytest
from click.testing import CliRunner

from edgeclas.cli import cli
from edgeclas.errors import ConfigError, ModelError
from edgeclas.predict import format_json, predict
from edgeclas.serve import ServeSettings, resolve
from edgeclas.serve.app import create_app

from test_serve_inputs import pipeline_client_body, png_bomb

pytestmark = pytest.mark.integration

EDGECLAS = str(Path(sys.executable).with_name("edgeclas"))
LIMITS = dict(max_body_mb=3.0, max_pixels=4_000_000)


# -- servers -----------------------------------------------------------------------------------------

def wait_ready(url: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError):
            r = httpx.get(f"{url}/health", timeout=5)
            if r.status_code == 200:
                return r.json()
            assert r.status_code == 503 and r.json()["status"] == "loading", r.text
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not ready after {timeout} s")
        time.sleep(0.05)


@contextlib.contextmanager
def in_process(app, lifespan: str = "on"):
    """``app`` on uvicorn in a thread, on a socket bound to a free loopback port; stopped on exit."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan=lifespan, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()


class CliServer:
    """``edgeclas serve … --port 0`` in a subprocess; its output is collected by two reader threads."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([EDGECLAS, "serve", *args, "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(f,), daemon=True) for f in (self.proc.stdout, self.proc.stderr)]
        for t in self._readers:
            t.start()

    def _read(self, f) -> None:
        for line in f:
            self.lines.append(line)

    def url(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
                if m:
                    return m.group(1)
            assert self.proc.poll() is None, "".join(self.lines)
            time.sleep(0.05)
        raise TimeoutError("".join(self.lines))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t, f in zip(self._readers, (self.proc.stdout, self.proc.stderr)):
            t.join(10)
            f.close()
        return self.proc.returncode


@contextlib.contextmanager
def cli_server(*args: str):
    server = CliServer(*args)
    try:
        yield server
    finally:
        server.stop()


def metric(url: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


# -- fixtures ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def settings(model_dir) -> ServeSettings:
    return resolve(ServeSettings(str(model_dir), engine="onnxruntime", port=0, max_batch=8, max_delay_ms=20, **LIMITS))


@pytest.fixture(scope="module")
def server(settings):
    app = create_app(settings)
    with in_process(app) as url:
        wait_ready(url)
        yield url


@pytest.fixture(scope="module")
def expected(model_dir, sample_images) -> dict[str, dict]:
    """What ``edgeclas predict --json`` says for each sample image (ONNX Runtime, one image per call)."""
    preds = predict(model_dir, sample_images, engine="onnxruntime", topk_k=5, batch_size=1)
    return {Path(p.image).name: {**json.loads(format_json(p)), "image": Path(p.image).name} for p in preds}


def as_named(answer: dict, name: str) -> dict:
    return {**answer, "image": name}


# -- routes ------------------------------------------------------------------------------------------

def test_health_model_and_index(server, model_dir):
    h = httpx.get(f"{server}/health").json()
    assert h["status"] == "ready" and h["model"] == "clarity"
    assert h["engine"]["name"] == "onnxruntime" and h["engine"]["file"] == "model.onnx"
    assert httpx.get(f"{server}/model").json() == json.loads((model_dir / "manifest.json").read_text())
    assert "POST /predict" in httpx.get(f"{server}/").json()["routes"]


def test_predict_raw_multipart_and_json_answer_as_predict_does(server, sample_images, expected):
    for img in sample_images:
        want = expected[img.name]
        data = img.read_bytes()
        r = httpx.post(f"{server}/predict", content=data)  # no Content-Type at all
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        assert r.text == json.dumps(as_named(want, "image")) + "\n"
        r = httpx.post(f"{server}/predict?name={img.name}", content=data, headers={"content-type": "image/png"})
        assert json.loads(r.text) == want
    files = [("file", (p.name, p.read_bytes())) for p in sample_images]
    r = httpx.post(f"{server}/predict", files=files)
    assert [json.loads(line) for line in r.text.splitlines()] == [expected[p.name] for p in sample_images]
    body = {"images": [base64.b64encode(p.read_bytes()).decode() for p in sample_images]}
    r = httpx.post(f"{server}/predict", json=body)
    assert [json.loads(line) for line in r.text.splitlines()] == [
        as_named(expected[p.name], f"images[{i}]") for i, p in enumerate(sample_images)]


def test_paddle_serving_pipeline_client_request(server, sample_images, expected):
    """The request exactly as PaddleClas's pipeline_http_client.py builds it, to its URL path."""
    img = sample_images[1]
    r = httpx.post(f"{server}/imagenet/prediction", content=pipeline_client_body(img.read_bytes()))
    assert r.status_code == 200
    ans = r.json()
    assert list(ans) == ["err_no", "err_msg", "key", "value", "tensors"]
    assert (ans["err_no"], ans["err_msg"], ans["key"], ans["tensors"]) == (0, "", ["label", "prob"], [])
    assert all(isinstance(v, str) for v in ans["value"])
    want = expected[img.name]
    assert ast.literal_eval(ans["value"][0]) == [want["label_names"][0]]
    assert ast.literal_eval(ans["value"][1]) == [want["scores"][0]]
    # several key/value pairs are a batch, answered in key order
    b64 = [base64.b64encode(p.read_bytes()).decode() for p in sample_images]
    r = httpx.post(f"{server}/clarity/prediction", content=json.dumps({"key": [p.name for p in sample_images], "value": b64}))
    assert ast.literal_eval(r.json()["value"][0]) == [expected[p.name]["label_names"][0] for p in sample_images]
    # an error keeps the pipeline shape, with Paddle Serving's input-error code
    r = httpx.post(f"{server}/imagenet/prediction", content=json.dumps({"key": ["image"], "value": ["%%%"]}))
    assert r.status_code == 400
    assert r.json() == {"err_no": 5000, "err_msg": "value of key 'image': not valid base64 (Only base64 data is allowed)",
                        "key": [], "value": [], "tensors": []}


def test_concurrent_clients_are_batched_and_each_gets_its_own_answer(server, sample_images, expected):
    clients, per_client = 16, 20
    before_images = metric(server, "edgeclas_serve_images_total")
    before_batches = metric(server, "edgeclas_serve_batch_size_count")
    before_single = metric(server, "edgeclas_serve_batch_size_bucket", le="1.0")

    def client(c: int) -> list[str]:
        wrong = []
        with httpx.Client(timeout=60) as http:
            for i in range(per_client):
                img = sample_images[(c + i) % len(sample_images)]
                r = http.post(f"{server}/predict", content=img.read_bytes())
                if r.status_code != 200 or json.loads(r.text) != as_named(expected[img.name], "image"):
                    wrong.append(f"client {c} request {i} ({img.name}): {r.status_code} {r.text}")
        return wrong

    with ThreadPoolExecutor(clients) as pool:
        wrong = [w for ws in pool.map(client, range(clients)) for w in ws]
    assert wrong == []
    images = metric(server, "edgeclas_serve_images_total") - before_images
    batches = metric(server, "edgeclas_serve_batch_size_count") - before_batches
    single = metric(server, "edgeclas_serve_batch_size_bucket", le="1.0") - before_single
    assert images == clients * per_client
    assert batches < images and single < batches  # some engine calls carried several requests' images
    assert metric(server, "edgeclas_serve_images_in_flight") == 0


def _png(img_path: Path) -> bytes:
    return cv2.imencode(".png", cv2.imread(str(img_path)))[1].tobytes()


def _bad_inputs(sample: Path) -> list[tuple[str, dict, int, str, str]]:
    """(case, httpx.post kwargs, status, kind, words in the reason)"""
    png, jpg = _png(sample), cv2.imencode(".jpg", cv2.imread(str(sample)))[1].tobytes()
    garbage_png = png[:33] + bytes(200) + png[-12:]  # a whole PNG's header and end around data that is not zlib
    return [
        ("text", dict(content=b"hello, world"), 415, "not_an_image", "image: not a JPEG, PNG or BMP image"),
        ("truncated png", dict(content=png[: len(png) // 2]), 400, "truncated_image", "truncated PNG: no IEND chunk"),
        ("truncated jpeg", dict(content=jpg[: len(jpg) // 2]), 400, "truncated_image", "truncated JPEG: no end-of-image"),
        ("corrupt png", dict(content=garbage_png), 400, "corrupt_image", "cannot be decoded"),
        ("bomb", dict(content=png_bomb()), 413, "too_many_pixels", "20000x20000 PNG is 400,000,000 pixels"),
        ("body", dict(content=b"\xff\xd8\xff" + bytes(3_500_000)), 413, "body_too_large", "above the limit of 3,145,728"),
        ("empty", dict(content=b""), 400, "bad_request", "empty body"),
        ("json syntax", dict(content=b'{"images": [}'), 400, "bad_json", "not valid JSON"),
        ("json fields", dict(json={"image": "x"}), 400, "bad_request", 'no "images" key'),
        ("base64", dict(json={"images": ["@@"]}), 400, "bad_request", "images[0]: not valid base64"),
        ("multipart", dict(data={"a": "b"}, files={"x": ("note.txt", b"not an image")}), 415, "not_an_image", "note.txt"),
        ("json bad 2nd", dict(json={"images": [base64.b64encode(png).decode(), "aGVsbG8="]}), 415, "not_an_image", "images[1]"),
    ]


def test_bad_input_is_a_4xx_with_a_one_line_reason_and_counted(server, sample_images, expected):
    for case, kwargs, status, kind, words in _bad_inputs(sample_images[3]):
        before = metric(server, "edgeclas_serve_errors_total", kind=kind)
        r = httpx.post(f"{server}/predict", timeout=60, **kwargs)
        assert r.status_code == status, (case, r.text)
        assert r.text.endswith("\n") and r.text.count("\n") == 1, case
        body = r.json()
        assert body["kind"] == kind and words in body["error"], (case, body)
        assert metric(server, "edgeclas_serve_errors_total", kind=kind) == before + 1, case
    # and the server is fine afterwards
    r = httpx.post(f"{server}/predict", content=sample_images[0].read_bytes())
    assert json.loads(r.text) == as_named(expected[sample_images[0].name], "image")
    assert metric(server, "edgeclas_serve_requests_total", route="predict", status="500") == 0


def test_one_bad_image_fails_only_its_own_request(server, sample_images, expected):
    good = [p for p in sample_images for _ in range(3)]
    bad = _png(sample_images[0])[:-40]

    def post(data: bytes):
        return httpx.post(f"{server}/predict", content=data, timeout=60)

    with ThreadPoolExecutor(len(good) + 1) as pool:
        futures = [pool.submit(post, p.read_bytes()) for p in good]
        bad_future = pool.submit(post, bad)
        answers = [f.result() for f in futures]
    assert bad_future.result().status_code == 400
    assert [json.loads(r.text) for r in answers] == [as_named(expected[p.name], "image") for p in good]


def test_threshold_filters_predict_but_not_the_pipeline_answer(settings, sample_images, expected):
    img = sample_images[0]
    want = expected[img.name]
    cut = (want["scores"][0] + want["scores"][1]) / 2  # the top class passes, the second does not
    with in_process(create_app(dataclasses.replace(settings, threshold=cut))) as url:
        wait_ready(url)
        r = httpx.post(f"{url}/predict", content=img.read_bytes())
        assert json.loads(r.text) == {"image": "image", "class_ids": want["class_ids"][:1],
                                      "scores": want["scores"][:1], "label_names": want["label_names"][:1]}
        r = httpx.post(f"{url}/imagenet/prediction", content=pipeline_client_body(img.read_bytes()))
        assert ast.literal_eval(r.json()["value"][1]) == [want["scores"][0]]
    with in_process(create_app(dataclasses.replace(settings, threshold=1.0))) as url:
        wait_ready(url)
        r = httpx.post(f"{url}/predict", content=img.read_bytes())
        assert json.loads(r.text) == {"image": "image", "class_ids": [], "scores": [], "label_names": []}
        r = httpx.post(f"{url}/imagenet/prediction", content=pipeline_client_body(img.read_bytes()))
        assert ast.literal_eval(r.json()["value"][0]) == [want["label_names"][0]]


def test_not_ready_until_the_model_is_loaded(settings):
    """Without lifespan startup the model never loads: every route that needs it answers 503."""
    with in_process(create_app(settings), lifespan="off") as url:
        r = httpx.get(f"{url}/health")
        assert (r.status_code, r.json()["status"]) == (503, "loading")
        r = httpx.post(f"{url}/predict", content=b"\x89PNG")
        assert (r.status_code, r.json()["kind"], r.headers["retry-after"]) == (503, "not_ready", "1")
        r = httpx.post(f"{url}/imagenet/prediction", content=pipeline_client_body(b"x"))
        assert (r.status_code, r.json()["err_no"]) == (503, 3002)
        assert httpx.get(f"{url}/model").status_code == 200  # the manifest does not need the engine


# -- the CLI -----------------------------------------------------------------------------------------

def test_cli_serves_curl_and_finishes_in_flight_requests_on_sigterm(model_dir, sample_images, expected):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed (scripts/bootstrap.sh installs it)")
    # A long batch delay keeps requests in flight long enough to send SIGTERM in the middle of them.
    with cli_server(str(model_dir), "--engine", "onnxruntime", "--max-batch", "64", "--max-delay-ms", "1500") as srv:
        url = srv.url()
        wait_ready(url)
        img = sample_images[0]
        out = subprocess.run([curl, "-s", "--data-binary", f"@{img}", f"{url}/predict"], capture_output=True, text=True,
                             timeout=60)
        assert out.stdout == json.dumps(as_named(expected[img.name], "image")) + "\n"

        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(httpx.post, f"{url}/predict", content=p.read_bytes(), timeout=60)
                       for p in sample_images + sample_images[:2]]
            deadline = time.monotonic() + 30
            while metric(url, "edgeclas_serve_images_in_flight") < 6:
                assert time.monotonic() < deadline, "requests never arrived"
                time.sleep(0.02)
            srv.proc.send_signal(signal.SIGTERM)
            answers = [f.result() for f in futures]
        assert [r.status_code for r in answers] == [200] * 6
        assert [json.loads(r.text)["class_ids"] for r in answers] == [
            expected[p.name]["class_ids"] for p in sample_images + sample_images[:2]]
        assert srv.stop() == 0
    log = "".join(srv.lines)
    assert "Shutting down" in log and "Traceback" not in log, log


def test_cli_paddle_engine_keeps_sigterm_graceful(model_dir, sample_images):
    """Paddle replaces the process's SIGTERM handler with its own (a "FatalError" dump and death) when it
    loads; the server takes it back, so SIGTERM still drains and exits 0."""
    with cli_server(str(model_dir), "--engine", "paddle", "--no-access-log") as srv:
        url = srv.url()
        assert wait_ready(url)["engine"]["name"] == "paddle"
        r = httpx.post(f"{url}/predict", content=sample_images[0].read_bytes(), timeout=60)
        assert r.status_code == 200 and json.loads(r.text)["label_names"]
        assert srv.stop() == 0
    log = "".join(srv.lines)
    assert "Shutting down" in log and "FatalError" not in log, log


def test_cli_workers_share_the_port_and_their_metrics(model_dir, sample_images):
    with cli_server(str(model_dir), "--engine", "onnxruntime", "--workers", "2", "--no-access-log") as srv:
        url = srv.url()
        wait_ready(url)
        with httpx.Client(timeout=60) as http:  # a new connection each time lets either worker answer
            for i in range(12):
                r = http.post(f"{url}/predict", content=sample_images[i % 4].read_bytes(), headers={"connection": "close"})
                assert r.status_code == 200, r.text
        # counted before each answer left its worker, summed over both whichever answers /metrics
        assert metric(url, "edgeclas_serve_requests_total", route="predict", status="200") == 12
        assert srv.stop() == 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_model_that_cannot_load_is_one_error_line(model_dir, tmp_path, workers):
    broken = Path(shutil.copytree(model_dir, tmp_path / "broken"))
    (broken / "model.onnx").write_bytes(b"not an onnx model")
    out = subprocess.run([EDGECLAS, "serve", str(broken), "--engine", "onnxruntime", "--port", "0", "--workers", workers],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == ModelError.exit_code, out.stderr
    assert re.search(r"^error: .*broken: cannot serve with the onnxruntime engine: ", out.stderr, re.M), out.stderr
    assert "hint: " in out.stderr and "Traceback" not in out.stderr


def test_cli_refuses_bad_options_before_serving(model_dir, tmp_path):
    run = CliRunner().invoke
    r = run(cli, ["serve", str(tmp_path)])
    assert r.exit_code == ModelError.exit_code and "no manifest.json" in r.output
    r = run(cli, ["serve", str(model_dir), "--max-batch", "0"])
    assert r.exit_code == ConfigError.exit_code and "error: --max-batch 0: must be >= 1" in r.output
    r = run(cli, ["serve", str(model_dir), "--threshold", "2"])
    assert r.exit_code == ConfigError.exit_code and "--threshold 2.0: must be between 0 and 1" in r.output
    r = run(cli, ["serve", str(model_dir), "--engine", "tflite"])
    assert r.exit_code == ConfigError.exit_code and "--engine 'tflite': unknown engine" in r.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = run(cli, ["serve", str(model_dir), "--port", str(busy.getsockname()[1])])
    assert r.exit_code == ConfigError.exit_code and "cannot listen there" in r.output


def test_settings_travel_to_workers_unchanged(settings):
    assert ServeSettings.from_json(settings.to_json()) == settings
