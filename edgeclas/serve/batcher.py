"""Dynamic batching: single images from concurrent requests become one engine call.

The first image waiting starts a batch; the batch closes when it holds ``max_batch`` images or when
that first image has waited ``max_delay_s``, whichever comes first. While the engine runs a batch
(in its own thread, off the event loop) new images queue up, so under load batches fill without
waiting at all; a lone request waits at most ``max_delay_s``. Each caller gets its own row back;
an engine failure fails the callers of that batch only.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import RequestError

__all__ = ["Batcher"]


@dataclass
class _Item:
    x: np.ndarray
    future: asyncio.Future
    queued: float  # loop time


class Batcher:
    def __init__(
        self,
        run: Callable[[np.ndarray], np.ndarray],
        executor: Executor,
        *,
        max_batch: int,
        max_delay_s: float,
        max_queue: int,
        on_batch: Callable[[int, float], None] = lambda size, seconds: None,
    ) -> None:
        """``run(batch[N, ...]) -> out[N, ...]`` is called in ``executor``; ``on_batch(size, seconds)`` after each call."""
        self._run_fn = run
        self._executor = executor
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.max_queue = max_queue
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._task: asyncio.Task | None = None
        self._closed = False

    def start(self) -> None:
        """Start gathering (inside the running event loop)."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="edgeclas-batcher")

    @property
    def depth(self) -> int:
        return self._queue.qsize() if self._queue else 0

    async def submit(self, x: np.ndarray) -> np.ndarray:
        """The engine's output row for the single input ``x``."""
        if self._queue is None or self._closed:
            raise RequestError(503, "not_ready", "the server is shutting down", hint="retry on another instance")
        if self._queue.qsize() >= self.max_queue:
            raise RequestError(503, "overloaded", f"{self.max_queue} images already queued", hint="retry later")
        loop = asyncio.get_running_loop()
        item = _Item(x, loop.create_future(), loop.time())
        self._queue.put_nowait(item)
        return await item.future

    async def close(self) -> None:
        """Run what is queued, then stop. New submissions are refused from now on."""
        if self._queue is None or self._closed:
            return
        self._closed = True
        self._queue.put_nowait(None)
        await self._task

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        closing = False
        while not closing:
            first = await self._queue.get()
            if first is None:
                return
            items = [first]
            deadline = first.queued + self.max_delay_s
            while len(items) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        nxt = await asyncio.wait_for(self._queue.get(), left)
                    except asyncio.TimeoutError:
                        break
                if nxt is None:
                    closing = True
                    break
                items.append(nxt)
            await self._run([it for it in items if not it.future.done()])  # done: the caller went away

    async def _run(self, items: list[_Item]) -> None:
        if not items:
            return
        t0 = time.perf_counter()
        try:
            batch = np.stack([it.x for it in items])
            out = await asyncio.get_running_loop().run_in_executor(self._executor, self._run_fn, batch)
        except Exception as e:  # the engine's failure belongs to the callers of this batch (and never stops the loop)
            for it in items:
                if not it.future.done():
                    it.future.set_exception(e)
            return
        self._on_batch(len(items), time.perf_counter() - t0)
        for it, row in zip(items, out):
            if not it.future.done():
                it.future.set_result(row)
