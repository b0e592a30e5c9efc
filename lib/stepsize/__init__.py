"""stepsize: the shared library of the stepsize-book (Nar & Sastry 2018 and two sequels).

Modules, one concern each: ``dynamics`` (iterate GD maps on batches, classify fates),
``losses`` (scalar losses), ``bounds`` (closed forms and step-size bounds), ``plots``,
``replication`` (glue, claim checks), ``chapters`` (the registry) and ``cli``.
"""

from .chapters import ParameterError, check_parameters
from .dynamics import Fate, Fates, classify, gd_map, iterate, nearest_fixed_point, trajectory

__all__ = [
    "Fate", "Fates", "ParameterError", "check_parameters", "classify", "gd_map", "iterate",
    "nearest_fixed_point", "trajectory",
]
