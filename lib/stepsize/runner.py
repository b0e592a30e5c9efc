"""Executing one chapter with checked parameters (papermill), for the command line and for sweeps alike.

:func:`execute_chapter` writes the executed notebook atomically, keeps a failed one as evidence
(:func:`failed_path`) and stops the kernels it started on Ctrl-C; :mod:`stepsize.cli` and
:mod:`stepsize.sweep` both call it, and neither imports the other for it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .book.registry import Chapter
from .book.registry.core import cut


class NotebookFailed(RuntimeError):
    """A chapter raised while executing: the cell's error, and where the failed notebook is kept."""

    def __init__(self, error: str, saved: Path | None):
        where = f"; the failed notebook is kept as {saved}" if saved else ""
        super().__init__(f"{error}{where}")
        self.error, self.saved = error, saved


def failed_path(out: Path) -> Path:
    """Where a failed execution of ``out`` is kept: ``<stem>.FAILED.ipynb``, never taken for a result."""
    return out.with_name(out.stem + ".FAILED.ipynb")


def _cell_error(e: BaseException) -> str:
    ename, evalue = getattr(e, "ename", None), getattr(e, "evalue", None)
    if ename:
        count = getattr(e, "exec_count", None)
        cell = f"cell In [{count}]" if count else f"cell {getattr(e, 'cell_index', '?')}"
        return f"{cell} raised {ename}: {cut(str(evalue).strip(), 300)}"
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {cut(lines[-1], 300)}" if lines else type(e).__name__


def execute_chapter(ch: Chapter, params: dict[str, Any], out: Path, kernel: str = "python3") -> dict[str, Any]:
    """Execute ``ch`` with checked ``params`` through papermill into ``out``; return its glued values.

    The kernel runs in the notebook's own folder, as it does under Jupyter Book and nbval, with
    the project's kernel configuration (:data:`stepsize.book.notebooks.KERNEL_CONFIG`).
    On failure the partial notebook is kept as :func:`failed_path` (evidence) and
    :class:`NotebookFailed` names the failing cell's error and that file. On Ctrl-C the kernel is
    stopped and nothing is left behind.
    """
    import papermill as pm

    from .book.notebooks import kernel_arguments
    from .book.replication import glued_values

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".partial.ipynb")
    try:
        with _ctrl_c_kills_kernels():
            pm.execute_notebook(
                str(ch.notebook),
                str(tmp),
                parameters=params,
                cwd=str(ch.notebook.parent),
                kernel_name=kernel,
                progress_bar=False,
                log_output=False,
                extra_arguments=kernel_arguments(),
            )
    except KeyboardInterrupt:
        if threading.current_thread() is threading.main_thread():
            _kill_kernels()  # this process's kernels (in a thread, others' kernels may be children too)
        tmp.unlink(missing_ok=True)
        raise
    except Exception as e:
        saved = None
        if tmp.exists():
            saved = failed_path(out)
            tmp.replace(saved)
        raise NotebookFailed(_cell_error(e), saved) from e
    tmp.replace(out)  # atomic: a finished notebook or none
    failed_path(out).unlink(missing_ok=True)  # an older failure is no longer the latest word
    return glued_values(out)


@contextlib.contextmanager
def _ctrl_c_kills_kernels() -> Iterator[None]:
    """While active (main thread, Ctrl-C not ignored): Ctrl-C first kills the kernels, then raises
    KeyboardInterrupt, so no kernel is interrupted mid-cell and left to print a traceback."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        _kill_kernels()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # clean-up must not be cut by a second Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is handler:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _kill_kernels() -> None:
    """Kill the kernels this process started (its children) at once."""
    kill_children()


def kill_children() -> None:
    """Kill this process's children (the kernels it started) at once."""
    try:
        import psutil
    except ImportError:
        return
    try:
        kids = psutil.Process().children(recursive=True)
    except psutil.Error:  # the process table moved under us
        return
    for k in kids:
        with contextlib.suppress(psutil.Error):  # it ended by itself meanwhile
            k.kill()
