"""``edgeclas verify``."""

from __future__ import annotations

from pathlib import Path

import click

from ..targets import OSES
from ._app import cli, console, handle_errors, no_verify_option, parse_csv


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--images", "-i", default=None, type=click.Path(path_type=Path),
              help="An image file or folder (default: the model's validation images).")
@click.option("--engines", default=None, help="Comma-separated engines (default: every one available here).")
@click.option("--tol", default=1e-4, show_default=True, type=float, help="Largest allowed max |Δprob| vs paddle.")
@click.option("--limit", default=16, show_default=True, type=int, help="At most this many images.")
@click.option("--threads", "-t", default=None, type=click.IntRange(1), help="CPU threads of each engine (default 1).")
@click.option("--threshold", default=None, type=float,
              help="Decision threshold for comparing answers (default: the model's recorded one).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--device", default=None, help="Also run the device engines on this device (serial) and compare.")
@click.option("--device-engines", default=None,
              help="Engines run on --device through clas_system [default: every one that runs models].")
@click.option("--build", "builds", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Device build dir(s) to use (default: build/<os>-<arch>-<engine>, built when missing).")
@click.option("--adb-server", default=None, help="HOST:PORT of the adb server (default: local).")
@click.option("--os", "os_name", type=click.Choice(OSES), default=None,
              help="Override the device's detected userland.")
@no_verify_option
@handle_errors
def verify(model_dir: Path, images: Path | None, engines: str | None, tol: float, limit: int, threads: int | None,
           threshold: float | None, as_json: bool, device: str | None, device_engines: str, builds: tuple[str, ...], adb_server: str | None,
           os_name: str | None, no_verify: bool) -> None:
    """Run every host engine on the same preprocessed batch and compare with Paddle Inference.

    Prints max |Δprob| and answer agreement per engine (top-1, or the classes a thresholded binary or
    multi-label model decides); exits non-zero (8) above --tol. With --device,
    Paddle Lite (the arm .nb) and ONNX Runtime also run through clas_system on that device, one row each.

    \b
      edgeclas verify models/clarity --images data/clarity/val
      edgeclas verify models/clarity --images some/ --device 127.0.0.1:5555
    """
    from ..verify import verify as run_verify

    report = run_verify(model_dir, images, engines=parse_csv(engines) or None, tol=tol, limit=limit, threads=threads,
                        threshold=threshold, verify=not no_verify, device=device, device_engines=parse_csv(device_engines) or None,
                        builds=builds, adb_server=adb_server, os_name=os_name)
    if as_json:
        import dataclasses

        from ..fsutil import json_text

        body = dict(dataclasses.asdict(report), model_dir=str(report.model_dir), passed=report.passed)
        click.echo(json_text(body, indent=2))
    else:
        console().print(report.table())
    report.raise_for_failures()
