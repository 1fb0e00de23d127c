"""jitad: exact gradients of NumPy code, compiled to machine code with numba.

>>> import numpy as np, jitad
>>> jitad.grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
array([2., 4.])
"""
from . import display, fd
from .backend import warmup as _warmup
from .api import (grad, hessian, jacfwd, jacobian, jacrev, jit, jvp, stop_gradient, trace,
                  value_and_grad, vjp)
from .cache import cache_clear
from .custom import custom_vjp
from .display import show_source
from .fd import check_grad
from .loops import loop
from .version import __version__
from .vmap import vmap

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "jacobian", "hessian",
           "jit", "trace", "stop_gradient", "custom_vjp", "fd", "check_grad", "display",
           "show_source", "cache_clear", "vmap", "loop", "__version__"]


def __getattr__(name):
    # jitad.dask is loaded on first use, and itself imports dask only when
    # called, so `import jitad` never imports dask
    if name == "dask":
        import importlib
        return importlib.import_module(".dask", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# numba's start-up in the background, in notebooks and REPLs (backend.warmup)
_warmup.start()
