"""The ASGI application of ``edgeclas serve`` (Starlette): routes, model loading, batching, errors.

Routes (docs/serve.md):

- ``POST /predict``: a raw image body, multipart file(s), or JSON ``{"images": [base64…]}`` →
  one JSON line per image, the lines ``edgeclas predict --json`` prints;
- ``POST /{name}/prediction``: Paddle Serving's pipeline protocol (:mod:`.paddle_serving`);
- ``GET /health``: 200 once the model is loaded and warmed up, 503 before (or when it failed);
- ``GET /metrics``: Prometheus text; ``GET /model``: the model's manifest.

The model loads in the background after the server starts listening, so ``/health`` can say
"loading"; with ``--workers N`` each worker loads before it accepts connections instead (they share
one socket, and a connection must not land on a worker that cannot answer). Images are checked
(:mod:`.images`), decoded and preprocessed in a small thread pool, one request's images in parallel;
the engine runs in one thread of its own, fed by the :class:`~.batcher.Batcher`. A request ends in
an answer or in one :class:`RequestError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Sequence

import numpy as np

from ..fsutil import atomic_write_json
from ..model_dir import ModelDir
from ..predict import Prediction, format_json, postprocess
from ..preprocess import decode_image_bytes, preprocess
from . import paddle_serving
from .batcher import Batcher
from .errors import RequestError
from .images import check_image
from .inputs import Upload, parse_multipart, parse_predict_body, read_body
from .metrics import Metrics
from .settings import ServeSettings

__all__ = ["create_app", "app_from_env", "ServerState", "SETTINGS_ENV", "FATAL_ENV"]

log = logging.getLogger("edgeclas.serve")

SETTINGS_ENV = "EDGECLAS_SERVE_SETTINGS"  # --workers > 1: each worker reads its settings from here
FATAL_ENV = "EDGECLAS_SERVE_FATAL"  # … and writes why it could not load the model to this file
STARTUP_FAILURE = 3  # uvicorn's exit status for a worker that cannot start: its supervisor then stops
MAX_QUEUE = 1024  # images waiting for the engine; beyond it a request gets 503 "overloaded"
_PREPROCESS_THREADS = max(1, min(4, os.cpu_count() or 1))  # decode + resize (OpenCV releases the GIL)


class ServerState:
    """One worker's model, engine thread, batcher and metrics, and whether it is ready."""

    def __init__(self, settings: ServeSettings, on_fatal: Callable[[BaseException], None]) -> None:
        self.settings = settings
        self.model = ModelDir.load(settings.model_dir, verify=settings.verify)
        self.metrics = Metrics(settings.max_batch)
        self.status = "loading"  # → "ready" | "failed"
        self.error: BaseException | None = None
        self.engine: dict[str, Any] = {"name": settings.engine}
        self._on_fatal = on_fatal
        self._predictor: Callable[[np.ndarray], np.ndarray] | None = None
        # One engine thread: Paddle Inference predictors are not thread-safe, and one call at a time
        # with whole batches is what batching is for.
        self._engine_pool = ThreadPoolExecutor(1, thread_name_prefix="edgeclas-engine")
        self._pre_pool = ThreadPoolExecutor(_PREPROCESS_THREADS, thread_name_prefix="edgeclas-preprocess")
        self.batcher = Batcher(self._infer, self._engine_pool, max_batch=settings.max_batch,
                               max_delay_s=settings.max_delay_ms / 1000.0, max_queue=MAX_QUEUE,
                               on_batch=self.metrics.observe_batch)
        self._loader: asyncio.Task | None = None

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self, load_first: bool) -> None:
        """Start batching and load the model: in the background (the server answers meanwhile, /health
        says "loading"), or, with ``load_first``, before returning (the server accepts nothing until then)."""
        self.batcher.start()
        if load_first:
            await self._load()
        else:
            self._loader = asyncio.get_running_loop().create_task(self._load(), name="edgeclas-model-loader")

    async def stop(self) -> None:
        """After the server stopped taking requests and answered those in flight: drain, close the engine."""
        await self.batcher.close()
        if self._loader is not None:
            await self._loader  # a load still running finishes in its thread; wait rather than leak it
        close = getattr(self._predictor, "close", None)  # the lite engine's worker process
        if close is not None:
            await asyncio.get_running_loop().run_in_executor(self._engine_pool, close)
        self._engine_pool.shutdown(wait=True)
        self._pre_pool.shutdown(wait=True)
        self.metrics.process_exited()

    async def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            self._predictor = await asyncio.get_running_loop().run_in_executor(self._engine_pool, self._load_engine)
        except Exception as e:  # noqa: BLE001 - any failure to load is fatal and reported as is
            self.status, self.error = "failed", e
            log.error("cannot load %s with the %s engine: %s", self.model.path, self.settings.engine, e)
            self._on_fatal(e)
            return
        _reclaim_signals()
        p = self._predictor
        self.engine = {"name": p.name, "version": p.version, "file": p.source, "threads": self.settings.threads}
        self.status = "ready"
        log.info("ready: %s (%s) on %s %s (%s), %d thread(s), max batch %d, max delay %g ms; loaded and warmed up in %.2f s",
                 self.model.name, self.model.arch, p.name, p.version, p.source, self.settings.threads,
                 self.settings.max_batch, self.settings.max_delay_ms, time.perf_counter() - t0)

    def _load_engine(self):
        from .. import engines

        predictor = engines.load(self.settings.engine, self.model, threads=self.settings.threads)
        # Warm-up at both ends of the batch range: first calls allocate and pick kernels per shape.
        for n in sorted({1, self.settings.max_batch}):
            predictor(np.zeros((n, *self.model.input_size), np.float32))
        return predictor

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self._predictor(batch)

    # -- requests -----------------------------------------------------------------------------
    def require_ready(self) -> None:
        if self.status == "loading":
            raise RequestError(503, "not_ready", "the model is still loading", hint="retry when GET /health answers 200")
        if self.status == "failed":
            raise RequestError(503, "not_ready", f"the model failed to load: {self.error}")

    def _prepare(self, upload: Upload) -> np.ndarray:
        cfg = self.model.preprocess
        head = check_image(upload.data, upload.name, self.settings.max_pixels, cfg)
        try:
            return preprocess(decode_image_bytes(upload.data, upload.name), cfg)
        except Exception:  # noqa: BLE001 - OpenCV raises cv2.error on some damaged data, DataError on others
            raise RequestError(400, "corrupt_image", f"{upload.name}: {head.format.upper()} of {head.width}x{head.height} "
                               "cannot be decoded (corrupt data)") from None

    async def classify(self, uploads: Sequence[Upload]) -> np.ndarray:
        """Probabilities ``[N, C]`` of the images of one request, in request order; the first bad image fails it."""
        self.require_ready()
        self.metrics.in_flight.inc(len(uploads))
        try:
            return await self._classify(uploads)
        finally:
            self.metrics.in_flight.dec(len(uploads))

    async def _classify(self, uploads: Sequence[Upload]) -> np.ndarray:
        loop = asyncio.get_running_loop()
        prepared = await asyncio.gather(*(loop.run_in_executor(self._pre_pool, self._prepare, u) for u in uploads),
                                        return_exceptions=True)
        for r in prepared:
            if isinstance(r, BaseException):
                raise r
        try:
            rows = await asyncio.gather(*(self.batcher.submit(x) for x in prepared))
        except RequestError:
            raise
        except Exception as e:
            log.error("engine %s failed on a batch", self.settings.engine, exc_info=e)
            raise RequestError(500, "engine", f"engine {self.settings.engine} failed: {e}") from e
        return np.stack(rows)

    def answers(self, uploads: Sequence[Upload], probs: np.ndarray, k: int,
                threshold: float | None) -> list[Prediction]:
        # the model's post-processing (Topk, ThreshOutput, MultiLabelThreshOutput), as predict applies it
        post = self.model.postprocess
        return postprocess(probs, [u.name for u in uploads], self.model.labels, k,
                           threshold if threshold is not None else post.threshold, kind=post.name)

    def health(self) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"status": self.status, "model": self.model.name, "engine": self.engine}
        if self.status == "failed":
            body["error"] = str(self.error)
        return (200 if self.status == "ready" else 503), body


