"""The server's Prometheus metrics (``GET /metrics``), through prometheus_client.

One process: the metrics live in a registry of their own (two apps in one process never share
counts). Several workers (``--workers N``): ``edgeclas serve`` points ``PROMETHEUS_MULTIPROC_DIR``
at a private folder before the workers start, every worker writes its values there, and whichever
worker answers ``/metrics`` sums all of them.
"""

from __future__ import annotations

import os

__all__ = ["Metrics", "MULTIPROC_ENV"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, max_batch: int) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # In multiprocess mode the values go to files and the collector reads them; registering them
        # in a registry as well would export them twice.
        self._registry = None if self.multiprocess else CollectorRegistry()
        reg = {"registry": self._registry}
        self.requests = Counter("edgeclas_serve_requests", "HTTP requests answered, by route and status",
                                ["route", "status"], **reg)
        self.errors = Counter("edgeclas_serve_errors", "Requests refused or failed, by kind", ["kind"], **reg)
        self.latency = Histogram("edgeclas_serve_request_seconds", "Time from request to answer, by route",
                                 ["route"], buckets=_LATENCY_BUCKETS, **reg)
        self.images = Counter("edgeclas_serve_images", "Images classified", **reg)
        self.in_flight = Gauge("edgeclas_serve_images_in_flight", "Images accepted and not answered yet "
                               "(being decoded, queued, or in the engine)", multiprocess_mode="livesum", **reg)
        sizes = sorted({1, 2, 4, 8, 16, 32, 64, 128, max_batch})
        self.batch_size = Histogram("edgeclas_serve_batch_size", "Images per engine call",
                                    buckets=[s for s in sizes if s <= max_batch], **reg)
        self.engine_seconds = Histogram("edgeclas_serve_engine_seconds", "Time of one engine call (a whole batch)",
                                        buckets=_LATENCY_BUCKETS, **reg)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.engine_seconds.observe(seconds)
        self.images.inc(size)

    def exposition(self) -> tuple[bytes, str]:
        """(body, content type) of the Prometheus text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self._registry
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def process_exited(self) -> None:
        """A worker stops: the multiprocess collector must stop adding its live gauge."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())
