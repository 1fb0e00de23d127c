"""Hypothesis settings.

The default profile is derandomized: the README's test command (and so CI)
draws the same examples on every run, so a failure reproduces on rerun and
a green run stays green. To hunt for new counterexamples with fresh random
draws, run ``python -m pytest tests --hypothesis-profile=explore``.
"""
from hypothesis import settings

settings.register_profile("reproducible", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("reproducible")
