"""``edgeclas devices``: every device the adb server knows, what it is, and which build fits it."""

from __future__ import annotations

import json

import click

from ..device.base import DeviceInfo
from ._app import cli, console, handle_errors

__all__ = ["devices", "format_clusters", "device_row"]


def format_clusters(info: DeviceInfo) -> str:
    """``4×1.79 + 3×2.42 + 1×2.84 GHz`` (little → prime), or the core count when frequencies are unknown."""
    if not info.clusters:
        return f"{info.cpu_count} cores" if info.cpu_count else ""
    return " + ".join(f"{len(c.cpus)}×{c.max_freq_ghz:.2f}" for c in info.clusters) + " GHz"


def device_row(info: DeviceInfo) -> list[str]:
    android = f"{info.android_version} (API {info.sdk})" if info.sdk else info.android_version
    soc = " / ".join(x for x in (info.soc, info.board) if x)
    fits = f"{info.build_target}" if info.build_target else "none"
    return [info.serial, info.state, info.model, ",".join(info.abilist), android, soc, format_clusters(info), fits]


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per device.")
@click.option("--adb-server", default=None, metavar="HOST:PORT",
              help="adb server to ask (default: $EDGECLAS_ADB_SERVER, $ANDROID_ADB_SERVER_PORT, 127.0.0.1:5037).")
@handle_errors
def devices(as_json: bool, adb_server: str | None) -> None:
    """List devices: serial, state, model, ABIs, Android version, SoC, CPU clusters, the build that fits."""
    from rich.markup import escape
    from rich.table import Table

    from ..device import AdbDevice, AdbServer
    from ..errors import DeviceError

    server = AdbServer.resolve(adb_server)
    rows: list[DeviceInfo] = []
    problems: dict[str, str] = {}
    for serial, state in server.list():
        if state != "device":
            rows.append(DeviceInfo(serial=serial, state=state))
            continue
        try:
            rows.append(AdbDevice(serial, server).info())
        except DeviceError as e:  # one broken device must not hide the others
            rows.append(DeviceInfo(serial=serial, state=state))
            problems[serial] = e.message
    if as_json:
        for info in rows:
            d = info.to_dict()
            if info.serial in problems:
                d["error"] = problems[info.serial]
            click.echo(json.dumps(d))
        return
    if not rows:
        click.echo(f"no devices on the adb server at {server.address} "
                   "(plug in a phone, 'adb connect HOST:PORT', or 'edgeclas emulator start')")
        return
    table = Table(title=f"devices on adb server {server.address}")
    for col in ("serial", "state", "model", "ABIs", "Android", "SoC / board", "CPU clusters", "build"):
        table.add_column(col)
    for info in rows:
        table.add_row(*(escape(x) for x in device_row(info)))
    console().print(table)
    for serial, msg in problems.items():
        click.echo(f"warning: {serial}: {msg}", err=True)
