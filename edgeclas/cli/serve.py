"""``edgeclas serve``."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import cli, handle_errors


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--engine", "-e", default="auto", show_default=True,
              help="Host engine: onnxruntime, paddle, lite, or auto (the first of those that runs this model).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", "-p", default=8868, show_default=True, type=int, help="Port to listen on (0: a free one).")
@click.option("--workers", "-w", default=1, show_default=True, type=int,
              help="Server processes, each with its own engine and batcher, sharing the port.")
@click.option("--threads", "-t", default=1, show_default=True, type=int, help="CPU threads of each engine.")
@click.option("--max-batch", "-b", default=8, show_default=True, type=int,
              help="Images of concurrent requests run as one engine call, at most this many.")
@click.option("--max-delay-ms", default=2.0, show_default=True, type=float,
              help="How long the first image of a batch waits for more before the batch runs.")
@click.option("--topk", "-k", default=5, show_default=True, type=int, help="Classes reported per image by /predict.")
@click.option("--threshold", default=None, type=float,
              help="/predict reports only those of the top K with probability >= this (maybe none).")
@click.option("--max-body-mb", default=20.0, show_default=True, type=float, help="Largest request body (413 above).")
@click.option("--max-pixels", default=40_000_000, show_default=True, type=int,
              help="Largest image, as stored and after the short-side resize (413 above; checked before decoding).")
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="One log line per request.")
@handle_errors
def serve(model_dir: Path, engine: str, host: str, port: int, workers: int, threads: int, max_batch: int,
          max_delay_ms: float, topk: int, threshold: float | None, max_body_mb: float, max_pixels: int,
          access_log: bool) -> None:
    """Serve an exported model over HTTP until SIGTERM or Ctrl-C.

    \b
    POST /predict              raw image, multipart file(s) or JSON {"images": [base64...]}
                               -> one JSON line per image, as `edgeclas predict --json`
    POST /NAME/prediction      Paddle Serving's pipeline protocol (PaddleClas's pipeline_http_client.py)
    GET  /health               200 once the model is loaded and warmed up, 503 before
    GET  /metrics  /model      Prometheus metrics; the model's manifest
    \b
    Example:
      edgeclas serve edgeclas-demo/model &
      curl --data-binary @img.png localhost:8868/predict
    """
    from ..serve import ServeSettings, resolve, serve as run_server

    settings = resolve(ServeSettings(
        str(model_dir), engine=engine, host=host, port=port, workers=workers, threads=threads, max_batch=max_batch,
        max_delay_ms=max_delay_ms, topk=topk, threshold=threshold, max_body_mb=max_body_mb, max_pixels=max_pixels,
        access_log=access_log,
    ))
    click.echo(f"serving {settings.model_dir} with {settings.engine} ({settings.threads} thread(s), "
               f"{settings.workers} worker(s), max batch {settings.max_batch}, max delay {settings.max_delay_ms:g} ms)",
               err=True)
    if threshold is not None:
        click.echo("note: --threshold and --topk apply to /predict; /NAME/prediction answers the top-1 class, "
                   "as PaddleClas's Paddle Serving service does", err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"note: listening on {host}: reachable from other machines, without authentication", err=True)
    run_server(settings)
