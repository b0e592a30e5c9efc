"""One BLAS kernel for every computer that executes the book, so the stored outputs reproduce.

OpenBLAS picks its compute kernel by the CPU it finds: on one machine of this project's kind it
took the AVX-512 kernel ``SkylakeX``, on another (the same numpy wheel) ``Haswell``. The two sum
the products of a matrix multiplication in different orders, so results differ in the last bits,
and in chapters whose runs sit near a boundary (a share of runs that converge at a step size close
to the critical one, a largest value over runs) the glued numbers that nbval compares moved: 8 of
282 cells, measured on 2026-12-02; on 2026-12-03, with ``OPENBLAS_CORETYPE=SkylakeX`` against the
stored outputs, 6 cells of 5 chapters (one-law: the largest half eta * lambda_max, twice; craciun
linear: a share of converged runs; nar corollary1: a share in the per-delta table; nar theorem3: the
trajectory's least distance to the saddle; nguegnang balancedness: a count of runs), and none with
``Zen`` (OpenBLAS runs its Haswell kernel there). Pinning one kernel makes the stored outputs those
of every x86-64 computer with AVX2 and FMA (every server CPU since 2013), whatever its own best kernel.

``Haswell`` (AVX2 + FMA) is the pinned kernel: the widest that all such computers run. A value set
by the user in ``OPENBLAS_CORETYPE`` is kept. Elsewhere (ARM, or a CPU without AVX2) nothing is
pinned and those few values may differ from the stored ones; the verdicts are meant not to.
numpy's own vectorised ``exp`` and ``log1p`` differ in the last bit between AVX-512 and AVX2 code
paths as well (measured: ``NPY_DISABLE_CPU_FEATURES=X86_V4``). That is not pinned: numpy's AVX2
``exp`` is about 4 times slower than its AVX-512 one, and the digits chapter spends a fifth of its
time there. Instead the stored outputs are made robust to it: on 2026-12-03 three glued values of
the digits chapter moved, all snapshots of runs oscillating at the cap (the largest converged
``eta * lambda_max`` 1.978 against 1.9765, the median of the undecided 2.06 against 2.05, the share
of them near 2 0.81 against 0.84); they are now rounded down to what survives the change. ``make
test-avx2`` runs nbval with numpy's AVX-512 paths switched off, as on a CPU without AVX-512.
OpenBLAS reads the variable when it is loaded, that is when numpy is first imported: :func:`pin`
must run before that (``stepsize/__init__.py`` and the project's kernel settings call it).
"""

from __future__ import annotations

import os
import platform
import sys

#: The OpenBLAS kernel the stored outputs were computed with.
KERNEL = "Haswell"
_NEEDS = ("avx2", "fma")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags Linux lists in ``cpuinfo`` (the first ``flags`` line), or an empty set."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def wanted(flags: set[str], machine: str, environ: dict[str, str]) -> str | None:
    """The kernel to pin: :data:`KERNEL` on x86-64 with AVX2 and FMA, unless the user chose one."""
    if environ.get("OPENBLAS_CORETYPE"):
        return None
    if machine.lower() not in ("x86_64", "amd64") or not all(f in flags for f in _NEEDS):
        return None
    return KERNEL


def pin() -> str | None:
    """Set ``OPENBLAS_CORETYPE`` to :data:`KERNEL` where :func:`wanted` says so and numpy is not yet
    loaded; return the kernel set (``None`` when nothing was set)."""
    if "numpy" in sys.modules:
        return None
    kernel = wanted(cpu_flags(), platform.machine(), dict(os.environ))
    if kernel is not None:
        os.environ["OPENBLAS_CORETYPE"] = kernel
    return kernel


def kernel_in_use() -> str | None:
    """The kernel the loaded OpenBLAS reports (threadpoolctl), or ``None`` for another BLAS."""
    from threadpoolctl import threadpool_info

    for lib in threadpool_info():
        if lib.get("internal_api") == "openblas":
            return str(lib.get("architecture"))
    return None
