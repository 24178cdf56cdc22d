"""Paddle Lite: ``.nb`` conversion that works on today's Python, version pinning, and doctor rows.

``convert_nb`` is the stage function behind ``edgeclas convert --to nb``; the host ``lite`` engine
lives in :mod:`edgeclas.engines.lite`. Nothing here imports paddlelite: everything that does runs in
a worker process (:mod:`edgeclas.lite.worker`) reached through :mod:`edgeclas.lite.runtime`.
"""

from __future__ import annotations

from .convert import NbResult, OpsReport, check_lite_version, convert_nb, model_ops
from .runtime import LITE_VERSION, install_compat, resolve_route, route_statuses

__all__ = [
    "LITE_VERSION",
    "NbResult",
    "OpsReport",
    "check_lite_version",
    "convert_nb",
    "doctor_rows",
    "install_compat",
    "model_ops",
    "resolve_route",
]


def doctor_rows():
    """One row per opt route (found/missing, how to get it) and which one edgeclas would use, and why."""
    from ..doctor import ToolStatus

    statuses = route_statuses()
    chosen = next((s for s in statuses if s.found), None)
    rows = []
    for s in statuses:
        mark = "IN USE: " if s is chosen else ""
        rows.append(ToolStatus("lite", f"opt route {s.kind}", s.found, s.version, s.where, s.how, mark + s.note))
    if chosen is None:
        rows.append(ToolStatus("lite", "opt route in use", False, how="edgeclas sdk install lite-opt",
                               note=f"none yet: convert --to nb and the lite engine need one (Paddle Lite {LITE_VERSION}); "
                               "make setup installs the compat runtime"))
    return rows
