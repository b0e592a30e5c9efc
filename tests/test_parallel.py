"""stepsize.parallel: the library's one thread pool."""

import threading

import numpy as np
import pytest
from stepsize import parallel
from threadpoolctl import threadpool_info


def _blas_threads() -> int:
    return min(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_the_order_of_the_items(workers):
    run, close = parallel.pool(workers)
    try:
        assert run(lambda a: a * a, range(20)) == [a * a for a in range(20)]
    finally:
        close()


def test_two_workers_use_two_threads_and_one_blas_thread_each():
    before = _blas_threads()
    names, inside = set(), []
    run, close = parallel.pool(2)
    try:
        barrier = threading.Barrier(2, timeout=10)

        def job(_):
            barrier.wait()  # two jobs at once: only possible on two threads
            names.add(threading.current_thread().name)
            inside.append(_blas_threads())

        run(job, range(2))
    finally:
        close()
    assert len(names) == 2 and inside == [1, 1]
    assert _blas_threads() == before  # restored on close


def test_the_callers_error_state_holds_in_the_workers():
    run, close = parallel.pool(2)
    try:
        with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
            run(lambda a: np.float64(1.0) / np.float64(a), [1.0, 0.0])
        with np.errstate(divide="ignore"):
            assert run(lambda a: np.float64(1.0) / np.float64(a), [0.0]) == [np.inf]
    finally:
        close()


def test_default_workers_is_one_per_core_at_most_two():
    assert parallel.default_workers() in (1, 2)


def test_process_map_gives_the_callers_results_in_order():
    kwargs = [{"shape": (2, i + 1), "fill_value": float(i)} for i in range(3)]
    got = parallel.process_map(np.full, kwargs, 2)  # in child processes
    assert [g.tolist() for g in got] == [np.full(**kw).tolist() for kw in kwargs]
    assert parallel.process_map(np.full, kwargs[:1], 2)[0].tolist() == [[0.0], [0.0]]  # one job: in the caller
