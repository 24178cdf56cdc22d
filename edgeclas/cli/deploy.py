"""``edgeclas deploy``: run a model on one device and show its predictions and latency."""

from __future__ import annotations

from pathlib import Path

import click

from ..targets import OSES, model_engine_names
from ._app import TableChoice, cli, console, handle_errors


@cli.command()
@click.option("--device", "-d", "device_serial", default=None, metavar="SERIAL",
              help="Device serial (default: $ANDROID_SERIAL, else the only connected device).")
@click.option("--model", "-m", "model_dir", required=True, type=click.Path(path_type=Path), help="Model directory (edgeclas export).")
@click.option("--images", "-i", required=True, type=click.Path(path_type=Path), help="An image file or a folder.")
@click.option("--build", "build_dir", default=None, type=click.Path(path_type=Path),
              help="Build directory (edgeclas build); default: build/<os>-<arch>-<engine>, built if missing.")
@click.option("--engine", type=TableChoice(model_engine_names), default=None,
              help="Engine when no --build is given (default: lite on Android with a .nb, else onnxruntime).")
@click.option("--os", "os_name", type=click.Choice(OSES), default=None,
              help="Override the device's detected userland (which build it needs).")
@click.option("--threads", "-t", default=1, show_default=True, type=int)
@click.option("--power-mode", default=0, show_default=True, type=click.IntRange(0, 3),
              help="0 big cores, 1 little cores, 2 all cores, 3 no binding.")
@click.option("--warmup", default=1, show_default=True, type=click.IntRange(0))
@click.option("--repeats", default=10, show_default=True, type=click.IntRange(1))
@click.option("--topk", default=5, show_default=True, type=click.IntRange(1))
@click.option("--remote-dir", default="/data/local/tmp/edgeclas", show_default=True)
@click.option("--keep", is_flag=True, help="Leave the bundle on the device (a re-deploy then pushes only changes).")
@click.option("--out", "-o", default=None, type=click.Path(path_type=Path),
              help="Result JSON (default: beside the bundle, <bundle>.result.json).")
@click.option("--bundle-dir", default=None, type=click.Path(path_type=Path), help="Where to write the bundle.")
@click.option("--timeout", "timeout_s", default=300.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds clas_system may run on the device.")
@click.option("--adb-server", default=None, metavar="HOST:PORT", help="adb server (default: local, port 5037 or $ANDROID_ADB_SERVER_PORT).")
@handle_errors
def deploy(device_serial, model_dir, images, build_dir, engine, os_name, threads, power_mode, warmup, repeats, topk,
           remote_dir, keep, out, bundle_dir, timeout_s, adb_server) -> None:
    """Bundle build + model + images, push what changed, run clas_system on the device, print the results."""
    from rich.markup import escape
    from rich.table import Table

    from ..deploy import RunSettings, deploy as run_deploy

    settings = RunSettings(threads=threads, power_mode=power_mode, warmup=warmup, repeats=repeats, topk=topk,
                           timeout_s=timeout_s)
    res = run_deploy(device_serial, model_dir, images, build_dir, settings, remote_dir, keep, out,
                     engine=engine, os_name=os_name, adb_server=adb_server, bundle_dir=bundle_dir)
    run, info = res.run, res.device
    c = console()
    c.print(f"device {escape(info.serial)} ({escape(info.model)}, {escape(info.abi)}, {info.os}) · "
            f"engine {escape(run.engine)} {escape(run.engine_version)} · threads {run.threads} · power mode {run.power_mode}")
    c.print(f"pushed {res.sync.files_pushed} file(s), {res.sync.bytes_pushed} bytes; {res.sync.files_skipped} unchanged")
    table = Table()
    for col in ("image", "top-1", "label", "score"):
        table.add_column(col)
    for rel in res.bundle.images:
        p = run.prediction(rel)
        t = p.topk[0] if p and p.topk else None
        table.add_row(escape(rel), str(t.class_id) if t else "-", escape(t.label) if t else "-", f"{t.score:.4f}" if t else "-")
    c.print(table)
    lat = run.latency
    if lat and lat.mean is not None:
        c.print(f"latency ms: init {lat.init} · first {lat.first} · mean {lat.mean:.3f} ± {lat.std:.3f} · "
                f"min {lat.min:.3f} · p50 {lat.p50:.3f} · p90 {lat.p90:.3f} · max {lat.max:.3f} "
                f"({len(lat.samples)} runs)")
    c.print(f"result: {escape(str(res.result_path))}" + ("" if res.cleaned or keep else " (remote dir not cleaned)"))
