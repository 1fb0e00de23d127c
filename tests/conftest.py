"""Hypothesis settings: random examples on a developer's machine (to find
new counterexamples), a fixed derandomized set under CI (``CI`` set), so a
CI run is reproducible and a failure there is the same on every rerun."""
import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
