from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from edgeclas.stats import compute
from edgeclas.errors import ConfigError, ValidationError
from edgeclas.fsutil import append_jsonl
from edgeclas.report import report
from edgeclas.report.markdown import fmt_ms
from edgeclas.report.compare import compare_runs, student_t_sf2, welch_t_test
from edgeclas.report.table import load_run

from fixtures_bench import make_record

VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[dict[str, str]] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        for k in ("src", "href"):
            if k in a and not a[k].startswith("data:"):
                self.urls.append(a[k])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> at {self.getpos()} (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


def _decode_png(b64: str) -> np.ndarray:
    import cv2

    data = base64.b64decode(b64, validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def test_markdown_html_json(sample_run):
    res = report(sample_run, formats=["md", "html", "json"])
    md = res.paths["md"].read_text()
    assert "4 cell(s): 3 ok, 1 failed" in md
    assert "### Failed cells" in md and "RemoteCrash: clas_system killed by SIGSEGV" in md
    p50s = [r.p50 for r in load_run(sample_run).ok_rows]
    for v in p50s:  # the numbers in the table are the run's numbers
        assert f"| {fmt_ms(v)} |" in md
    m = re.search(r"\| 3 unbound \| 1: 1\.00×, 2: ([\d.]+)×, 4: ([\d.]+)× \|", md)
    assert m and 1.0 < float(m.group(1)) < float(m.group(2)), md  # 12 ms → 7 ms → 4.5 ms

    page = res.paths["html"].read_text()
    chk = _Checker()
    chk.feed(page)
    chk.close()
    assert chk.errors == [] and chk.stack == []
    assert chk.urls == [] and "http://" not in page and "https://" not in page and "<script" not in page
    assert len(chk.images) == 3  # latency bars, distributions, speed-up
    for img in chk.images:
        arr = _decode_png(img["src"].removeprefix("data:image/png;base64,"))
        assert arr.shape[0] > 100 and arr.shape[1] > 200
        assert arr.std() > 5  # a drawn plot, not a blank canvas
    js = json.loads(res.paths["json"].read_text())
    assert len(js["cells"]) == 4 and js["compare"] is None


def test_html_escapes_device_strings(tmp_path):
    rec = make_record()
    rec["device"]["model"] = "<script>alert(1)</script>"
    append_jsonl(tmp_path / "r" / "results.jsonl", rec)
    page = report(tmp_path / "r", formats=["html"]).paths["html"].read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_compare_marks_regressions_beyond_noise(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    for t, ms in [(1, 10.0), (2, 6.0), (4, 4.0)]:
        append_jsonl(old / "results.jsonl", make_record(threads=t, base_ms=ms, seed=t, n=30))
    # threads 1: 25 % slower (regression); threads 2: same distribution, other seed (noise); threads 4: faster
    append_jsonl(new / "results.jsonl", make_record(threads=1, base_ms=12.5, seed=11, n=30))
    append_jsonl(new / "results.jsonl", make_record(threads=2, base_ms=6.0, seed=12, n=30))
    append_jsonl(new / "results.jsonl", make_record(threads=4, base_ms=3.0, seed=13, n=30))
    append_jsonl(new / "results.jsonl", make_record(threads=8, base_ms=3.0, seed=14, n=30))
    changes = {c.threads: c for c in compare_runs(load_run(old), load_run(new))}
    assert changes[1].verdict == "regression" and changes[1].change == pytest.approx(0.25, abs=0.05)
    assert changes[2].verdict == "within noise"
    assert changes[4].verdict == "improvement"
    assert changes[8].verdict == "new"
    res = report(new, compare=old, formats=["md", "html"])
    assert res.regressions == 1
    md = res.paths["md"].read_text()
    assert "**1 regression(s) beyond noise**" in md and "🔴 regression" in md
    assert len(re.findall(r'<img ', res.paths["html"].read_text())) == 4  # + the change plot


def test_compare_without_samples_uses_interval_overlap(tmp_path):
    def imported(ms):
        r = make_record(base_ms=ms)
        r["source"] = "benchmark_bin"
        r["latency_ms"].update(samples=[], p50=None, p90=None, p99=None, std=None, trimmed_mean=None,
                               mean=ms, min=ms * 0.95, max=ms * 1.05)
        return r
    append_jsonl(tmp_path / "a" / "results.jsonl", imported(10.0))
    append_jsonl(tmp_path / "b" / "results.jsonl", imported(10.2))
    append_jsonl(tmp_path / "c" / "results.jsonl", imported(13.0))
    a, b, c = (load_run(tmp_path / x) for x in "abc")
    assert compare_runs(a, b)[0].verdict == "within noise"
    ch = compare_runs(a, c)[0]
    assert (ch.verdict, ch.test, ch.p_value) == ("regression", "p50-p90 overlap", None)


def test_t_distribution_against_known_values():
    assert student_t_sf2(2.0, 10) == pytest.approx(0.0733880347707404, rel=1e-9)
    assert student_t_sf2(1.959963984540054, 1e7) == pytest.approx(0.05, rel=1e-5)
    t, df, p = welch_t_test([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0, 6.0])
    # reference values: scipy.stats.ttest_ind(b, a, equal_var=False)
    assert t == pytest.approx(1.5666989036012806, rel=1e-9) and p == pytest.approx(0.16128585628930428, rel=1e-9)
    assert df == pytest.approx(6.980769230769231, rel=1e-9)


def test_last_record_per_key_wins_and_errors(tmp_path, sample_run):
    append_jsonl(sample_run / "results.jsonl", make_record(threads=2, power_mode=0, seed=9))  # retried, now ok
    run = load_run(sample_run)
    assert (len(run.rows), len(run.error_rows), run.superseded) == (4, 0, 1)
    with pytest.raises(ConfigError, match="not a bench run directory"):
        report(tmp_path / "nothing")
    bad = make_record()
    del bad["device"]
    append_jsonl(tmp_path / "bad" / "results.jsonl", bad)
    with pytest.raises(ValidationError, match="record 1 does not follow the results schema: device: missing"):
        report(tmp_path / "bad")
    with pytest.raises(ConfigError, match="unknown format"):
        report(sample_run, formats=["pdf"])


@pytest.mark.integration
def test_html_renders_in_headless_chromium(sample_run, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium is not installed (apt-get install chromium; scripts/bootstrap.sh does it)")
    page = report(sample_run, formats=["html"]).paths["html"]
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "edgeclas bench: run" in dom.stdout and dom.stdout.count("<img") == 3
    shot = tmp_path / "shot.png"
    r = subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    img = _decode_png(base64.b64encode(shot.read_bytes()).decode())
    # The page drew its plots: many distinct colours (the blue bars among them), not a blank/error page.
    blue = np.all(np.abs(img.astype(int) - [168, 120, 76]) < 30, axis=-1)  # #4c78a8 in BGR
    assert blue.sum() > 500


def test_noisy_and_drifting_cells_are_flagged(tmp_path):
    steady = make_record(threads=1, base_ms=10.0, n=40)
    hot = make_record(threads=2, base_ms=10.0, n=40)
    hot["latency_ms"]["samples"] = [10.0 + 0.1 * i for i in range(40)]  # 10 → 13.9 ms: throttling
    hot["latency_ms"].update(compute(hot["latency_ms"]["samples"]).to_dict())
    append_jsonl(tmp_path / "r" / "results.jsonl", steady)
    append_jsonl(tmp_path / "r" / "results.jsonl", hot)
    run = load_run(tmp_path / "r")
    s, h = run.rows
    assert s.drift is not None and abs(s.drift) < 0.1 and s.cv < 0.1
    assert h.drift == pytest.approx((sum(10 + 0.1 * i for i in range(30, 40)) / 10) / (sum(10 + 0.1 * i for i in range(10)) / 10) - 1)
    md = report(tmp_path / "r", formats=["md"]).paths["md"].read_text()
    assert "slowing down (+" in md and "t2" in md.split("Less trustworthy")[1]
    assert "clarity onnxruntime t1" not in md.split("Less trustworthy")[1]
