"""``edgeclas build``: cross-build clas_system for a target."""

from __future__ import annotations

from typing import Any, Callable

import click

from ..targets import ARCHES, ENGINES, OSES, engine_names
from ._app import TableChoice, cli, handle_errors


def _engine_root_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One ``--<x>-root DIR`` option per engine row that names one (its SDK directory)."""
    for row in reversed(ENGINES.values()):
        if row.root_option and row.sdk:
            fn = click.option(row.root_option, f"root_{row.name}", type=click.Path(exists=True, file_okay=False),
                              default=None, help=f"{row.title} SDK dir (SDK item {row.sdk}) for --engine {row.name}, "
                                                 "instead of its environment variable or the cache.")(fn)
    return fn


@cli.command()
@click.option("--arch", default="host", show_default=True, help=", ".join(ARCHES) + ".")
@click.option("--os", "os_", type=click.Choice(OSES), default=None,
              help="Target OS [default: android for armv7/armv8 (phones), linux for host]; linux for ARM boards.")
@click.option("--engine", type=TableChoice(engine_names), default=None,
              help="Inference engine compiled in [default: lite on Android, onnxruntime on Linux, none on armv7 Linux].")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output directory [default: build/<os>-<arch>-<engine>].")
@click.option("--python", is_flag=True, help="Also build the pybind11 host module (host only).")
@click.option("--tests", is_flag=True, help="Build the native tests and run them (under qemu for ARM Linux).")
@click.option("--jobs", "-j", type=int, default=2, show_default=True, help="Parallel compile jobs.")
@_engine_root_options
@click.option("--ndk", type=click.Path(exists=True, file_okay=False), default=None,
              help="Android NDK dir instead of $ANDROID_NDK_HOME or the cache.")
@handle_errors
def build(arch, os_, engine, out, python, tests, jobs, ndk, **roots) -> None:
    """Configure and build native/ (CMake + Ninja, cached), then copy clas_system, its runtime libs and a
    manifest into --out.

    \b
      edgeclas build --arch host --python --tests
      edgeclas build --arch armv8 --os linux --engine onnxruntime --tests
      edgeclas build --arch armv8                      # Android: needs the NDK and Paddle Lite libs
    """
    from ..build import build as run_build, default_engine
    from ..errors import ConfigError
    from ..targets import target

    engine = engine or default_engine(target(arch, os_))
    unused = [ENGINES[key[len("root_"):]].root_option for key, value in roots.items() if value and key != f"root_{engine}"]
    if unused:
        raise ConfigError(f"{', '.join(map(str, unused))} names the SDK of another engine; this build uses {engine}",
                          hint="drop it, or pick that engine with --engine")
    result = run_build(arch, os_, engine, out, python=python, tests=tests, jobs=jobs, ndk=ndk,
                       engine_root=roots.get(f"root_{engine}"), log=lambda m: click.echo(f"  {m}", err=True))
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
