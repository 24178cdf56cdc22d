"""clas_system output parser on recorded output: JSON lines, PaddleClas demo text, and broken output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeclas.device.errors import OutputParseError
from edgeclas.parsers.clas_system import latency_from_samples, parse_clas_system

DATA = Path(__file__).parent / "data" / "clas_system"


def test_json_lines_all_fields():
    out = parse_clas_system((DATA / "ok.jsonl").read_text())
    assert out.format == "json"
    assert [r.image for r in out.images] == ["images/daisy.png", "images/blurred city.png", "images/rocket.jpg"]
    assert [r.top1 for r in out.images] == [0, 1, 0]
    assert out.images[1].topk[0].label == "blurred" and out.images[1].probs == [0.12, 0.88]
    assert out.images[0].timing_ms["inference"] == pytest.approx(3.4)
    s = out.summary
    assert (s.engine, s.engine_version, s.threads, s.power_mode, s.images) == ("onnxruntime", "1.32.0", 2, 0, 3)
    assert s.latency.p50 == pytest.approx(3.33) and len(s.latency.samples) == 6
    assert s.affinity["cpus"] == [4, 5, 6, 7] and s.peak_rss_kb == 38120


def test_batched_run_says_its_samples_are_per_batch():
    """Recorded from clas_system with batch_size 2 and concurrent_images 2 on 5 images: 3 batches, 3 samples."""
    out = parse_clas_system((DATA / "batched.jsonl").read_text())
    s = out.summary
    assert (s.batch_size, s.concurrent_images, s.images) == (2, 2, 5) and "batch_size" not in s.extra
    assert len(s.latency.samples) == 3 and len(out.images) == 5
    # an image's inference time is its share of its batch's run
    assert out.images[0].timing_ms["inference"] == pytest.approx(out.images[1].timing_ms["inference"])
    assert parse_clas_system((DATA / "ok.jsonl").read_text()).summary.batch_size is None  # older binaries: unknown


def test_unknown_summary_keys_are_kept_not_dropped():
    lines = (DATA / "ok.jsonl").read_text().splitlines()
    summary = json.loads(lines[-1])
    summary["cpu_temp_c"] = 41.5
    out = parse_clas_system("\n".join(lines[:-1] + [json.dumps(summary)]) + "\n")
    assert out.summary.extra == {"cpu_temp_c": 41.5}


def test_truncated_output_names_the_line_and_keeps_what_parsed():
    with pytest.raises(OutputParseError, match="line 3 is truncated") as e:
        parse_clas_system((DATA / "truncated.jsonl").read_text())
    assert [r.image for r in e.value.partial.images] == ["images/daisy.png", "images/blurred city.png"]


def test_missing_summary_is_truncation():
    with pytest.raises(OutputParseError, match="without its summary") as e:
        parse_clas_system((DATA / "no_summary.jsonl").read_text())
    assert len(e.value.partial.images) == 3


def test_garbage_is_refused_with_its_start():
    with pytest.raises(OutputParseError, match="neither JSON") as e:
        parse_clas_system((DATA / "garbage.txt").read_text(errors="replace"))
    assert "Segmentation fault" in e.value.partial.ignored_lines[0]


def test_json_record_with_wrong_types_is_refused():
    bad = '{"type": "image", "image": "a.png", "topk": [{"class_id": 1, "score": "high"}]}\n'
    with pytest.raises(OutputParseError, match="score"):
        parse_clas_system(bad)


def test_paddleclas_demo_text_seconds_become_ms():
    out = parse_clas_system((DATA / "paddleclas_demo.txt").read_text())
    assert out.format == "paddleclas_text"
    (img,) = out.images
    assert img.image == "./images/ILSVRC2012_val_00000001.JPEG"
    assert [t.class_id for t in img.topk] == [65, 62, 58, 54, 60]
    assert img.topk[1].label == "rock python, rock snake, Python sebae"  # commas inside a class name
    assert img.topk[0].score == pytest.approx(0.686229)
    assert out.summary.latency.mean == pytest.approx(15.59)
    assert out.ignored_lines[0].startswith("=======PaddleClas")


def test_paddleclas_text_without_top_lines_is_truncated():
    text = "===clas result for image: a.jpg===\n"
    with pytest.raises(OutputParseError, match="truncated"):
        parse_clas_system(text)


def test_latency_stats_match_numpy_percentiles():
    np = pytest.importorskip("numpy")
    xs = [5.0, 1.0, 3.0, 2.0, 4.0, 10.0]
    s = latency_from_samples(xs)
    assert s.p90 == pytest.approx(float(np.percentile(xs, 90)))
    assert s.std == pytest.approx(float(np.std(xs, ddof=1)))  # sample std, like edgeclas.stats and clas_system
    assert (s.min, s.max) == (1.0, 10.0)


# Inputs the atheris fuzzer (native/fuzz/fuzz_clas_system_parser.py) found raising something other than
# OutputParseError, i.e. a traceback in deploy/bench instead of a recorded failure; and their JSON cousins.
_DEMO_HEAD = "===clas result for image: a.jpg===\nTop-1, class_id: 3, class_name: x, score: 0.5\n"


@pytest.mark.parametrize("text,match", [
    (_DEMO_HEAD + "Current time cost: 0.01559-0 s.\n", None),  # found: float('0.01559-0'); not a time line now
    (_DEMO_HEAD + "Current time cost: 1e400 s.\n", "not a finite number"),  # found: an infinite sample
    ('{"type": "image", "image": "a", "topk": [{"class_id": Infinity, "score": 1}]}\n', "integer"),
    ('{"type": "image", "image": "a", "topk": [], "timing_ms": [1, 2]}\n', "timing_ms"),
    ('{"type": "image", "image": ' + "[" * 100000 + "\n", "too deeply|not valid JSON|truncated"),
])
def test_fuzzer_findings_are_parse_errors_not_tracebacks(text, match):
    if match is None:
        out = parse_clas_system(text)
        assert out.images[0].topk[0].class_id == 3 and out.ignored_lines == ["Current time cost: 0.01559-0 s."]
        return
    with pytest.raises(OutputParseError, match=match):
        parse_clas_system(text)
