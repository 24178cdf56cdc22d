"""Running the app on uvicorn: one process, or ``--workers N`` processes sharing one listening socket."""

from __future__ import annotations

import copy
import logging
import logging.config
import os
import signal
import socket
import tempfile
from pathlib import Path

from ..engines._deps import require
from ..errors import ConfigError, ModelError
from .settings import ServeSettings

__all__ = ["serve", "GRACEFUL_SHUTDOWN_S"]

log = logging.getLogger("edgeclas.serve")

# SIGTERM: stop accepting, answer what is in flight for at most this long, then stop.
GRACEFUL_SHUTDOWN_S = 30


def _log_config() -> dict:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["edgeclas.serve"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _listen(host: str, port: int) -> socket.socket:
    """A bound socket, so that a busy port is a one-line error here and not a log line in a worker."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"--host {host} --port {port}: cannot listen there ({e.strerror or e})",
                          hint="pick another --port (0 picks a free one) or stop what uses it") from None
    sock.set_inheritable(True)
    return sock


def _stop_on_sigterm(server: list) -> None:
    """SIGTERM before uvicorn runs: exit at once (status 0, nothing is in flight). While it runs, uvicorn's
    own handler stops it gracefully; afterwards uvicorn restores this handler and re-raises the signal,
    which then only asks the (stopped) server to stop again, so the process ends with status 0: a stop
    that was asked for is not a failure."""

    def handler(signum, frame):
        if not server:
            raise SystemExit(0)
        server[0].should_exit = True

    signal.signal(signal.SIGTERM, handler)


def serve(settings: ServeSettings) -> None:
    """Serve ``settings`` (already :func:`~.settings.resolve`-d) in the foreground until SIGTERM or
    Ctrl-C; raises :class:`ModelError` when the model could not be loaded."""
    for module, dist in (("uvicorn", "uvicorn"), ("starlette", "starlette"), ("prometheus_client", "prometheus_client"),
                         ("multipart", "python-multipart")):
        require(module, dist, "serve")
    import uvicorn

    log_config = _log_config()
    logging.config.dictConfig(log_config)  # uvicorn applies it too, but only once its Config exists
    sock = _listen(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    common = dict(log_config=log_config, access_log=settings.access_log, lifespan="on",
                  timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    server: list[uvicorn.Server] = []
    _stop_on_sigterm(server)
    log.info("listening on http://%s:%d", host, port)
    if settings.workers == 1:
        from .app import create_app

        app = create_app(settings, on_fatal=lambda e: setattr(server[0], "should_exit", True))
        server.append(uvicorn.Server(uvicorn.Config(app, **common)))
        server[0].run(sockets=[sock])
        error = app.state.serve.error
        if error is not None:
            raise ModelError(f"{settings.model_dir}: cannot serve with the {settings.engine} engine: {error}",
                             hint="check the engine with: edgeclas verify MODEL_DIR") from error
        return

    from .app import FATAL_ENV, SETTINGS_ENV
    from .metrics import MULTIPROC_ENV

    sock.close()  # uvicorn binds the workers' shared socket itself
    with tempfile.TemporaryDirectory(prefix="edgeclas-serve-") as tmp:
        fatal = Path(tmp) / "fatal.txt"
        (Path(tmp) / "metrics").mkdir()
        # The workers are spawned: they inherit these and read them before anything else.
        os.environ.update({SETTINGS_ENV: settings.to_json(), FATAL_ENV: str(fatal), MULTIPROC_ENV: str(Path(tmp) / "metrics")})
        uvicorn.run("edgeclas.serve.app:app_from_env", factory=True, host=host, port=port,
                    workers=settings.workers, **common)
        if fatal.is_file():
            raise ModelError(f"{settings.model_dir}: cannot serve with the {settings.engine} engine: {fatal.read_text()}",
                             hint="check the engine with: edgeclas verify MODEL_DIR")
