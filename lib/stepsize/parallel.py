"""Independent jobs on both cores: the one thread pool of the library, and a process map.

The models that batch many small independent problems (the atlas's chunks of initial points, the
digits and edge-of-stability networks, SGD) run them in threads (:func:`pool`): numpy's loops and
BLAS release the GIL, and BLAS is held at one thread per worker while the pool is open, because
the matrices of one job are small and threads inside BLAS would only compete with the workers.
Each job runs in a copy of the caller's context, so an ``np.errstate`` around the call holds in the
workers too. Results come back in the order of the items: a job that writes only its own rows
gives the same numbers whichever thread ran it, and when (the callers test this bit for bit).
The deep linear runs, each a Python loop of tiny products that holds the GIL most of the time, go
to separate processes instead (:func:`process_map`).
The digits chapter's joint GD (:func:`stepsize.models.mlp_gd.gd_fates_joint`, both presets) goes to
processes too, which talk to the caller at every check, as threads lost a fifth of the cores to the GIL.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Runner = Callable[[Callable[[Any], Any], Iterable[Any]], list]


def default_workers() -> int:
    """Worker threads when a caller gives none: one per core, at most 2 (more threads only compete
    for the same memory bandwidth on the machines this book was measured on)."""
    return max(1, min(2, os.cpu_count() or 1))


def pool(workers: int) -> tuple[Runner, Callable[[], None]]:
    """``(run, close)``: ``run(job, items)`` calls ``job(item)`` for every item, in ``workers``
    threads (in the caller's thread when ``workers <= 1``), with BLAS at one thread each until
    ``close()``, and returns the results in the order of ``items``."""
    from threadpoolctl import threadpool_limits

    limiter = threadpool_limits(limits=1, user_api="blas")
    if workers <= 1:
        return (lambda job, items: [job(a) for a in items]), limiter.restore_original_limits
    ex = ThreadPoolExecutor(max_workers=workers)

    def run(job, items):
        return [f.result() for f in [ex.submit(contextvars.copy_context().run, job, a) for a in items]]

    def close() -> None:
        ex.shutdown()
        limiter.restore_original_limits()

    return run, close


def _one_blas_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def process_map(fn: Callable[..., Any], kwargs: list[dict], workers: int) -> list:
    """``[fn(**kw) for kw in kwargs]``, ``workers`` calls at a time in separate processes (BLAS at
    one thread each), results in the order of ``kwargs``.

    For jobs made of many tiny numpy calls (small matrices, a Python loop per step), where threads
    hold the GIL for most of their time and two of them run little faster than one. The processes
    are started fresh (``spawn``: no copy of the caller's threads or state), so ``fn`` must be
    importable and its arguments picklable; each call's arithmetic is that of a call in the caller.
    """
    if workers <= 1 or len(kwargs) <= 1:
        return [fn(**kw) for kw in kwargs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_one_blas_thread) as ex:
        return [f.result() for f in [ex.submit(_call, fn, kw) for kw in kwargs]]


def _call(fn: Callable[..., Any], kw: dict) -> Any:
    return fn(**kw)
