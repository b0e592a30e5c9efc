"""The models of the papers, one module each, built on the core (``dynamics``, ``sharpness``, ``shares``).

``losses`` (Nar & Sastry's scalar losses), ``toy`` (Crăciun & Ghoshdastidar's ``1/2 (1 - xy)^2``),
``linear`` (deep linear networks), ``balanced`` (Nguegnang, Rauhut & Terstiege's balanced factors),
``identity`` (identity and diagonal initialisation), ``relu`` with ``relu_orbit`` (its fixed points
and 2-cycles) and ``relu_fates`` (long runs and their fates), ``mlp`` with ``mlp_gd`` (GELU networks
on digits), and Part IV's ``eos`` (edge of stability), ``atlas`` (one-dimensional GD maps beyond the
threshold) and ``onelaw`` (one inequality across the models above). They never import the book.
"""
