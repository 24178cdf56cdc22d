"""``edgeclas sdk list|install|path``: the external tools and libraries builds need."""

from __future__ import annotations

import json

import click

from ..targets import OSES
from ._app import cli, console, handle_errors, parse_csv

_ARCH = click.option("--arch", default=None, help="host, armv7 or armv8 (default: every target the item supports).")
_OS = click.option("--os", "os_", type=click.Choice(OSES), default=None,
                   help="Target OS (default: android for armv7/armv8, linux for host).")


@cli.group()
def sdk() -> None:
    """Find, install and build SDK pieces: NDK, ONNX Runtime, Paddle Lite libs, cross compilers, qemu.

    \b
    Resolution order for every item: flag -> environment variable -> edgeclas cache -> install.
      edgeclas sdk list
      edgeclas sdk install onnxruntime --arch armv8 --os linux
      edgeclas sdk build paddle-lite --arch armv8 --os linux --tailor models/clarity
      edgeclas sdk path onnxruntime --arch host
    """


@sdk.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@handle_errors
def list_(as_json: bool) -> None:
    """Every item and target: version, found or missing, source, path (or how to get it)."""
    from rich.markup import escape
    from rich.table import Table

    from .. import sdk as sdk_mod

    rows = sdk_mod.doctor_rows()
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    table = Table(title="edgeclas sdk")
    for col in ("item", "version", "status", "source"):
        table.add_column(col, no_wrap=True)
    table.add_column("path / how to get it", overflow="fold")  # paths stay whole, to copy
    for r in rows:
        status = "[green]found[/]" if r.found else "[red]missing[/]"
        source = r.note.split(";")[0] if r.found else ""  # the rest of the note is in --json
        table.add_row(escape(r.name), escape(r.version), status, escape(source),
                      escape(r.where if r.found else r.how))
    console().print(table)


@sdk.command()
@click.argument("name")
@_ARCH
@_OS
@click.option("--archive", type=click.Path(exists=True, dir_okay=False),
              help="A file you downloaded yourself (ndk, paddle-lite): verified, then unpacked into the cache.")
@click.option("--sha256", "sha256", default=None, help="Expected sha256 of --archive (from the official download page).")
@handle_errors
def install(name: str, arch: str | None, os_: str | None, archive: str | None, sha256: str | None) -> None:
    """Install NAME into the edgeclas cache (pinned downloads, sha256-checked)."""
    from .. import sdk as sdk_mod

    options = {k: v for k, v in (("archive", archive), ("sha256", sha256)) if v}
    for item in sdk_mod.install(name, arch=arch, os=os_, **options):
        where = f" for {item.target}" if item.target else ""
        click.echo(f"{item.name} {item.version}{where}: {item.path} ({item.source})")


@sdk.command()
@click.argument("name")
@click.option("--arch", default="host", show_default=True, help="host, armv7 or armv8.")
@_OS
@handle_errors
def path(name: str, arch: str, os_: str | None) -> None:
    """Print where NAME is for the target (for scripts: exits 5 with a hint when missing)."""
    from .. import sdk as sdk_mod

    click.echo(str(sdk_mod.resolve(name, arch=arch, os=os_).path))


@sdk.command("build")
@click.argument("name")
@click.option("--source", default=None,
              help="Paddle Lite's source: a git URL, a local clone or a git bundle "
                   "[default: $EDGECLAS_PADDLE_LITE_SOURCE, else shared/third_party/ beside the checkout].")
@click.option("--ref", default="v2.13-rc", show_default=True, help="Tag (or branch/commit at a tag) to build.")
@click.option("--arch", default="armv8", show_default=True, help="armv8 or armv7 (host x86 is refused, see docs).")
@_OS
@click.option("--tailor", default=None, metavar="MODEL_DIR,...",
              help="Keep only the kernels these models' arm .nb files need (opt records them).")
@click.option("--fp16", is_flag=True, help="Also build ARMv8.2 FP16 kernels (armv8; precision FP16 in clas_system).")
@click.option("--android-api", type=int, default=24, show_default=True, help="Android API level (--os android).")
@click.option("--android-stl", type=click.Choice(["c++_shared", "c++_static"]), default="c++_shared",
              show_default=True, help="Android C++ runtime (--os android).")
@click.option("--ndk", type=click.Path(exists=True, file_okay=False), default=None,
              help="Android NDK dir instead of $ANDROID_NDK_HOME or the cache.")
@click.option("--jobs", "-j", type=int, default=2, show_default=True, help="Parallel compile jobs.")
@click.option("--no-install", is_flag=True,
              help="Only build into the build cache; do not make it the paddle-lite piece for the target.")
@handle_errors
def build_cmd(name: str, source: str | None, ref: str, arch: str, os_: str | None, tailor: str | None, fp16: bool,
              android_api: int, android_stl: str, ndk: str | None, jobs: int, no_install: bool) -> None:
    """Build NAME (paddle-lite) from its official source for a target and install it into the cache.

    \b
    Builds are cached by (source commit, target, options, tailored kernels): the same command again
    takes a second. Tailored to a model, the library is ~0.5 MB and builds in ~3-6 min on 2 cores
    (all kernels: ~2.6 MB, ~15 min).
      edgeclas sdk build paddle-lite --arch armv8 --os linux --tailor edgeclas-demo/model
      edgeclas sdk build paddle-lite --source https://github.com/PaddlePaddle/Paddle-Lite --arch armv7 --os linux
      edgeclas sdk build paddle-lite --arch armv8 --os android --ndk ~/android-ndk-r26d
    """
    from ..errors import ConfigError
    from ..sdk.paddle_lite import install_build
    from ..lite.source_build import LiteBuildOptions, build_paddle_lite

    if name.replace("_", "-") != "paddle-lite":
        raise ConfigError(f"sdk build: only paddle-lite is built from source here, not '{name}'",
                          hint=f"edgeclas sdk install {name}")
    options = LiteBuildOptions(fp16=fp16, android_api=android_api, android_stl=android_stl)
    b = build_paddle_lite(source, ref=ref, arch=arch, os_=os_, tailor=parse_csv(tailor), options=options, jobs=jobs,
                          ndk=ndk, log=lambda m: click.echo(f"  {m}", err=True))
    size = b.library.stat().st_size / 1e6
    how = "from the build cache" if b.cached else f"built in {b.seconds:.0f} s"
    what = f"tailored to {len(b.tailoring.kernels)} kernels" if b.tailoring else "all kernels"
    click.echo(f"paddle-lite {b.version} for {b.target.key} ({b.source.commit[:12]}): {size:.2f} MB, {what}, {how}")
    click.echo(f"  build: {b.root}")
    if not no_install:
        item = install_build(b.root, b.target)
        click.echo(f"  installed: {item.path}  (edgeclas build --arch {b.target.arch} --os {b.target.os} "
                   "--engine lite uses it)")
