"""``edgeclas serve``: an exported model as an HTTP service on uvicorn (docs/serve.md).

:func:`resolve` checks the settings and the model, :func:`serve` runs the server in the
foreground; :func:`~edgeclas.serve.app.create_app` is the ASGI app itself.
"""

from .server import GRACEFUL_SHUTDOWN_S, serve
from .settings import ServeSettings, resolve

__all__ = ["ServeSettings", "resolve", "serve", "GRACEFUL_SHUTDOWN_S"]
