"""``edgeclas emulator start|stop|status``: an emulated ARM phone on loopback, reached through adb."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from ._app import cli, console, handle_errors


@cli.group()
def emulator() -> None:
    """Run an emulated ARM Android device (adb over 127.0.0.1; Android's mksh, toybox and ARM programs under qemu-user).

    \b
      edgeclas emulator start --arch armv8        # prints the serial, e.g. 127.0.0.1:40123
      adb -s 127.0.0.1:40123 shell getprop ro.product.model
      edgeclas emulator status
      edgeclas emulator stop --all
    """


@emulator.command("start")
@click.option("--arch", type=click.Choice(["armv8", "armv7"]), default="armv8", show_default=True,
              help="Device ABI (armv8: arm64-v8a that also runs armeabi-v7a programs).")
@click.option("--profile", default=None, help="Device profile name in devices/ or a YAML file (overrides --arch).")
@click.option("--port", type=int, default=None, help="TCP port on 127.0.0.1 for the device [default: a free one].")
@click.option("--adb-port", type=int, default=None,
              help="adb server port on this machine [default: the server every verb uses: $EDGECLAS_ADB_SERVER, "
                   "$ANDROID_ADB_SERVER_PORT or 5037].")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Host folder holding the device's files [default: in the edgeclas cache].")
@click.option("--quota-mb", type=click.IntRange(1), default=None, help="Storage quota of /data and /sdcard [default: profile, 512].")
@click.option("--isolate/--no-isolate", default=None,
              help="The device always runs in its own namespaces (its real shell would otherwise act on this "
                   "machine's files): --isolate is the only mode, --no-isolate is refused.")
@click.option("--no-connect", is_flag=True, help="Only start the device; do not run 'adb connect'.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def start_cmd(arch: str, profile: str | None, port: int | None, adb_port: int | None, root: str | None,
              quota_mb: int | None, isolate: bool | None, no_connect: bool, as_json: bool) -> None:
    """Start an emulated device in the background and connect the adb server to it; prints its serial."""
    from ..emulator.manager import start

    info = start(arch=arch, profile=profile, port=port, adb_port=adb_port, root=root, quota_mb=quota_mb,
                 connect=not no_connect, isolate=isolate)
    if as_json:
        click.echo(json.dumps(asdict(info), indent=2))
    else:
        click.echo(info.serial)


@emulator.command("stop")
@click.option("--port", type=int, default=None, help="Stop the device on this port.")
@click.option("--serial", default=None, help="Stop the device with this serial (127.0.0.1:PORT).")
@click.option("--all", "all_", is_flag=True, help="Stop every emulated device started from this cache.")
@handle_errors
def stop_cmd(port: int | None, serial: str | None, all_: bool) -> None:
    """Disconnect and stop emulated devices."""
    from ..emulator.manager import status, stop
    from ..errors import ConfigError

    if port is None and serial is None and not all_:
        running = [i for i in status(adb=False) if i.state != "not running"]
        if len(running) != 1:
            raise ConfigError("say which emulated device to stop", hint="use --port, --serial or --all "
                              f"({len(running)} running; see 'edgeclas emulator status')")
        port = running[0].port
    for info in stop(port=port, serial=serial, all_=all_):
        click.echo(f"stopped {info.serial} ({info.profile})")


@emulator.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@handle_errors
def status_cmd(as_json: bool) -> None:
    """List emulated devices started from this cache and their adb state."""
    from rich.markup import escape
    from rich.table import Table

    from ..emulator.manager import status

    rows = status()
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo("no emulated devices (start one: edgeclas emulator start --arch armv8)")
        return
    table = Table(title="emulated devices")
    for col in ("serial", "state", "profile", "arch", "pid", "adb port", "root"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(escape(str(x)) for x in (r.serial, r.state, r.profile, r.arch, r.pid, r.adb_port, r.root)))
    console().print(table)
