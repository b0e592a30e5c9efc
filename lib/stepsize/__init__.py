"""stepsize: the library of the stepsize-book (Nar & Sastry 2018 and two sequels), on three floors.

* the core, here: ``dynamics`` (GD maps on batches, the one fate rule), ``bounds``, ``search``,
  ``sharpness``, ``shares`` (Wilson intervals), ``verdicts`` (the four words), ``plots``;
* ``models/``: one module per model of the papers (``losses``, ``toy``, ``linear``, ``balanced``,
  ``identity``, ``relu`` with ``relu_orbit`` and ``relu_fates``, ``mlp`` with ``mlp_gd``, and Part IV's
  ``eos``, ``atlas``, ``onelaw``), built on the core;
* ``book/``: the book's machinery (``registry`` of chapters, ``claims``, ``replication`` = glue and
  claim checks, ``scorecard``, ``notebooks``, ``sphinx_ext``, ``vendor``, ``pdf``, ``kernel_config``);
* on top, ``runner`` (executes one chapter), used by ``cli`` (``python -m stepsize``) and ``sweep``.

Nothing imports upwards (tests/test_layers.py): the core imports neither models nor book, the
models never import the book, and the book never imports ``runner``, ``cli`` or ``sweep``.
"""

from . import blas as _blas

_blas.pin()  # before numpy loads: one OpenBLAS kernel, so the stored outputs reproduce (stepsize.blas)

from .dynamics import Fate, Fates, classify, gd_map, iterate, nearest_fixed_point, trajectory

__all__ = ["Fate", "Fates", "classify", "gd_map", "iterate", "nearest_fixed_point", "trajectory"]
