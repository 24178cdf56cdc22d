"""`edgeclas serve` under concurrent loopback clients vs in-process predict, per batch limit.

    .venv/bin/python benchmarks/bench_serve.py [--model MODEL_DIR] [--engine onnxruntime] [--threads 1]
                                               [--batch 1,8] [--clients 16] [--seconds 10] [--max-delay-ms 2]

For each batch limit B: start `edgeclas serve MODEL --max-batch B` (a subprocess on a free loopback
port), wait for /health, then --clients concurrent clients (asyncio + httpx in this process, one
keep-alive connection each) post raw image files to /predict for --seconds after one second of
warm-up; print requests/s, p50/p99 latency, errors and the mean engine batch (from /metrics). Next to
it: the in-process pipeline predict runs (edgeclas.preprocess.load_batch from the files → the same
engine with the same threads → edgeclas.predict.postprocess, the engine loaded once), batch size B,
for as long; the ratio server/in-process shows what HTTP and batching cost or gain. The clients run
on the same cores as the server: on a small machine their CPU is part of the price.

MODEL_DIR: default the test model cached by tests/fixtures_model.py (see bench_native.py). Images:
scikit-image's photographs (real sizes, PNG and JPEG), each request one image, in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_native import PHOTOS, _default_model  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(r"listening on (http://\S+:\d+)")


def _csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


class Server:
    """`edgeclas serve --port 0` in a subprocess; learns its port from the log, stops it with SIGTERM."""

    def __init__(self, args: list[str]) -> None:
        exe = Path(sys.executable).with_name("edgeclas")
        cmd = [str(exe)] if exe.is_file() else [sys.executable, "-c", "from edgeclas.cli import main; main()"]
        self.proc = subprocess.Popen([*cmd, "serve", *args, "--port", "0", "--no-access-log"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def url(self, timeout: float = 120) -> str:
        """The server's URL once /health answers 200."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            found = [m.group(1) for m in map(_LISTENING.search, list(self.lines)) if m]
            if found:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{found[0]}/health", timeout=5).status_code == 200:
                        return found[0]
            time.sleep(0.1)
        raise RuntimeError("server did not become ready:\n" + "".join(self.lines))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        self.proc.stderr.close()


async def _load(url: str, bodies: list[bytes], clients: int, seconds: float, warmup: float):
    """(latencies of requests finished in the timed window, errors, elapsed seconds of that window)."""
    import httpx

    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup
    end = start + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def client(c: int) -> None:
            nonlocal errors
            i = c
            while loop.time() < end:
                t0 = loop.time()
                try:
                    r = await http.post(f"{url}/predict", content=bodies[i % len(bodies)])
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                t1 = loop.time()
                if t0 >= start and t1 <= end:
                    if ok:
                        latencies.append(t1 - t0)
                    else:
                        errors += 1
                i += 1

        await asyncio.gather(*(client(c) for c in range(clients)))
    return latencies, errors, seconds


def _mean_batch(url: str) -> float:
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    values = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        for s in family.samples:
            if s.name in ("edgeclas_serve_batch_size_sum", "edgeclas_serve_batch_size_count"):
                values[s.name] = s.value
    return values["edgeclas_serve_batch_size_sum"] / max(values["edgeclas_serve_batch_size_count"], 1.0)


def _in_process(model, paths: list[Path], engine: str, threads: int, batch: int, seconds: float) -> float:
    """Images/s of the predict pipeline (files → load_batch → engine → postprocess), engine loaded once."""
    from edgeclas import engines
    from edgeclas.predict import postprocess
    from edgeclas.preprocess import load_batch

    predictor = engines.load(engine, model, threads=threads)
    k = min(5, model.class_num)

    def one(chunk: list[Path]) -> None:
        postprocess(predictor(load_batch(chunk, model.preprocess)), [str(p) for p in chunk], model.labels, k)

    one(paths[:batch])  # warm-up
    done, i = 0, 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        chunk = [paths[(i + j) % len(paths)] for j in range(batch)]
        one(chunk)
        done += batch
        i += batch
    return done / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--engine", default="onnxruntime")
    ap.add_argument("--threads", type=int, default=1, help="engine threads (server and in-process)")
    ap.add_argument("--batch", default="1,8", help="batch limits (--max-batch of the server, batch size in-process)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0, help="timed seconds per cell")
    ap.add_argument("--max-delay-ms", type=float, default=2.0)
    args = ap.parse_args()

    import skimage

    from edgeclas.stats import percentile
    from edgeclas.model_dir import ModelDir

    with tempfile.TemporaryDirectory() as tmp:
        model = ModelDir.load(args.model or _default_model(Path(tmp)))
        photos = Path(skimage.data_dir)
        paths = [Path(shutil.copy2(photos / name, Path(tmp) / name)) for name in PHOTOS]
        bodies = [p.read_bytes() for p in paths]
        print(f"model {model.path} ({model.arch}, input {'x'.join(map(str, model.input_size))}); engine {args.engine}, "
              f"{args.threads} thread(s); {len(paths)} photos ({sum(map(len, bodies)) // len(bodies) // 1024} KiB mean); "
              f"{args.clients} clients; {args.seconds:g} s per cell; max delay {args.max_delay_ms:g} ms; "
              f"cpu cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}", flush=True)

        rows = []
        for batch in _csv_ints(args.batch):
            server = Server([str(model.path), "--engine", args.engine, "--threads", str(args.threads),
                             "--max-batch", str(batch), "--max-delay-ms", str(args.max_delay_ms)])
            try:
                url = server.url()
                lat, errors, window = asyncio.run(_load(url, bodies, args.clients, args.seconds, warmup=1.0))
                mean_batch = _mean_batch(url)
            finally:
                server.stop()
            ips = _in_process(model, paths, args.engine, args.threads, batch, args.seconds)
            lat.sort()
            rps = len(lat) / window
            rows.append((batch, rps, percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3, errors, mean_batch, ips))
            print(f"  batch limit {batch}: done", flush=True)

    print()
    print(f"{'max batch':>9s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s} {'mean batch':>10s} "
          f"{'in-process img/s':>16s} {'server/in-process':>17s}")
    for batch, rps, p50, p99, errors, mean_batch, ips in rows:
        print(f"{batch:9d} {rps:8.1f} {p50:8.1f} {p99:8.1f} {errors:6d} {mean_batch:10.2f} {ips:16.1f} {rps / ips:16.2f}x")
    return 0 if all(r[4] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
