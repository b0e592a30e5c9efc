"""Executing notebooks deterministically (the stored outputs that nbval compares)."""

from __future__ import annotations

import time
from pathlib import Path

#: The kernel configuration the project ships (quiets two notices every kernel start logs).
KERNEL_CONFIG = Path(__file__).resolve().parent / "kernel_config" / "ipython_kernel_config.py"


def kernel_arguments() -> list[str]:
    """Extra command-line arguments for the IPython kernels the project starts: its config file."""
    return [f"--config={KERNEL_CONFIG}"] if KERNEL_CONFIG.is_file() else []


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
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        record_timing=False,
        extra_arguments=kernel_arguments(),
        resources={"metadata": {"path": str(path.parent)}},
    )
    t0 = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - t0
    if save:
        nb.metadata.pop("papermill", None)
        nbformat.write(nb, path)
    return seconds
