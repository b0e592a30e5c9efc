"""Executing notebooks deterministically (the stored outputs that nbval compares)."""

from __future__ import annotations

import time
from pathlib import Path


def execute_in_place(path: str | Path, timeout: int = 600, kernel: str = "python3", save: bool = True) -> float:
    """Execute a notebook in its own folder and save it with its outputs; return the seconds taken.

    With ``save=False`` nothing is written (the benchmarks time chapters this way).

    ``record_timing=False`` keeps execution timestamps out of the cell metadata, so two
    executions of an unchanged chapter give byte-identical files (clean diffs).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - t0
    if save:
        nb.metadata.pop("papermill", None)
        nbformat.write(nb, path)
    return seconds
