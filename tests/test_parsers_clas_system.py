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