def _reclaim_signals() -> None:
    """Paddle installs C-level handlers for SIGTERM and SIGINT when it loads (they print a "FatalError"
    and kill the process), replacing the ones Python set for uvicorn's graceful shutdown: set Python's
    again. Only the main thread may (a server run in another thread has no signal handling anyway)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            handler = signal.getsignal(sig)
            if handler is not None:
                signal.signal(sig, handler)


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None):
    from starlette.responses import Response

    return Response(json.dumps(obj, ensure_ascii=False) + "\n", status, headers, media_type="application/json")


def _predict_error(err: RequestError):
    body = {"error": err.message, "kind": err.kind}
    if err.hint:
        body["hint"] = err.hint
    return _json(body, err.status, {"Retry-After": "1"} if err.status == 503 else None)


def _pipeline_error(err: RequestError):
    return _json(paddle_serving.error_answer(err), err.status, {"Retry-After": "1"} if err.status == 503 else None)


def create_app(settings: ServeSettings, *, on_fatal: Callable[[BaseException], None] = lambda e: None,
               load_first: bool = False):
    """The Starlette app for ``settings`` (already :func:`~.settings.resolve`-d).

    ``on_fatal(error)`` is called when the model cannot be loaded: the caller stops the server.
    ``load_first``: load the model during startup, before the server accepts connections (workers that
    share a socket: a connection must never reach a worker that is still loading).
    """
    import cv2
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    # Undecodable uploads are answered with a 4xx; OpenCV's own error lines would only repeat it.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    state = ServerState(settings, on_fatal)
    limit = settings.max_body_bytes

    def endpoint(route: str, work: Callable[[Request], Awaitable[Response]],
                 on_error: Callable[[RequestError], Response] = _predict_error):
        """``work`` wrapped so that every request is counted and timed and ends in a response."""

        async def run(request: Request) -> Response:
            t0 = time.perf_counter()
            try:
                response = await work(request)
            except RequestError as e:
                response = on_error(e)
                state.metrics.errors.labels(e.kind).inc()
            except Exception as e:  # noqa: BLE001 - a bug must still answer (500) and leave the server up
                log.exception("%s %s failed", request.method, request.url.path)
                response = on_error(RequestError(500, "internal", f"internal error: {type(e).__name__}: {e}"))
                state.metrics.errors.labels("internal").inc()
            state.metrics.requests.labels(route, str(response.status_code)).inc()
            state.metrics.latency.labels(route).observe(time.perf_counter() - t0)
            return response

        return run

    async def predict(request: Request) -> Response:
        body = await read_body(request.headers, request.stream(), limit)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "multipart/form-data":
            uploads = await parse_multipart(request.headers["content-type"], body)
        else:
            uploads = parse_predict_body(ctype, body, request.query_params.get("name"))
        preds = state.answers(uploads, await state.classify(uploads), settings.topk, settings.threshold)
        lines = "".join(format_json(p) + "\n" for p in preds)
        return Response(lines, media_type="application/x-ndjson")

    async def pipeline(request: Request) -> Response:
        body = await read_body(request.headers, request.stream(), limit)
        uploads = paddle_serving.parse_request(body)
        # PaddleClas's service answers the top-1 class of each image, whatever --topk / --threshold say.
        return _json(paddle_serving.answer(state.answers(uploads, await state.classify(uploads), 1, None)))

    async def health(request: Request) -> Response:
        status, body = state.health()
        return _json(body, status)

    async def model(request: Request) -> Response:
        return _json(state.model.manifest)

    async def metrics(request: Request) -> Response:
        body, ctype = state.metrics.exposition()
        return Response(body, media_type=ctype)

    async def index(request: Request) -> Response:
        return _json({"model": state.model.name, "routes": {
            "POST /predict": "raw image, multipart file(s) or JSON {\"images\": [base64...]} -> JSON lines",
            "POST /{name}/prediction": "Paddle Serving pipeline: {\"key\": [\"image\"], \"value\": [base64]}",
            "GET /health": "200 when ready", "GET /metrics": "Prometheus", "GET /model": "the model's manifest"}})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await state.start(load_first)
        try:
            yield
        finally:
            await state.stop()

    app = Starlette(routes=[
        Route("/", endpoint("index", index), methods=["GET"]),
        Route("/predict", endpoint("predict", predict), methods=["POST"]),
        Route("/health", endpoint("health", health), methods=["GET"]),
        Route("/metrics", endpoint("metrics", metrics), methods=["GET"]),
        Route("/model", endpoint("model", model), methods=["GET"]),
        Route("/{name}/prediction", endpoint("pipeline", pipeline, _pipeline_error), methods=["POST"]),
    ], lifespan=lifespan)
    app.state.serve = state
    return app


def _exit_worker(error: BaseException) -> None:
    """``--workers N``: a worker without a model records why and exits with uvicorn's startup-failure
    status; uvicorn's supervisor then stops every worker instead of restarting this one forever.

    ``os._exit``: an exception would have to cross the event loop (and be reported as a traceback
    there); this worker has nothing to finish, as it never answered a request that needs the model.
    """
    path = os.environ.get(FATAL_ENV)
    if path:  # the engine's own message and hint (a damaged file says what to re-make), for the parent to raise
        atomic_write_json(path, {"message": getattr(error, "message", str(error)), "hint": getattr(error, "hint", None)})
    logging.shutdown()
    os._exit(STARTUP_FAILURE)


def app_from_env():
    """The uvicorn app factory each worker of ``--workers N`` calls (settings from :data:`SETTINGS_ENV`)."""
    return create_app(ServeSettings.from_json(os.environ[SETTINGS_ENV]), on_fatal=_exit_worker, load_first=True)
