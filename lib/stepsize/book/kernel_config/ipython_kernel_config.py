"""IPython kernel settings for the kernels that execute this book's chapters.

Loaded by every kernel of the project's environment (``make env`` copies this file to
``.venv/etc/ipython/``, which IPython searches) and passed with ``--config`` to the kernels that
``python -m stepsize`` starts. It removes two notices that carry no information for a reader:

* "Kernel is running over TCP without encryption" (a WARNING at each kernel start: the kernels
  listen on 127.0.0.1 and are reached only by the process that started them);
* "KeyboardInterrupt caught in kernel" (an ERROR logged when a kernel is interrupted as part of
  its normal shutdown by jupyter_client).

Everything else the kernel logs at ERROR level or above is still shown.

It also pins OpenBLAS's kernel before any chapter imports numpy (:func:`stepsize.blas.pin`: the
stored outputs were computed with it, and another kernel rounds differently).
"""

import logging

try:  # the BLAS kernel of the stored outputs (stepsize.blas); the file has no numpy import itself
    import stepsize.blas as _blas

    _blas.pin()
except ImportError:  # a kernel of this environment without the project installed: nothing to pin
    pass

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)
c.IPKernelApp.log_level = "ERROR"


class _DropInterruptNotice(logging.Filter):
    """Drop the kernel's "KeyboardInterrupt caught in kernel" record, keep every other one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("KeyboardInterrupt caught in kernel")


_log = logging.getLogger("IPKernelApp")  # the logger of the kernel application and its kernel
if not any(isinstance(f, _DropInterruptNotice) for f in _log.filters):
    _log.addFilter(_DropInterruptNotice())
