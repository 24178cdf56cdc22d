"""Pretrained weights by PaddleClas name: the table, and the download against a local HTTP server that
serves a .pdparams made here (``$EDGECLAS_PRETRAINED_URL`` points edgeclas at it): once into the cache,
resumed after a cut, rejected when it is not weights, and a clear hint when offline."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from edgeclas.errors import ConfigError, ModelError
from edgeclas.models import ARCHS
from edgeclas.models import zoo


def test_names_resolve_to_paddleclas_addresses(monkeypatch):
    monkeypatch.delenv(zoo.BASE_URL_ENV, raising=False)
    e = zoo.lookup("PPLCNet_x1_0_ssld")
    assert (e.arch, e.file) == ("PPLCNet_x1_0", "PPLCNet_x1_0_ssld_pretrained.pdparams")
    assert e.url == ("https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/"
                     "PPLCNet_x1_0_ssld_pretrained.pdparams")
    assert zoo.lookup("MobileNetV3_small_x0_35_pretrained").file == "MobileNetV3_small_x0_35_pretrained.pdparams"
    assert zoo.lookup("PPLCNetV2_base_ssld.pdparams").arch == "PPLCNetV2_base"
    assert zoo.lookup("ResNet101_vd_ssld").file == "ResNet101_vd_ssld_pretrained.pdparams"  # SKL-UGI's teacher
    assert all(w.arch in ARCHS for w in zoo.PRETRAINED.values())
    assert {a for a in ARCHS} <= {w.arch for w in zoo.PRETRAINED.values()}  # every arch has ImageNet weights
    monkeypatch.setenv(zoo.BASE_URL_ENV, "http://127.0.0.1:9/mirror")
    assert zoo.lookup("PPLCNet_x0_5").url == "http://127.0.0.1:9/mirror/PPLCNet_x0_5_pretrained.pdparams"
    assert zoo.is_name("PPLCNet_x1_0_ssld") and not zoo.is_name("weights/x.pdparams")


def test_unknown_name_lists_the_nearest():
    with pytest.raises(ModelError, match="'PPLCNet_x1_0_sld' is neither a file nor") as e:
        zoo.lookup("PPLCNet_x1_0_sld")
    assert "PPLCNet_x1_0_ssld" in e.value.hint
    with pytest.raises(ModelError, match="no SSLD weights for PPLCNet_x0_35") as e:
        zoo.lookup("PPLCNet_x0_35_ssld")
    assert "use its ImageNet weights, PPLCNet_x0_35" in e.value.hint


class _Server:
    """Serves ``files`` at /NAME with HTTP Range support; ``cut_after`` bytes then hangs up (once)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_after: int | None = None
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                part = body[start:]
                if server.cut_after is not None:
                    part, server.cut_after = part[: server.cut_after], None
                    self.wfile.write(part)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture
def server(monkeypatch, tmp_path: Path):
    s = _Server()
    monkeypatch.setenv(zoo.BASE_URL_ENV, s.url)
    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def imagenet_weights(tmp_path_factory) -> bytes:
    """A PP-LCNet x0.25 state dict with a 1000-class classifier, saved as PaddleClas saves .pdparams."""
    pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")
    import paddle

    from edgeclas.models import build_model

    paddle.seed(3)
    path = tmp_path_factory.mktemp("w") / "w.pdparams"
    paddle.save(build_model("PPLCNet_x0_25", 1000).state_dict(), str(path))
    return path.read_bytes()


def _model():
    from edgeclas.models import build_model

    return build_model("PPLCNet_x0_25", 2)


def test_download_once_then_load_with_the_report(server, imagenet_weights, tmp_path: Path):
    from edgeclas.models import load_pretrained

    server.files["PPLCNet_x0_25_ssld_pretrained.pdparams"] = imagenet_weights
    report = load_pretrained(_model(), "PPLCNet_x0_25_ssld", progress=False)
    cached = tmp_path / "cache" / "pretrained" / "PPLCNet_x0_25_ssld_pretrained.pdparams"
    assert cached.read_bytes() == imagenet_weights and report.path == str(cached)
    assert report.complete and report.reinitialized == ["fc.weight", "fc.bias"]  # 1000 classes → 2
    assert [p for p, _ in server.requests] == ["/PPLCNet_x0_25_ssld_pretrained.pdparams"]
    load_pretrained(_model(), "PPLCNet_x0_25_ssld", progress=False)
    assert len(server.requests) == 1  # the second time it comes from the cache
    assert not list(cached.parent.glob(".*.partial"))


