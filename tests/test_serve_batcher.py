"""The dynamic batcher on its own: batches fill to max_batch or close on max_delay, every caller gets
its own row, an engine failure fails only its batch, closing drains the queue."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from edgeclas.serve.batcher import Batcher
from edgeclas.serve.errors import RequestError


class Engine:
    """A computation with a recognisable answer per input row (row · 2 + 1), recording each call's batch size
    and the thread it ran on; raises for a batch holding a row of -1s."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.threads: set[str] = set()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.sizes.append(len(batch))
        self.threads.add(threading.current_thread().name)
        if (batch == -1).all(axis=1).any():
            raise RuntimeError("engine failed")
        return batch * 2 + 1


def _run(coro_fn, engine, **kw):
    async def main():
        with ThreadPoolExecutor(1, thread_name_prefix="engine") as pool:
            b = Batcher(engine, pool, **{"max_batch": 8, "max_delay_s": 0.05, "max_queue": 100, **kw})
            b.start()
            try:
                return await coro_fn(b)
            finally:
                await b.close()

    return asyncio.run(main())


def test_concurrent_submissions_are_batched_and_answered_to_their_callers():
    engine = Engine()

    async def go(b):
        return await asyncio.gather(*(b.submit(np.full(3, i, np.float32)) for i in range(20)))

    rows = _run(go, engine)
    assert [r.tolist() for r in rows] == [[2 * i + 1] * 3 for i in range(20)]
    assert engine.sizes == [8, 8, 4] and engine.threads == {"engine_0"}


def test_a_lone_request_waits_at_most_max_delay():
    engine = Engine()
    seen = []

    async def go(b):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        row = await b.submit(np.ones(2, np.float32))
        seen.append(loop.time() - t0)
        return row

    assert _run(go, engine, max_delay_s=0.2).tolist() == [3.0, 3.0]
    assert engine.sizes == [1] and 0.2 <= seen[0] < 5  # it waited for company, then ran alone


def test_max_batch_one_runs_every_image_alone():
    engine = Engine()

    async def go(b):
        return await asyncio.gather(*(b.submit(np.full(1, i, np.float32)) for i in range(5)))

    _run(go, engine, max_batch=1, max_delay_s=1.0)
    assert engine.sizes == [1] * 5


def test_engine_failure_fails_only_the_callers_of_that_batch():
    engine = Engine()

    async def go(b):
        bad = await asyncio.gather(b.submit(np.ones(2, np.float32)), b.submit(-np.ones(2, np.float32)),
                                   return_exceptions=True)
        good = await b.submit(np.zeros(2, np.float32))  # the loop goes on after a failed batch
        return bad, good

    bad, good = _run(go, engine)
    assert all(isinstance(e, RuntimeError) for e in bad)
    assert good.tolist() == [1.0, 1.0] and engine.sizes == [2, 1]


def test_close_runs_what_is_queued_then_refuses():
    engine = Engine()

    async def go(b):
        pending = [asyncio.ensure_future(b.submit(np.full(1, i, np.float32))) for i in range(3)]
        await asyncio.sleep(0)  # queued
        await b.close()
        done = [p.result().tolist() for p in pending]
        with pytest.raises(RequestError) as e:
            await b.submit(np.ones(1, np.float32))
        return done, e.value

    done, err = _run(go, engine, max_delay_s=5.0)
    assert done == [[1.0], [3.0], [5.0]]
    assert (err.status, err.kind) == (503, "not_ready")


def test_a_full_queue_answers_overloaded():
    started, release = threading.Event(), threading.Event()
    engine = Engine()

    def slow(batch):  # holds the engine thread until released, so that what follows stays queued
        started.set()
        release.wait(10)
        return engine(batch)

    async def go(b):
        running = asyncio.ensure_future(b.submit(np.ones(1, np.float32)))
        while not started.is_set():
            await asyncio.sleep(0.01)
        queued = [asyncio.ensure_future(b.submit(np.ones(1, np.float32))) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(RequestError) as e:
            await b.submit(np.ones(1, np.float32))
        release.set()
        await asyncio.gather(running, *queued)
        return e.value

    err = _run(go, slow, max_batch=1, max_queue=2, max_delay_s=0.0)
    assert (err.status, err.kind) == (503, "overloaded")
    assert "2 images already queued" in err.message and engine.sizes == [1, 1, 1]
