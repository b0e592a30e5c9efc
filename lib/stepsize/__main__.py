"""``python -m stepsize``: the command line (:mod:`stepsize.cli`)."""

import sys

from .cli import main

sys.exit(main())
