"""The ``lite-opt`` SDK item: the Paddle Lite opt route, as ``edgeclas sdk list|path|install lite-opt`` sees it.

Resolution follows the SDK layer's order, mapped onto the opt routes: ``--opt-bin`` (flag) →
``$EDGECLAS_LITE_OPT`` (env) → an opt on PATH or an importable paddlelite (system) → the compat
runtime in the cache (cache); ``install`` sets up the compat runtime (pip from PyPI, pinned sha256).
"""

from __future__ import annotations

from pathlib import Path

from . import runtime

__all__ = ["resolve", "install", "targets"]


def targets(name: str):
    from ..sdk import target

    return [target("host")]


def _item(name: str, route: runtime.Route, t, source: str):
    from ..sdk import SdkItem

    return SdkItem(name, route.version or "unknown", Path(route.where), source, "", f"{route.kind} route: {route.why}")


def resolve(name: str, t, flag: Path | None):
    route = runtime.resolve_route(flag)
    return _item(name, route, t, route.source)


def install(name: str, t, *, force: bool = False, **_: object):
    cached = not force and runtime.compat_route() is not None
    return _item(name, runtime.install_compat(force=force), t, "cache" if cached else "download")
