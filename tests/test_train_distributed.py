"""Training in several processes on paddle.distributed: the shard each rank reads, 2 processes against 1
on the same global batches, a killed worker, and the errors for GPUs this machine does not have."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

paddle = pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")
pytest.importorskip("skimage", reason="scikit-image not installed (pip install -e .[data])")

from edgeclas.data.dataset import shard  # noqa: E402
from edgeclas.errors import ConfigError, ToolchainError  # noqa: E402
from edgeclas.train import train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "training" / "demo_clarity.yaml"
# No random crop or flip: a sample must look the same in every process that reads it.
FIXED_OPS = ("[{'DecodeImage': {'to_rgb': True, 'channel_first': False}}, {'ResizeImage': {'size': 64}}, "
             "{'NormalizeImage': {'scale': '1.0/255.0', 'mean': [0.485, 0.456, 0.406], "
             "'std': [0.229, 0.224, 0.225], 'order': ''}}]")


class _Sized:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


@pytest.mark.parametrize("n, bs, world, drop_last", [(10, 3, 2, False), (10, 3, 2, True), (17, 4, 3, False),
                                                      (17, 4, 3, True), (5, 8, 2, False), (2, 1, 4, False),
                                                      (64, 8, 2, True), (9, 2, 1, False)])
def test_each_rank_reads_what_paddles_distributed_batch_sampler_deals_it(n, bs, world, drop_last):
    from paddle.io import DistributedBatchSampler

    for rank in range(world):
        want = list(DistributedBatchSampler(_Sized(n), bs, num_replicas=world, rank=rank, drop_last=drop_last))
        mine = shard(range(n), bs, rank, world)
        got = [mine[i : i + bs] for i in range(0, len(mine), bs)]
        if drop_last:
            got = [b for b in got if len(b) == bs]
        assert got == want, (rank, got, want)


def test_ranks_batches_of_one_step_make_one_global_batch():
    order = list(np.random.default_rng(0).permutation(40))
    ranks = [shard(order, 4, r, 2) for r in range(2)]
    for step in range(5):
        assert ranks[0][step * 4 : step * 4 + 4] + ranks[1][step * 4 : step * 4 + 4] == order[step * 8 : step * 8 + 8]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from edgeclas.data import sample

    return sample("clarity", tmp_path_factory.mktemp("data") / "clarity", num=40, seed=1).root


def _weights(run: Path) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in paddle.load(str(run / "latest" / "model.pdparams")).items()}


def _rel(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """Largest per-tensor relative difference ‖a − b‖ / ‖a‖."""
    assert set(a) == set(b)
    return max(float(np.linalg.norm(a[k] - b[k]) / max(float(np.linalg.norm(a[k])), 1e-12)) for k in a)


@pytest.mark.integration
def test_two_processes_train_the_weights_of_one_on_the_same_global_batches(dataset: Path, tmp_path: Path):
    """2 processes × batch 4 against 1 process × batch 8 on the same global batches, 6 steps (2 epochs).

    Batch norm normalises with each process's own batch (DataParallel without SyncBN, as PaddleClas on
    a CPU, where Paddle has no sync_batch_norm kernel), so both halves of every global batch hold the
    same 4 images: per-process and global statistics are then equal, and so are the mathematically
    exact updates. Dropout is off (each process draws its own masks), augmentation is fixed.

    Tolerances. Each process computes exactly what one process does with batch 4 on those 4 images,
    and averaging two equal gradients is exact in fp32: against that run the weights agree to 1e-6
    (measured: 0.0). Against batch 8 the convolutions sum in another fp32 order (~1e-7 per step) and
    the network amplifies such differences from step to step; one process alone, batch 4 against
    batch 8, differs by the same amount (measured ~1e-4 relative at lr 0.001): the two processes
    must be as close to the global-batch run as one process is to itself.
    """
    lines = (dataset / "train_list.txt").read_text().splitlines()
    halves = [lines[i : i + 4] for i in (0, 4, 8)]
    (tmp_path / "twice.txt").write_text("\n".join(line for h in halves for line in h + h) + "\n")
    (tmp_path / "once.txt").write_text("\n".join(line for h in halves for line in h) + "\n")

    def recipe(run: str, listed: str, bs: int) -> list[str]:
        data = [f"DataLoader.{split}.dataset.{key}={value}" for split in ("Train", "Eval") for key, value in (
            ("image_root", dataset), ("label_list", dataset / "label_list.txt"),
            ("cls_label_path", tmp_path / listed if split == "Train" else dataset / "val_list.txt"))]
        return [*data, "Global.dataset_dir=None", "DataLoader.Train.sampler.shuffle=False",  # the list as written
                f"DataLoader.Train.dataset.transform_ops={FIXED_OPS}", "Arch.dropout_prob=0.0", "Global.epochs=2",
                "Global.eval_during_train=False", "Optimizer.lr.learning_rate=0.001", "Optimizer.lr.warmup_epoch=0",
                f"DataLoader.Train.sampler.batch_size={bs}", f"Global.output_dir={tmp_path / run}"]

    global8 = train(RECIPE, recipe("global8", "twice.txt", 8))
    half4 = train(RECIPE, recipe("half4", "once.txt", 4))
    two = train(RECIPE, recipe("two", "twice.txt", 4), nproc=2)

    records = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["world_size"] for r in records] == [2, 2]
    assert json.loads((tmp_path / "two" / "manifest.json").read_text())["run"]["world_size"] == 2
    assert two.epochs == 2 and two.images_per_sec > 0
    ref = [json.loads(x) for x in (tmp_path / "global8" / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_loss"] for r in records] == pytest.approx([r["train_loss"] for r in ref], rel=1e-3)

    w2, w8, w4 = _weights(two.run_dir), _weights(global8.run_dir), _weights(half4.run_dir)
    assert np.abs(w8["fc.bias"]).max() > 1e-5  # the weights did train (the classifier bias starts at 0)
    floor = _rel(w4, w8)
    print(f"relative weight difference: 2 processes vs batch 8 {_rel(w2, w8):.3g}, batch 4 vs batch 8 {floor:.3g}, "
          f"2 processes vs batch 4 {_rel(w2, w4):.3g}")
    assert _rel(w2, w4) <= 1e-6
    assert _rel(w2, w8) <= min(1.5 * floor + 1e-6, 1e-3)


def _worker_pid(run_dir: Path, rank: int, timeout: float = 120) -> int:
    """The pid of the worker of ``rank`` training into ``run_dir`` (found through /proc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
                env = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(c.endswith(b"_launch_worker.py") for c in cmd) and str(run_dir).encode() in b" ".join(cmd) \
                    and f"PADDLE_TRAINER_ID={rank}".encode() in env:
                return int(proc.name)
        time.sleep(0.1)
    raise AssertionError(f"no rank {rank} worker for {run_dir}")


@pytest.mark.integration
def test_a_killed_worker_ends_the_run_with_a_clear_error_and_resume_continues(dataset: Path, tmp_path: Path):
    run = tmp_path / "run"
    args = ["train", "--nproc", "2", "-c", str(RECIPE), "-o", f"Global.dataset_dir={dataset}",
            "-o", f"Global.output_dir={run}", "-o", "Global.epochs=3", "-o", "Global.steps_per_epoch=4",
            "-o", "DataLoader.Train.sampler.batch_size=4"]
    exe = str(Path(sys.executable).with_name("edgeclas"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([exe, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        victim = _worker_pid(run, 1)
        deadline = time.monotonic() + 240
        while not (run / "latest").is_dir():  # kill it in epoch 2, with a checkpoint to resume from
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(victim, signal.SIGKILL)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=120)  # no hang: the launcher stops the other rank
        waited = time.monotonic() - t0
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 10, err[-3000:]  # TrainingError
    # SIGKILL when the launcher saw rank 1 go first; else rank 1 is the one whose log holds no error
    assert "error: training worker rank 1 was killed (" in err, err[-3000:]
    assert f"hint: its log: {run / 'log' / 'workerlog.1'}" in err
    print(f"the run ended {waited:.1f} s after the kill:", *err.strip().splitlines()[-2:], sep="\n")
    done = [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert done and done[-1] < 3

    resumed = subprocess.run([exe, *args, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_gpus_where_paddle_has_none_is_a_clear_error(dataset: Path, tmp_path: Path):
    if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        pytest.skip("this machine has a GPU: --gpus would train")
    with pytest.raises(ToolchainError, match=r"--gpus 0,1: (this Paddle .* is a CPU build|2 GPU\(s\) asked for)"):
        train(RECIPE, [f"Global.dataset_dir={dataset}", f"Global.output_dir={tmp_path / 'run'}"], gpus="0,1")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kwargs, extra, message", [
    ({"gpus": "0,x"}, [], "expected distinct GPU ids"),
    ({"gpus": "0,1", "nproc": 3}, [], "one process per GPU"),
    ({"nproc": 0}, [], "--nproc must be ≥ 1"),
    ({"nproc": 2}, ["Global.epoch=2"], "did you mean 'epochs'"),
])
def test_launch_options_are_checked_before_anything_starts(dataset: Path, tmp_path: Path, kwargs, extra, message):
    with pytest.raises(ConfigError) as e:
        train(RECIPE, [f"Global.dataset_dir={dataset}", f"Global.output_dir={tmp_path / 'run'}", *extra], **kwargs)
    assert message in str(e.value)
    assert not (tmp_path / "run").exists()


def test_use_sync_bn_off_gpus_is_ignored_and_said_so(dataset: Path, tmp_path: Path, caplog):
    """PaddleClas recipes carry Arch.use_sync_bn; off GPUs PaddleClas ignores it with a message, and so does edgeclas."""
    with caplog.at_level("WARNING", logger="edgeclas.train.engine"):
        r = train(RECIPE, [f"Global.dataset_dir={dataset}", f"Global.output_dir={tmp_path / 'run'}", "Global.epochs=1",
                           "Global.steps_per_epoch=1", "DataLoader.Train.sampler.batch_size=8", "Arch.use_sync_bn=True"])
    assert "Arch.use_sync_bn ignored: batch norm syncs across GPU processes only" in caplog.text
    kwargs = json.loads((r.best / "manifest.json").read_text())["model"]["arch_kwargs"]
    assert "use_sync_bn" not in kwargs and kwargs  # the recipe's own arch options stay (stride_list, …)
