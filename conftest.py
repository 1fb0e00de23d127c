"""Settings for the whole test run (jitad's doctests and tests/).

Kernels compile on the calling thread here (``JITAD_COMPILE=sync``), so each
test sees the compiled kernel it asserts about; the default, compiling in the
background while NumPy serves the first calls, is tested on purpose in
tests/test_compiler.py. Set before jitad is imported, so child processes
(the disk-cache tests, notebooks) inherit it.
"""
import os

os.environ.setdefault("JITAD_COMPILE", "sync")


def pytest_addoption(parser):
    group = parser.getgroup("jitad")
    group.addoption("--fuzz-programs", type=int, default=12, metavar="N",
                    help="how many random programs tests/test_random_programs.py checks "
                         "(default 12; run a few hundred before closing a change to a rule "
                         "or the code generator)")
    group.addoption("--fuzz-seed", type=int, default=0, metavar="S",
                    help="the first random program's seed (default 0: the same programs "
                         "on every run)")
