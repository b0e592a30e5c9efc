"""The book's machinery: what turns the models' numbers into chapters, claim checks and a built book.

``registry`` (the chapters and the ranges and rules of their parameters; names, types, defaults and
help come from each notebook's ``parameters`` cell), ``claims`` (each chapter's verdict functions),
``replication`` (glue and claim checks), ``scorecard``, ``notebooks`` (deterministic execution),
``sphinx_ext``, ``vendor`` (offline MathJax), ``pdf`` and ``kernel_config``. It never imports the
command line, the sweeps or the runner above it.
"""