def test_cut_download_leaves_no_file_and_resumes(server, imagenet_weights, tmp_path: Path):
    from edgeclas.models import load_pretrained

    server.files["PPLCNet_x0_25_pretrained.pdparams"] = imagenet_weights
    server.cut_after = 100_000
    with pytest.raises(ModelError, match=r"pretrained PPLCNet_x0_25: .*100000 .*of .*weights") as e:
        load_pretrained(_model(), "PPLCNet_x0_25", progress=False)
    assert "again to resume" in e.value.hint
    cached = tmp_path / "cache" / "pretrained" / "PPLCNet_x0_25_pretrained.pdparams"
    partial = cached.with_name(f".{cached.name}.partial")
    assert not cached.exists() and partial.stat().st_size == 100_000  # no half file under the real name
    load_pretrained(_model(), "PPLCNet_x0_25", progress=False)
    assert server.requests[-1][1] == "bytes=100000-"  # resumed where it stopped
    assert cached.read_bytes() == imagenet_weights and not partial.exists()


def test_not_weights_is_rejected_and_removed(server, tmp_path: Path):
    pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")
    from edgeclas.models import load_pretrained

    server.files["PPLCNet_x0_25_pretrained.pdparams"] = b"<html>503 Service Unavailable</html>" * 40
    with pytest.raises(ModelError, match="the download is not a .pdparams file"):
        load_pretrained(_model(), "PPLCNet_x0_25", progress=False)
    assert not list((tmp_path / "cache" / "pretrained").iterdir()) or \
        all(p.name.endswith(".lock") for p in (tmp_path / "cache" / "pretrained").iterdir())


def test_offline_names_the_file_to_place(monkeypatch, tmp_path: Path):
    pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")
    from edgeclas.models import load_pretrained

    monkeypatch.setenv(zoo.BASE_URL_ENV, "http://127.0.0.1:1/")  # nothing listens on port 1
    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelError, match="pretrained PPLCNet_x1_0_ssld: .*cannot connect") as e:
        load_pretrained(_model(), "PPLCNet_x1_0_ssld", progress=False)
    assert "PPLCNet_x1_0_ssld_pretrained.pdparams" in e.value.hint
    assert str(tmp_path / "cache" / "pretrained" / "PPLCNet_x1_0_ssld_pretrained.pdparams") in e.value.hint


def test_pulc_person_exists_recipe_trains_from_ssld_weights_by_name(server, tmp_path: Path):
    """PaddleClas's recipe (pretrained: True, use_ssld: True, TimmAutoAugment + RandomErasing) with its paths
    pointed at a small folder dataset: the SSLD weights of PPLCNet_x1_0 come from the local server."""
    pytest.importorskip("skimage", reason="scikit-image not installed (pip install -e .[data])")
    import json

    import paddle

    from edgeclas.data import sample
    from edgeclas.models import build_model
    from edgeclas.train import train

    paddle.seed(4)
    weights = tmp_path / "x1.pdparams"
    paddle.save(build_model("PPLCNet_x1_0", 1000).state_dict(), str(weights))
    server.files["PPLCNet_x1_0_ssld_pretrained.pdparams"] = weights.read_bytes()
    data = sample("clarity", tmp_path / "data", num=24, seed=4).root
    recipe = Path(__file__).parent / "data" / "pulc" / "person_exists.yaml"
    r = train(recipe, [
        f"Global.dataset_dir={data}", f"Global.output_dir={tmp_path / 'run'}", "Global.epochs=1",
        "Global.steps_per_epoch=1", "Global.start_eval_epoch=1", "DataLoader.Train.sampler.batch_size=4",
        "Global.image_shape=[3, 64, 64]", "DataLoader.Train.dataset.transform_ops.1.RandCropImage.size=64",
        "DataLoader.Train.dataset.transform_ops.3.TimmAutoAugment.prob=1.0",
        "DataLoader.Train.dataset.transform_ops.3.TimmAutoAugment.img_size=64",
        "DataLoader.Eval.dataset.transform_ops.1.ResizeImage.resize_short=73",
        "DataLoader.Eval.dataset.transform_ops.2.CropImage.size=64"])
    assert r.pretrained is not None and r.pretrained.complete and r.pretrained.path.endswith(
        "PPLCNet_x1_0_ssld_pretrained.pdparams")
    rec = json.loads((r.run_dir / "metrics.jsonl").read_text())
    assert "eval_tpr@fpr=0.001" in rec and "eval_top2" in rec
    assert (r.run_dir / "epoch_1" / "model.pdparams").is_file()  # save_interval: 1


def test_pretrained_settings_conflict_is_refused():
    from edgeclas.train.config import validate

    with pytest.raises(ConfigError, match="either Global.pretrained_model or Arch.pretrained"):
        validate({"Global": {"pretrained_model": "a.pdparams"}, "Arch": {"pretrained": "PPLCNet_x1_0"}})
