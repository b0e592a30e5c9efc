"""The pinned BLAS kernel (stepsize.blas): chosen where it runs, kept out of the user's way, in effect."""

import platform
import subprocess
import sys

import pytest
from stepsize import blas

AVX2 = {"sse2", "avx", "avx2", "fma"}


def test_wanted_pins_haswell_on_x86_64_with_avx2_and_fma():
    assert blas.wanted(AVX2, "x86_64", {}) == "Haswell"
    assert blas.wanted(AVX2, "AMD64", {}) == "Haswell"


@pytest.mark.parametrize(
    ("flags", "machine", "environ"),
    [
        ({"sse2", "avx"}, "x86_64", {}),  # no AVX2: the kernel would not run
        ({"sse2", "avx2"}, "x86_64", {}),  # AVX2 without FMA
        (AVX2, "aarch64", {}),  # another architecture: OpenBLAS has no such kernel there
        (AVX2, "x86_64", {"OPENBLAS_CORETYPE": "Zen"}),  # the user's own choice is kept
    ],
)
def test_wanted_pins_nothing_elsewhere(flags, machine, environ):
    assert blas.wanted(flags, machine, environ) is None


def test_cpu_flags_reads_the_first_flags_line(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert blas.cpu_flags(str(f)) == {"fpu", "sse2", "avx2", "fma"}
    assert blas.cpu_flags(str(tmp_path / "absent")) == set()


def _fresh(code: str, env: dict[str, str] | None = None) -> str:
    import os

    full = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    full.update(env or {})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, check=True)
    return out.stdout.strip()


needs_avx2 = pytest.mark.skipif(
    blas.wanted(blas.cpu_flags(), platform.machine(), {}) is None, reason="this CPU runs no pinned kernel"
)


@needs_avx2
def test_importing_stepsize_first_loads_numpy_with_the_pinned_kernel():
    code = "import os, stepsize, stepsize.blas as b; print(os.environ['OPENBLAS_CORETYPE'], b.kernel_in_use())"
    assert _fresh(code) == f"{blas.KERNEL} {blas.KERNEL}"


@needs_avx2
def test_a_kernel_chosen_by_the_user_is_kept():
    code = "import stepsize, stepsize.blas as b; print(b.kernel_in_use())"
    assert _fresh(code, {"OPENBLAS_CORETYPE": "Sandybridge"}) == "Sandybridge"


@needs_avx2
def test_the_project_kernels_run_with_the_pinned_kernel():
    """A chapter's kernel (the venv's IPython kernel settings pin it before the chapter's numpy import)."""
    from jupyter_client.manager import start_new_kernel

    seen: list[dict] = []
    import os

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}  # not inherited from here
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        reply = kc.execute_interactive(
            "import os, numpy, threadpoolctl\n"
            "print(os.environ.get('OPENBLAS_CORETYPE'),"
            " [i['architecture'] for i in threadpoolctl.threadpool_info() if i['internal_api'] == 'openblas'])",
            output_hook=lambda msg: seen.append(msg),
            timeout=60,
        )
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    text = "".join(m["content"].get("text", "") for m in seen if m["msg_type"] == "stream")
    assert text.strip() == f"{blas.KERNEL} ['{blas.KERNEL}']"  # set by the settings, and in effect
