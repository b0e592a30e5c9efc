"""Claim verdicts: for each chapter, the function that turns its numbers into one of the four verdicts.

Each module here holds the decision of one group of chapters as plain functions returning
``(status, reason)`` (see :mod:`stepsize.verdicts` for the vocabulary), so that every claim
check has a unit test that makes it fail (a bound scaled by 1.1, a budget far too small, a premise
violated) without executing a notebook.
"""
