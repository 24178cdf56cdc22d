"""Deploy against the emulated ARM device through the real adb server: end to end, re-deploy, hostile
names, and every fault (crash, hang, garbage, truncation, failure, no space, device gone)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fixtures_device import qemu_pids

from edgeclas.deploy import RunSettings, deploy, make_bundle, run_bundle, sync_bundle
from edgeclas.device import (
    AdbServer,
    AdbServerError,
    DeviceNotFound,
    DeviceOffline,
    OutputParseError,
    PushError,
    RemoteCommandError,
    RemoteCrash,
    RemoteTimeout,
    select_device,
)
from edgeclas.errors import ConfigError, DeviceError
from edgeclas.manifest import read_manifest, write_manifest

pytestmark = pytest.mark.integration

HOSTILE = "a b'; touch pwned; '.png"


@pytest.fixture
def images(tmp_path, sample_images) -> Path:
    d = tmp_path / "images"
    d.mkdir()
    shutil.copy(sample_images[0], d / HOSTILE)
    for p in sample_images[1:3]:
        shutil.copy(p, d / p.name)
    return d


def _remote(tmp_path: Path) -> str:
    # one remote dir per test, so tests never see each other's files on the shared device
    return f"/data/local/tmp/edgeclas-test/{tmp_path.name}"


def _discriminative_model(model_dir: Path, dst: Path) -> Path:
    """A copy of ``model_dir`` whose model.onnx is a small random conv net (seeded).

    The trained test model is confident (0.99/0.01 on most photos), so agreeing with it within 1e-3
    proves less; this one gives clearly different probabilities per image.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeclas.manifest import update_manifest
    from edgeclas.model_dir import ModelDir

    shutil.copytree(model_dir, dst)
    md = ModelDir.load(dst)
    size, classes = md.input_size[1], md.class_num
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.5).astype(np.float32), "cw"),
             numpy_helper.from_array((rng.standard_normal((8, classes)) * 4).astype(np.float32), "fw"),
             numpy_helper.from_array(np.zeros(classes, np.float32), "fb")]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "cw"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("GlobalAveragePool", ["r"], ["g"]),
         helper.make_node("Flatten", ["g"], ["f"], axis=1),
         helper.make_node("Gemm", ["f", "fw", "fb"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probs"], axis=1)],
        "discriminative",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", classes])], inits)
    onnx_file = md.onnx_file
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(onnx_file))
    update_manifest(dst, "model", lambda m: [onnx_file.relative_to(dst).as_posix()])  # recorded as convert does
    return dst


@pytest.mark.parametrize("which", ["trained", "discriminative"])
def test_deploy_end_to_end_matches_host_onnxruntime(request, which, emulator, model_dir, images, tmp_path):
    """The real armv8 Linux ORT build on the emulated phone: top-1 and probabilities equal host ORT."""
    from _pytest.fixtures import FixtureLookupError

    try:
        build = request.getfixturevalue("armv8_linux_build")
    except FixtureLookupError:
        pytest.skip("fixture armv8_linux_build (tests/fixtures_build.py, edgeclas build) is not available yet")
    build_dir = Path(getattr(build, "out", build))
    from edgeclas.engines import load
    from edgeclas.model_dir import ModelDir
    from edgeclas.preprocess import load_batch

    model = model_dir if which == "trained" else _discriminative_model(model_dir, tmp_path / "model")
    out = tmp_path / "result.json"
    res = deploy(emulator.serial, model, images, build_dir=build_dir,
                 settings=RunSettings(threads=2, repeats=3, timeout_s=240),
                 remote_dir=_remote(tmp_path), out=out, bundle_dir=tmp_path / "bundle")
    md = ModelDir.load(model)
    probs = load("onnxruntime", model)(load_batch([res.bundle.image_sources[i] for i in res.bundle.images], md.preprocess))
    if which == "discriminative":  # the check below can only fail if the reference itself says something
        assert float(abs(probs - 0.5).max()) > 0.1 and float(probs[:, 0].max() - probs[:, 0].min()) > 0.01
    for i, rel in enumerate(res.bundle.images):
        p = res.run.prediction(rel)
        assert p is not None, rel
        assert p.top1 == int(probs[i].argmax()), rel
        assert p.probs is not None and max(abs(a - b) for a, b in zip(p.probs, probs[i])) < 1e-3, rel
    assert res.run.engine == "onnxruntime" and res.run.latency.mean > 0 and len(res.run.latency.samples) >= 3
    record = json.loads(out.read_text())
    assert record["status"] == "ok" and record["device"]["abi"] == "arm64-v8a"
    assert record["sync"]["bytes_pushed"] > 0 and record["cleaned"] is True
    assert not (emulator.root / _remote(tmp_path).lstrip("/")).exists()


def test_redeploy_of_unchanged_bundle_pushes_nothing(emulator, fake_build, model_dir, images, tmp_path):
    remote = _remote(tmp_path)
    kw = dict(remote_dir=remote, keep=True, bundle_dir=tmp_path / "bundle", out=tmp_path / "r.json")
    first = deploy(emulator.serial, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(), **kw)
    assert first.sync.files_pushed == len(first.bundle.files) and first.sync.bytes_pushed == first.bundle.size_bytes
    second = deploy(emulator.serial, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(), **kw)
    assert (second.sync.files_pushed, second.sync.bytes_pushed) == (0, 0)
    assert second.sync.files_skipped == len(second.bundle.files)
    third = deploy(emulator.serial, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(threads=2),
                   **kw)
    assert third.sync.files_pushed == 1  # only config.txt changed
    assert (emulator.root / remote.lstrip("/") / "ran.marker").is_file()  # it ran inside the bundle dir
    deploy(emulator.serial, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(),
           **{**kw, "keep": False})
    assert not (emulator.root / remote.lstrip("/")).exists()


def test_hostile_file_name_deploys_and_runs_nothing_else(emulator, fake_build, model_dir, images, tmp_path):
    res = deploy(emulator.serial, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(),
                 remote_dir=_remote(tmp_path), out=tmp_path / "r.json", bundle_dir=tmp_path / "bundle")
    assert res.run.prediction("images/" + HOSTILE) is not None
    assert len(res.run.predictions) == 3
    assert not list(emulator.root.rglob("pwned")), "a file name was executed by the device shell"


def test_file_names_that_are_not_utf8_deploy_and_the_result_json_is_written(emulator, fake_build, model_dir,
                                                                            sample_images, tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    raw = os.path.join(os.fsencode(d), b"caf\xe9 \xff.png")  # Latin-1 names from an old camera or a zip
    shutil.copy(sample_images[0], os.fsdecode(raw))
    shutil.copy(sample_images[1], d / "ok.png")
    out = tmp_path / "r.json"
    res = deploy(emulator.serial, model_dir, d, build_dir=fake_build("OK"), settings=RunSettings(),
                 remote_dir=_remote(tmp_path), out=out, bundle_dir=tmp_path / "bundle")
    shown = "images/caf\\xe9 \\xff.png"  # the device gets a UTF-8 name: the bytes as \xNN escapes
    assert sorted(res.bundle.images) == [shown, "images/ok.png"] and res.run.prediction(shown) is not None
    record = json.loads(out.read_bytes().decode("utf-8"))  # valid UTF-8 JSON
    assert record["status"] == "ok"
    assert os.fsencode(record["bundle"]["image_sources"][shown]) == os.path.realpath(raw)  # the exact source
    from click.testing import CliRunner

    from edgeclas.cli import cli

    r = CliRunner().invoke(cli, ["deploy", "--device", emulator.serial, "--model", str(model_dir), "--images", str(d),
                                 "--build", str(fake_build("OK")), "--remote-dir", _remote(tmp_path),
                                 "--out", str(tmp_path / "r2.json"), "--bundle-dir", str(tmp_path / "b2")])
    assert r.exit_code == 0 and "caf\\xe9 \\xff.png" in r.output, r.output


def test_run_with_other_settings_pushes_a_separate_config(emulator, fake_build, model_dir, images, tmp_path):
    dev = select_device(emulator.serial)
    bundle = make_bundle(fake_build("OK"), model_dir, images, RunSettings(), tmp_path / "bundle")
    remote = _remote(tmp_path)
    sync_bundle(dev, bundle, remote)
    run_bundle(dev, remote, bundle, RunSettings(threads=3))
    cfg = (emulator.root / remote.lstrip("/") / "config.run.txt").read_text()
    assert "\nnum_threads 3\n" in cfg
    assert "\nnum_threads 1\n" in (emulator.root / remote.lstrip("/") / "config.txt").read_text()


def _fault(emulator, fake_build, model_dir, images, tmp_path, mode, exc, settings=RunSettings()):
    out = tmp_path / "r.json"
    with pytest.raises(exc) as e:
        deploy(emulator.serial, model_dir, images, build_dir=fake_build(mode), settings=settings,
               remote_dir=_remote(tmp_path), out=out, bundle_dir=tmp_path / "bundle")
    record = json.loads(out.read_text())
    assert str(out) in e.value.hint  # the user is told where the partial results are
    assert record["status"] == "error" and record["error"]["type"] == exc.__name__
    assert record["error"]["hint"]
    assert record["cleaned"] is True and not (emulator.root / _remote(tmp_path).lstrip("/")).exists()
    return e.value, record


def test_crash_is_a_remote_crash_with_partial_results(emulator, fake_build, model_dir, images, tmp_path):
    err, record = _fault(emulator, fake_build, model_dir, images, tmp_path, "CRASH", RemoteCrash)
    assert "SIGSEGV" in err.message and "exit 139" in err.message
    assert record["run"]["exit_code"] == 139
    assert len(record["run"]["predictions"]) == 1  # the line printed before the crash is kept
    assert "about to crash" in record["run"]["stderr"]


def test_hang_is_killed_on_the_device(emulator, fake_build, model_dir, images, tmp_path):
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:  # proves the process check below can see the binary while it runs
        while not stop.is_set():
            seen.extend(qemu_pids(emulator.root, "clas_system"))
            time.sleep(0.2)

    t = threading.Thread(target=watch)
    t.start()
    try:
        err, record = _fault(emulator, fake_build, model_dir, images, tmp_path, "HANG", RemoteTimeout,
                             RunSettings(timeout_s=3))
    finally:
        stop.set()
        t.join()
    assert seen, "never saw the hanging binary run"
    assert record["run"]["exit_code"] == 124 and len(record["run"]["predictions"]) == 1
    deadline = time.monotonic() + 10
    while qemu_pids(emulator.root, "clas_system") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not qemu_pids(emulator.root, "clas_system"), "the timed-out process is still running"


def test_host_side_deadline_closes_the_stream_and_the_device_kills_the_process(emulator, fake_build, tmp_path):
    dev = select_device(emulator.serial)
    remote = _remote(tmp_path)
    dev.shell(["mkdir", "-p", remote])
    dev.push(fake_build("HANG") / "bin" / "clas_system", remote + "/hang", mode=0o755)
    dev.shell(["mkdir", "-p", remote + "/images/x"])
    with pytest.raises(RemoteTimeout) as e:
        dev.shell(f"cd {remote} && ./hang c images", timeout=2.5)  # no device-side timeout here
    assert '"type": "image"' in e.value.partial.stdout  # what it printed before the deadline is kept
    deadline = time.monotonic() + 10
    while qemu_pids(emulator.root, "hang") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not qemu_pids(emulator.root, "hang")
    dev.shell(["rm", "-rf", remote])


def test_garbage_output_keeps_the_raw_text(emulator, fake_build, model_dir, images, tmp_path):
    err, record = _fault(emulator, fake_build, model_dir, images, tmp_path, "GARBAGE", OutputParseError)
    assert "not json at all" in record["run"]["stdout"]
    assert "neither JSON" in err.message


def test_truncated_output_names_the_line(emulator, fake_build, model_dir, images, tmp_path):
    err, record = _fault(emulator, fake_build, model_dir, images, tmp_path, "TRUNC", OutputParseError)
    assert "truncated" in err.message
    assert len(record["run"]["predictions"]) == 1


def test_failing_binary_reports_its_error_line(emulator, fake_build, model_dir, images, tmp_path):
    err, record = _fault(emulator, fake_build, model_dir, images, tmp_path, "FAIL", RemoteCommandError)
    assert "bad value for key 'num_threads'" in err.message and "exit 3" in err.message


def test_build_for_another_abi_or_os_is_refused(emulator, fake_build, model_dir, images, tmp_path):
    for abi, os_name, match in (("x86_64", "linux", "built for x86_64"), ("arm64-v8a", "android", "needs linux")):
        build = tmp_path / f"build-{abi}-{os_name}"
        shutil.copytree(fake_build("OK"), build)
        m = read_manifest(build, "build")
        body = {k: v for k, v in m.items() if k not in ("kind", "schema", "edgeclas_version", "created", "files")}
        body["target"] = {**body["target"], "abi": abi, "os": os_name}
        write_manifest(build, "build", body, m["files"])
        with pytest.raises(ConfigError, match=match) as e:
            deploy(emulator.serial, model_dir, images, build_dir=build, settings=RunSettings(),
                   remote_dir=_remote(tmp_path), out=tmp_path / "r.json")
        assert "edgeclas build --arch armv8 --os linux" in e.value.hint


def test_push_beyond_the_quota_is_a_push_error(emulator_factory, tmp_path):
    emu = emulator_factory(quota_mb=1)
    dev = select_device(emu.serial)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    with pytest.raises(PushError) as e:
        dev.push(big, "/data/local/tmp/big.bin")
    assert "space" in e.value.message.lower() and "df" in e.value.hint
    assert dev.shell(["echo", "still", "alive"]).stdout == "still alive\n"  # the device survived the failure


def test_emulator_killed_mid_push(emulator_factory, tmp_path):
    emu = emulator_factory()
    dev = select_device(emu.serial)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(64 * 1024 * 1024))
    landing = emu.root / "data" / "local" / "tmp"
    done = threading.Event()
    killed = threading.Event()

    def kill_once_data_arrives() -> None:  # kill the device while the file is only partly written
        while not done.is_set():
            if any(p.is_file() and p.stat().st_size > 0 for p in landing.iterdir()):
                emu.kill()
                killed.set()
                return
            time.sleep(0.002)

    t = threading.Thread(target=kill_once_data_arrives)
    t.start()
    try:
        with pytest.raises(PushError, match="connection lost") as e:
            dev.push(big, "/data/local/tmp/big.bin")
    finally:
        done.set()
        t.join()
    assert killed.is_set()
    assert emu.serial in e.value.message
    # a device lost mid-push is not a full disk: the hint says to reconnect, not to check free space
    assert "went away" in e.value.hint and "space" not in e.value.hint and "df" not in e.value.hint
    # the adb server reports the device as gone or offline: selecting it again says so clearly
    with pytest.raises((DeviceOffline, DeviceNotFound)):
        select_device(emu.serial)


def test_unknown_device_and_missing_server(adb_server, emulator):
    with pytest.raises(DeviceNotFound, match="connected: .*" + emulator.serial.replace(".", r"\.")):
        select_device("no-such-serial")
    with pytest.raises(DeviceNotFound, match="adb connect said"):
        select_device("127.0.0.1:1")
    from edgeclas.emulator.manager import free_port

    port = free_port()
    with pytest.raises(AdbServerError, match=f"127.0.0.1:{port}"):
        select_device(emulator.serial, AdbServer.resolve(f"127.0.0.1:{port}"))
    # the CLI turns it into one line and the device exit code, without a traceback
    from click.testing import CliRunner

    from edgeclas.cli import cli

    res = CliRunner().invoke(cli, ["devices", "--adb-server", f"127.0.0.1:{port}"])
    assert res.exit_code == DeviceError.exit_code
    assert f"error: no adb server answers at 127.0.0.1:{port}" in res.output and "Traceback" not in res.output


def test_offline_device_is_reported_as_offline(emulator_factory):
    emu = emulator_factory()
    emu.kill()
    # the adb server keeps a dropped network device listed as offline while it retries
    deadline = time.monotonic() + 15
    state = None
    while time.monotonic() < deadline:
        state = dict(AdbServer.resolve().list()).get(emu.serial)
        if state != "device":
            break
        time.sleep(0.2)
    if state is None:
        with pytest.raises(DeviceNotFound):
            select_device(emu.serial)
    else:
        assert state == "offline"
        with pytest.raises(DeviceOffline, match="offline"):
            select_device(emu.serial)


def test_devices_cli_shows_the_emulated_device(emulator):
    from click.testing import CliRunner

    from edgeclas.cli import cli

    res = CliRunner().invoke(cli, ["devices", "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    (row,) = [r for r in rows if r["serial"] == emulator.serial]
    assert row["state"] == "device" and row["abi"] == "arm64-v8a"
    assert row["build_target"] == "linux-armv8"  # the emulated device runs glibc binaries
    assert [c["role"] for c in row["clusters"]] == ["little", "big", "prime"]
    assert row["model"] == "edgeclas emulated armv8" and row["soc"] == "QTI SM8150"
    table = CliRunner().invoke(cli, ["devices"], env={"COLUMNS": "220"})
    assert emulator.serial in table.output and "4×1.79 + 3×2.42 + 1×2.84 GHz" in table.output


def test_cli_deploy_picks_the_build_for_the_device_and_prints_results(emulator, fake_build, model_dir, images,
                                                                      tmp_path, monkeypatch):
    """No --build: the build for the device's ABI/userland (build/linux-armv8-onnxruntime) is found and used."""
    from click.testing import CliRunner

    from edgeclas.cli import cli

    monkeypatch.chdir(tmp_path)
    shutil.copytree(fake_build("OK"), tmp_path / "build" / "linux-armv8-onnxruntime")
    res = CliRunner().invoke(cli, ["deploy", "--device", emulator.serial, "--model", str(model_dir), "--images",
                                   str(images), "--remote-dir", _remote(tmp_path), "--engine", "onnxruntime"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "pushed" in res.output and "latency ms:" in res.output and "clear" in res.output
    record = json.loads(next((tmp_path / "bundles").glob("*.result.json")).read_text())
    assert record["status"] == "ok" and record["build"].endswith("build/linux-armv8-onnxruntime")
    assert len(record["run"]["predictions"]) == 3


def test_cli_deploy_user_errors_are_one_line(emulator, model_dir, images, tmp_path):
    from click.testing import CliRunner

    from edgeclas.cli import cli

    res = CliRunner().invoke(cli, ["deploy", "--device", emulator.serial, "--model", str(tmp_path / "nope"),
                                   "--images", str(images)])
    assert res.exit_code == 4 and res.output.startswith("error: ") and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["deploy", "--device", emulator.serial, "--model", str(model_dir),
                                   "--images", str(images), "--remote-dir", "/data/local/tmp"])
    assert res.exit_code == 2 and "remote dir '/data/local/tmp' is not usable" in res.output


def test_armv8_build_is_refused_on_a_32bit_only_device(emulator_factory, fake_build, model_dir, images, tmp_path):
    emu = emulator_factory(arch="armv7")
    with pytest.raises(ConfigError, match="built for arm64-v8a but device .* runs armeabi-v7a, armeabi") as e:
        deploy(emu.serial, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(),
               remote_dir=_remote(tmp_path), out=tmp_path / "r.json")
    assert "--arch armv7" in e.value.hint
    assert not (tmp_path / "r.json").exists()  # refused before anything was pushed or run


def test_explicit_adb_server_address_is_used(emulator, monkeypatch):
    """--adb-server HOST:PORT (how a pool of phones on another machine is reached) overrides the environment."""
    from click.testing import CliRunner

    from edgeclas.cli import cli

    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "1")  # would be wrong if it were used
    res = CliRunner().invoke(cli, ["devices", "--json", "--adb-server", f"127.0.0.1:{emulator.adb_port}"])
    assert res.exit_code == 0, res.output
    assert emulator.serial in [json.loads(line)["serial"] for line in res.output.splitlines() if line.startswith("{")]
    monkeypatch.setenv("EDGECLAS_ADB_SERVER", f"127.0.0.1:{emulator.adb_port}")
    dev = select_device(emulator.serial)
    assert dev.server.explicit and dev.shell("echo ok").stdout == "ok\n"


def test_images_dropped_from_the_bundle_are_removed_from_the_device(emulator, fake_build, model_dir, images, tmp_path):
    remote = _remote(tmp_path)
    kw = dict(remote_dir=remote, keep=True, bundle_dir=tmp_path / "bundle", out=tmp_path / "r.json")
    first = deploy(emulator.serial, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(), **kw)
    assert len(first.run.predictions) == 3
    one = sorted(images.iterdir())[0]
    second = deploy(emulator.serial, model_dir, [one], build_dir=fake_build("OK"), settings=RunSettings(), **kw)
    assert [p.image for p in second.run.predictions] == ["images/" + one.name]  # no stale image was classified
    on_device = sorted(p.name for p in (emulator.root / remote.lstrip("/") / "images").iterdir())
    assert on_device == [one.name]
    third = deploy(emulator.serial, model_dir, [one], build_dir=fake_build("OK"), settings=RunSettings(),
                   **{**kw, "keep": False})
    assert (third.sync.files_pushed, third.sync.bytes_pushed) == (0, 0)


def test_paddleclas_text_output_is_understood(emulator, fake_build, model_dir, images, tmp_path):
    """A binary printing the PaddleClas deploy/lite demo's text (seconds) still gives typed results in ms."""
    res = deploy(emulator.serial, model_dir, images, build_dir=fake_build("TEXT"), settings=RunSettings(),
                 remote_dir=_remote(tmp_path), out=tmp_path / "r.json", bundle_dir=tmp_path / "bundle")
    assert res.run.output_format == "paddleclas_text"
    assert {p.top1 for p in res.run.predictions} == {1} and len(res.run.predictions) == 3
    assert res.run.prediction("images/" + HOSTILE).topk[0].label == "blurred"
    assert res.run.latency.mean == pytest.approx(12.5) and len(res.run.latency.samples) == 3


def test_shell_gives_real_exit_codes_and_stdin_eof(emulator):
    dev = select_device(emulator.serial)
    r = dev.shell("echo out; echo err >&2; exit 7")
    assert (r.exit_code, r.stdout, r.stderr) == (7, "out\n", "err\n")
    assert dev.shell(["cat"], timeout=10).exit_code == 0  # stdin is closed: cat ends instead of waiting
    assert dev.shell(["echo", "$HOME;", "`id`"]).stdout == "$HOME; `id`\n"  # list words are quoted, not expanded


def test_a_device_held_by_another_run_is_busy(emulator, fake_build, model_dir, images, tmp_path):
    """deploy takes the per-device lock bench uses, keyed on the device's identity: a run that reached the
    same device as localhost:PORT waits for one that holds it as 127.0.0.1:PORT, then says who holds it."""
    from edgeclas.device import AdbDevice, AdbServer
    from edgeclas.device.lock import device_lock

    alias = f"localhost:{emulator.port}"
    assert b"connected" in emulator.adb_server.run("connect", alias).stdout
    try:
        server = AdbServer.resolve()
        ident = AdbDevice(emulator.serial, server).info().identity
        assert ident == AdbDevice(alias, server).info().identity  # one device, two serials
        assert ident.startswith(f"EDGECLASEMU{emulator.port}/") and len(ident.split("/")[1]) == 36
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sys, time\nfrom edgeclas.device.lock import device_lock\n"
             "with device_lock(sys.argv[1], name=sys.argv[2]):\n print('held', flush=True); time.sleep(60)",
             ident, emulator.serial], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(DeviceError, match=f"{alias}: device is busy .* as {emulator.serial}"):
                deploy(alias, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(),
                       remote_dir=_remote(tmp_path),
                       out=tmp_path / "r.json", bundle_dir=tmp_path / "bundle", lock_timeout_s=1)
        finally:
            holder.kill()
            holder.wait()
            holder.stdout.close()
        # in one process (bench --devices 127.0.0.1:P,localhost:P) the second name is refused at once
        with device_lock(ident, name=emulator.serial):
            with pytest.raises(DeviceError, match=f"{alias}: is the same device as {emulator.serial}"):
                deploy(alias, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(),
                       remote_dir=_remote(tmp_path), out=tmp_path / "r.json", bundle_dir=tmp_path / "bundle")
    finally:
        emulator.adb_server.run("disconnect", alias)
    assert not (emulator.root / _remote(tmp_path).lstrip("/")).exists()  # nothing was pushed meanwhile
    res = deploy(emulator.serial, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(),
                 remote_dir=_remote(tmp_path),
                 out=tmp_path / "r.json", bundle_dir=tmp_path / "bundle", lock_timeout_s=1)
    assert res.run.ok


def test_device_killed_mid_deploy_keeps_a_result_file(emulator_factory, fake_build, model_dir, tmp_path):
    emu = emulator_factory()
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    (imgs / "huge.png").write_bytes(os.urandom(64 * 1024 * 1024))  # the bundle copies images, never decodes them
    remote = "/data/local/tmp/edgeclas-kill"
    landing = emu.root / remote.lstrip("/") / "images"
    done = threading.Event()

    def kill_when_the_image_arrives() -> None:
        while not done.is_set():
            if landing.is_dir() and any(p.is_file() and p.stat().st_size > 0 for p in landing.iterdir()):
                emu.kill()
                return
            time.sleep(0.002)

    t = threading.Thread(target=kill_when_the_image_arrives)
    t.start()
    out = tmp_path / "r.json"
    try:
        with pytest.raises(PushError, match="connection lost") as e:
            deploy(emu.serial, model_dir, imgs, build_dir=fake_build("OK"), settings=RunSettings(),
                   remote_dir=remote, out=out, bundle_dir=tmp_path / "bundle")
    finally:
        done.set()
        t.join()
    record = json.loads(out.read_text())
    assert record["status"] == "error" and record["error"]["type"] == "PushError"
    assert record["cleaned"] is False  # the device is gone: nothing could be cleaned, and that is recorded
    assert record["device"]["serial"] == emu.serial and record["bundle"]["files"]
    assert str(out) in e.value.hint


@pytest.mark.parametrize("missing, features, algorithm", [
    (["sha256sum"], None, "md5"),  # Android 7: toybox without sha256sum
    (["sha256sum", "md5sum"], None, "size"),  # only ls -l
    ([], ["cmd", "stat_v2", "ls_v2", "fixed_push_mkdir"], "sha256"),  # adbd before Android 7: no shell v2
], ids=["no-sha256sum", "ls-only", "no-shell-v2"])
def test_older_phones_deploy_and_skip_unchanged_files(emulator_factory, fake_build, model_dir, images, tmp_path,
                                                       missing, features, algorithm):
    """Devices shaped like older phones by their profile: the fallbacks of edgeclas.device carry a deploy."""
    import yaml

    from edgeclas.device import AdbDevice
    from edgeclas.emulator.profile import load_profile

    data = yaml.safe_load(load_profile("emulated-armv8").path.read_text())
    data.update(name="older-phone", missing_commands=missing, **({"adb_features": features} if features else {}))
    profile = tmp_path / "older-phone.yaml"
    profile.write_text(yaml.safe_dump(data))
    emu = emulator_factory(profile=profile)
    dev = AdbDevice(emu.serial)
    for cmd in missing:
        assert dev.shell(cmd).exit_code == 127
    r = dev.shell("echo out; echo err >&2; exit 3")
    if features:  # shell v1: stderr arrives merged with stdout, the exit code through adbutils' marker
        assert (r.exit_code, r.stdout.split(), r.stderr) == (3, ["out", "err"], "")
    else:
        assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n", "err\n")
    remote = _remote(tmp_path)
    kw = dict(remote_dir=remote, keep=True, bundle_dir=tmp_path / "bundle", out=tmp_path / "r.json")
    first = deploy(emu.serial, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(), **kw)
    assert first.sync.files_pushed == len(first.bundle.files) and first.run.exit_code == 0
    digests = dev.digests([f"{remote}/{rel}" for rel in first.bundle.files])
    assert digests.algorithm == algorithm and len(digests.digests) == len(first.bundle.files)
    second = deploy(emu.serial, model_dir, images, build_dir=fake_build("OK"), settings=RunSettings(), **kw)
    assert (second.sync.files_pushed, second.sync.bytes_pushed) == (0, 0)
    assert [p.top1 for p in second.run.predictions] == [p.top1 for p in first.run.predictions]
