"""edgeclas search: the space file, its keys checked against the recipe, storage errors, and real
searches (pruning, parallel workers, a SIGKILL in the middle of a trial and the resume after it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="optuna not installed (pip install -e .[search])")

from edgeclas.errors import ConfigError, ModelError  # noqa: E402
from edgeclas.search import Param, export_best, load_space, search, show  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "training" / "demo_clarity.yaml"
LR = {"search_key": "lr", "replace_config": ["Optimizer.lr.learning_rate"], "log_uniform": [0.01, 0.2]}


def _space(tmp_path: Path, text: str | dict, name: str = "space.yaml") -> Path:
    import yaml

    p = tmp_path / name
    p.write_text(text if isinstance(text, str) else yaml.safe_dump(text))
    return p


@pytest.mark.parametrize("space, message, hint", [
    ({"serach_dict": [LR]}, "serach_dict: unknown key", "search_dict"),
    ({"gpus": "0,1", "search_dict": [LR]}, "gpus: a PaddleClas search key", "--jobs"),
    ({"search_dict": [{**LR, "replace_confg": ["x"]}]}, "search_dict.0.replace_confg: unknown key", "replace_config"),
    ({"search_dict": [{**LR, "uniform": [0.1, 0.2]}]}, "give exactly one of", None),
    ({"search_dict": [{**LR, "log_uniform": [0.0, 0.2]}]}, "low end must be > 0", None),
    ({"search_dict": [{**LR, "log_uniform": [0.2, 0.1]}]}, "low < high", None),
    ({"search_dict": [{"search_key": "w", "replace_config": ["Optimizer.lr.warmup_epoch"], "int": [0, 2.5]}]},
     "must be integers", None),
    ({"search_dict": [LR, LR]}, "search_key 'lr' appears twice", None),
    ({"search_dict": [LR], "sampler": {"name": "TPESampelr"}}, "'TPESampelr' is not supported", "TPESampler"),
    ({"search_dict": [LR], "pruner": {"name": "MedianPruner", "n_startup_trial": 1}},
     "not an argument of MedianPruner", "n_startup_trials"),
    ({"search_dict": [LR], "direction": "up"}, "direction: 'up'", None),
])
def test_space_file_mistakes_are_named(tmp_path: Path, space, message, hint):
    with pytest.raises(ConfigError) as e:
        load_space(_space(tmp_path, space))
    assert message in e.value.message and str(tmp_path / "space.yaml") in e.value.message
    if hint:
        assert hint in e.value.hint


def test_space_file_reads_every_kind_of_parameter(tmp_path: Path):
    space = load_space(ROOT / "training" / "search" / "clarity.yaml")
    kinds = {p.name: (p.kind, p.log) for p in space.params}
    assert kinds == {"lr": ("float", True), "resolution": ("choice", False), "warmup_epoch": ("int", False),
                     "smoothing": ("float", False)}
    assert (space.metric, space.direction, space.pruner["name"]) == ("top1", "maximize", "MedianPruner")
    assert load_space(_space(tmp_path, {"metric": "loss", "search_dict": [LR]})).direction == "minimize"


def test_list_values_travel_through_optuna_and_back():
    """Optuna's categorical values are scalars; a list (PULC's lr_mult_list) is stored as JSON text."""
    lists = ([0.0, 0.4, 0.4, 0.8, 0.8, 1.0], [1.0] * 6)
    p = Param("lr_mult", ("Arch.lr_mult_list",), "choice", choices=lists)
    trial = optuna.trial.FixedTrial({"lr_mult": json.dumps(lists[0])})
    value = p.suggest(trial)
    assert value == lists[0]
    assert p.overrides(value) == [f"Arch.lr_mult_list={lists[0]!r}"]
    assert p.decode(json.dumps(lists[1])) == lists[1]


@pytest.mark.parametrize("key, nearest", [
    ("Optimizer.lr.learning_rte", "learning_rate"),
    ("DataLoader.Train.dataset.transform_ops.1.RandCropImage.siz", "size"),
    ("Arch.lr_mult_lst", "lr_mult_list"),
    ("Globl.epochs", "Global"),
])
def test_unknown_recipe_key_in_the_space_names_the_nearest(tmp_path: Path, key: str, nearest: str):
    space = _space(tmp_path, {"search_dict": [{"search_key": "x", "replace_config": [key], "search_values": [1]}]})
    with pytest.raises(ConfigError) as e:
        search(RECIPE, space, out=tmp_path / "out")
    assert "search_key x" in e.value.message and nearest in e.value.hint
    assert not (tmp_path / "out").exists()  # refused before any storage or trial exists


def test_value_of_the_wrong_type_and_unknown_metric_are_refused(tmp_path: Path):
    space = _space(tmp_path, {"search_dict": [{"search_key": "a", "replace_config": ["Global.epochs"], "int": [1, 3]},
                                              {"search_key": "b", "replace_config": ["Global.eval_interval"],
                                               "search_values": [1, "often"]}]})
    with pytest.raises(ConfigError, match=r"search_key b = 'often': .*Global.eval_interval: expected int"):
        search(RECIPE, space, out=tmp_path / "out")
    space = _space(tmp_path, {"metric": "top5", "search_dict": [LR]})
    with pytest.raises(ConfigError, match="'top5' is not an eval metric") as e:
        search(RECIPE, space, out=tmp_path / "out")
    assert e.value.hint == "one of: top1, tpr@fpr=0.1, fpr@fpr=0.1, threshold@fpr=0.1, loss"


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url, message", [
    ("mysql+pymysql://search:s3cret@127.0.0.1:{port}/studies", "cannot reach the database: (2003"),
    ("postgresql://search:s3cret@127.0.0.1:{port}/studies", "database driver is not installed"),
    ("not a url", "not a database URL"),
    ("sqlite:///{file}/sub/search.db", "cannot create"),
])
def test_unusable_storage_urls_are_clear_errors_without_the_password(tmp_path: Path, url: str, message: str):
    if "pymysql" in url:
        pytest.importorskip("pymysql", reason="PyMySQL (a pure-Python driver, in the test extra) reaches a real port")
    if url.startswith("postgresql://"):
        import importlib.util

        if importlib.util.find_spec("psycopg"):
            pytest.skip("psycopg is installed here: postgresql:// has a driver")
    (tmp_path / "file").write_text("a file, not a directory")
    url = url.format(file=tmp_path / "file", port=_closed_port())
    space = _space(tmp_path, {"search_dict": [LR]})
    with pytest.raises(ConfigError) as e:
        search(RECIPE, space, storage=url, out=tmp_path / "out")
    assert message in e.value.message and "s3cret" not in str(e.value)
    assert "--storage" in e.value.message


def test_show_of_a_search_that_never_ran_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="no search database here"):
        show(out=tmp_path)
    assert not (tmp_path / "search.db").exists()


# ---- real searches -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")
    pytest.importorskip("skimage", reason="scikit-image not installed (pip install -e .[data])")
    from edgeclas.data import sample

    return sample("clarity", tmp_path_factory.mktemp("data") / "clarity", num=40, seed=1).root


def _quick(dataset: Path, out: Path, epochs: int = 2, steps: int = 2) -> list[str]:
    return [f"Global.dataset_dir={dataset}", f"Global.output_dir={out}", f"Global.epochs={epochs}",
            f"Global.steps_per_epoch={steps}", "DataLoader.Train.sampler.batch_size=8"]


def _epochs(run_dir: Path) -> list[int]:
    return [json.loads(x)["epoch"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.integration
def test_pruned_trials_stop_training_and_leave_no_best(dataset: Path, tmp_path: Path):
    # ThresholdPruner: any top1 (≤ 1) is under 1.5, so every trial is pruned after its first evaluation.
    space = _space(tmp_path, {"pruner": {"name": "ThresholdPruner", "lower": 1.5},
                              "sampler": {"name": "RandomSampler", "seed": 3}, "search_dict": [LR]})
    out = tmp_path / "out"
    r = search(RECIPE, space, _quick(dataset, out, epochs=3), trials=2)
    assert r.counts == {"PRUNED": 2} and r.best is None
    for t in r.trials:
        assert t.epochs == 1 and 0 <= t.value <= 1
        assert _epochs(out / t.run_dir) == [1]  # training ended at the pruning point
        assert json.loads((out / t.run_dir / "latest" / "manifest.json").read_text())["epoch"] == 1
    with pytest.raises(ModelError, match="no complete trial"):
        export_best(r, tmp_path / "best.yaml")


@pytest.mark.integration
def test_parallel_workers_share_the_budget(dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    r = search(RECIPE, ROOT / "training" / "search" / "clarity.yaml", _quick(dataset, out), trials=3, jobs=2)
    assert r.counts == {"COMPLETE": 3}  # two processes, three trials: none more, none lost
    assert sorted(t.run_dir for t in r.trials) == [f"demo_clarity/trial-{i:04d}" for i in range(3)]
    assert len({json.dumps(t.params, sort_keys=True) for t in r.trials}) == 3  # workers draw different points


def _cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("edgeclas")), *args]  # the console script, as a user runs it


@pytest.mark.integration
def test_search_resumes_after_sigkill_without_losing_or_repeating_a_trial(dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    args = ["search", "-c", str(RECIPE), "--space", str(ROOT / "training" / "search" / "clarity.yaml"), "--trials", "3",
            *(x for o in _quick(dataset, out, epochs=3, steps=4) for x in ("-o", o))]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    victim = out / "demo_clarity" / "trial-0001"
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(_cli(*args), env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 240
            while not ((victim / "metrics.jsonl").is_file() and (victim / "metrics.jsonl").read_text()):
                assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "trial 1 never finished an epoch"
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)  # in the middle of trial 1: one epoch of three written
        finally:
            proc.kill()
            proc.wait()
    assert _epochs(victim) in ([1], [1, 2]), "trial 1 ended before the kill: the test needs a slower trial"
    done_before = (out / "demo_clarity" / "trial-0000" / "metrics.jsonl").read_bytes()

    second = subprocess.run(_cli(*args), env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "(re-run of 1)" in second.stderr

    st = optuna.load_study(study_name="demo_clarity", storage=f"sqlite:///{out / 'search.db'}")
    states = sorted(t.state.name for t in st.trials)
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL"]  # the killed one, re-queued once
    retry = next(t for t in st.trials if t.system_attrs.get("failed_trial") is not None)
    assert retry.system_attrs["failed_trial"] == 1 and retry.user_attrs["run_dir"] == "demo_clarity/trial-0001"
    assert sorted(p.name for p in (out / "demo_clarity").glob("trial-*")) == ["trial-0000", "trial-0001", "trial-0003"]
    assert (out / "demo_clarity" / "trial-0000" / "metrics.jsonl").read_bytes() == done_before  # not run again
    assert _epochs(victim) == [1, 2, 3]  # resumed from its checkpoint: every epoch exactly once
    assert len({json.dumps(t.params, sort_keys=True) for t in st.trials if t.state.name == "COMPLETE"}) == 3

    shown = subprocess.run(_cli("search", "--show", "--out", str(out), "--export-best", str(tmp_path / "best.yaml")),
                           env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert "3 complete, 1 fail" in shown.stdout and "2←1" in shown.stdout  # trial 2 re-ran trial 1

    from edgeclas.train.config import load_config

    best = max((t for t in st.trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    cfg = load_config(tmp_path / "best.yaml")
    assert cfg["Optimizer"]["lr"]["learning_rate"] == pytest.approx(best.params["lr"])
    assert cfg["DataLoader"]["Train"]["dataset"]["transform_ops"][1]["RandCropImage"]["size"] == best.params["resolution"]
    assert cfg["Global"]["dataset_dir"] == str(dataset)  # the search's own -o are kept
    assert cfg["Global"]["output_dir"] != str(out)  # … except where the search put its trials
