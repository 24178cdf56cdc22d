"""``edgeclas bench``: the benchmark matrix on devices, one results.jsonl line per finished cell."""

from __future__ import annotations

from pathlib import Path

import click

from ..targets import OSES, model_engine_names
from ._app import TableChoice, TableList, cli, console, handle_errors, parse_csv


@cli.command()
@click.option("--devices", "-d", default=None, metavar="SERIAL[,SERIAL…]|all",
              help="Devices (default: $ANDROID_SERIAL, else the only connected device); 'all' = every online one.")
@click.option("--model", "-m", "models", required=True, metavar="MODEL_DIR[,MODEL_DIR…]", help="Model directories.")
@click.option("--engine", "engines", type=TableList(model_engine_names), default="onnxruntime", show_default=True,
              help="Engines (comma-separated).")
@click.option("--threads", "-t", default="1", show_default=True, metavar="N[,N…]")
@click.option("--power-mode", "power_modes", default="0", show_default=True, metavar="M[,M…]",
              help="0 big cores, 1 little cores, 2 all cores, 3 no binding.")
@click.option("--warmup", default=1, show_default=True, type=click.IntRange(0), help="Untimed runs per image.")
@click.option("--repeats", default=20, show_default=True, type=click.IntRange(1), help="Timed runs per image.")
@click.option("--cooldown", "cooldown_s", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to pause between cells on one device (thermal recovery).")
@click.option("--images", "-i", default=None, type=click.Path(path_type=Path),
              help="Image file or folder (default: 4 validation images of the model's dataset).")
@click.option("--out", "-o", default=None, type=click.Path(path_type=Path),
              help="Run directory (default: runs/bench-<UTC time>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out: skip cells already recorded.")
@click.option("--retry-errors", is_flag=True, help="With --resume: run cells recorded as errors again.")
@click.option("--build", "builds", multiple=True, type=click.Path(path_type=Path),
              help="Build directory to use when it fits a device (repeatable); else build/<os>-<arch>-<engine>.")
@click.option("--build-root", default=Path("build"), show_default=True, type=click.Path(path_type=Path),
              help="Where builds are looked for and made.")
@click.option("--no-build", is_flag=True, help="Never build: fail the cells whose build is missing.")
@click.option("--os", "os_name", type=click.Choice(OSES), default=None,
              help="Override the devices' detected userland (which build they need).")
@click.option("--reference", default="paddle", show_default=True, type=click.Choice(["paddle", "onnxruntime", "none"]),
              help="Host engine the device outputs are compared with ('none' skips the accuracy check).")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds one cell may run on the device.")
@click.option("--lock-timeout", "lock_timeout_s", default=600.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to wait for a device another edgeclas run is using.")
@click.option("--adb-server", default=None, metavar="HOST:PORT", help="adb server (default: local).")
@handle_errors
def bench(devices, models, engines, threads, power_modes, warmup, repeats, cooldown_s, images, out, resume,
          retry_errors, builds, build_root, no_build, os_name, reference, timeout_s, lock_timeout_s, adb_server) -> None:
    """Benchmark models on devices: latency stats, peak memory, cores used and accuracy vs the host.

    \b
    Each finished cell is appended to RUN_DIR/results.jsonl at once; kill it any time and
    continue with --resume. Then: edgeclas report RUN_DIR
    """
    from ..bench import bench as run_bench

    if devices is None:
        devices = ""  # select_devices: $ANDROID_SERIAL or the only device
    res = run_bench(
        devices, parse_csv(models), engines=engines, threads=parse_csv(threads, int),
        power_modes=parse_csv(power_modes, int), warmup=warmup, repeats=repeats, cooldown_s=cooldown_s,
        images=images, out=out, resume=resume, retry_errors=retry_errors, adb_server=adb_server, builds=builds,
        build_root=build_root, allow_build=not no_build, os_name=os_name, timeout_s=timeout_s,
        reference=None if reference == "none" else reference, lock_timeout_s=lock_timeout_s,
        progress=lambda line: click.echo(line),
    )
    c = console()
    c.print(f"{res.ran} cell(s) run, {res.skipped} already done, {res.errors} failed → {res.results_path}")
    for serial, why in res.device_failures.items():
        c.print(f"[red]device {serial} stopped:[/red] {why}")
    c.print(f"report: edgeclas report {res.run_dir}")
    if not res.ok:
        raise SystemExit(1)


@cli.command("import-results")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--tool", required=True, type=click.Choice(["benchmark_bin", "paddleclas_demo"]),
              help="Which tool printed the files.")
@click.option("--out", "-o", "run_dir", required=True, type=click.Path(path_type=Path), help="Run directory to add to.")
@click.option("--device", required=True, metavar="NAME", help="The phone the numbers came from (its serial, to match later runs).")
@click.option("--model", "model_name", required=True, metavar="NAME", help="Model name (as edgeclas bench records it).")
@click.option("--engine", default="lite", show_default=True, type=TableChoice(model_engine_names))
@click.option("--threads", default=None, type=click.IntRange(1), help="When the output does not say.")
@click.option("--power-mode", default=None, type=click.IntRange(0, 3), help="When the output does not say.")
@click.option("--soc", default=None, help="SoC of the device, for the report.")
@click.option("--abi", default=None, help="ABI of the device, for the report.")
@handle_errors
def import_results(files, tool, run_dir, device, model_name, engine, threads, power_mode, soc, abi) -> None:
    """Add Paddle Lite benchmark_bin or PaddleClas demo output to a run, so reports show and compare it."""
    from ..bench.importers import import_output

    c = console()
    for f in files:
        r = import_output(f, tool, run_dir, device=device, model=model_name, engine=engine, threads=threads,
                          power_mode=power_mode, soc=soc, abi=abi)
        c.print(f"{f}: {'added' if r.added else 'already imported'} (cell {r.key}) → {r.path}")
