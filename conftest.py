"""Settings for the whole test run (jitad's doctests and tests/).

Kernels compile on the calling thread here (``JITAD_COMPILE=sync``), so each
test sees the compiled kernel it asserts about; the default, compiling in the
background while NumPy serves the first calls, is tested on purpose in
tests/test_compiler.py. Set before jitad is imported, so child processes
(the disk-cache tests, notebooks) inherit it.
"""
import os

os.environ.setdefault("JITAD_COMPILE", "sync")
