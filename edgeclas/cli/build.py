"""``edgeclas build``: cross-build clas_system for a target."""

from __future__ import annotations

import click

from ._app import cli, handle_errors


@cli.command()
@click.option("--arch", default="host", show_default=True, help="host, armv7 or armv8.")
@click.option("--os", "os_", type=click.Choice(["android", "linux"]), default=None,
              help="Target OS [default: android for armv7/armv8 (phones), linux for host]; linux for ARM boards.")
@click.option("--engine", type=click.Choice(["lite", "onnxruntime", "none"]), default=None,
              help="Inference engine compiled in [default: lite on Android, onnxruntime on Linux, none on armv7 Linux].")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output directory [default: build/<os>-<arch>-<engine>].")
@click.option("--python", is_flag=True, help="Also build the pybind11 host module (host only).")
@click.option("--tests", is_flag=True, help="Build the native tests and run them (under qemu for ARM Linux).")
@click.option("--jobs", "-j", type=int, default=2, show_default=True, help="Parallel compile jobs.")
@click.option("--ort-root", type=click.Path(exists=True, file_okay=False), default=None,
              help="ONNX Runtime SDK dir (include/ + lib/) instead of $EDGECLAS_ORT_ROOT or the cache.")
@click.option("--lite-root", type=click.Path(exists=True, file_okay=False), default=None,
              help="Paddle Lite prebuilt dir (cxx/) instead of $EDGECLAS_LITE_ROOT or the cache.")
@click.option("--ndk", type=click.Path(exists=True, file_okay=False), default=None,
              help="Android NDK dir instead of $ANDROID_NDK_HOME or the cache.")
@handle_errors
def build(arch, os_, engine, out, python, tests, jobs, ort_root, lite_root, ndk) -> None:
    """Configure and build native/ (CMake + Ninja, cached), then copy clas_system, its runtime libs and a
    manifest into --out.

    \b
      edgeclas build --arch host --python --tests
      edgeclas build --arch armv8 --os linux --engine onnxruntime --tests
      edgeclas build --arch armv8                      # Android: needs the NDK and Paddle Lite libs
    """
    from ..build import build as run_build

    result = run_build(arch, os_, engine, out, python=python, tests=tests, jobs=jobs, ort_root=ort_root,
                       lite_root=lite_root, ndk=ndk, log=lambda m: click.echo(f"  {m}", err=True))
    t = result.target
    click.echo(f"built {t.key} ({t.abi}, {t.triple}) engine {result.engine} {result.engine_version}".rstrip()
               + f" with {result.compiler}")
    click.echo(f"  {result.binary}")
    for lib in result.libs:
        click.echo(f"  {lib}")
    if result.python_module:
        click.echo(f"  {result.python_module}")
    if result.tests is not None:
        r = result.tests
        click.echo(f"  native tests: {r.passed}/{r.total} passed" + (f" ({r.runner})" if r.runner else "")
                   if r.ran else f"  native tests: not run ({r.note})")
    result.check_tests()
