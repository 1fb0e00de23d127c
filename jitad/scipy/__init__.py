"""Drop-ins for the SciPy functions that loss functions call, built from
jitad's primitives, with SciPy's signatures: ``jitad.scipy.special``
(``logsumexp``, ``softmax``, ``log_softmax``, ``polygamma`` and the
special-function ufuncs) and ``jitad.scipy.stats`` (``norm``, ``t``,
``gamma``, ``beta``). They work on traced values and on plain arrays alike.

Why they are needed: scipy.special's *ufuncs* (``gammaln``, ``expit``, ...)
reach a traced value through NumPy's ufunc protocol, so SciPy's own work
under jitad as they are. SciPy's *Python* functions begin with
``np.asarray`` on their input, which cannot hold a traced value, and NumPy
offers no protocol to intercept that call; jitad's error message then names
the drop-in here to use instead.

>>> import numpy as np, jitad
>>> from jitad.scipy.special import logsumexp
>>> float(jitad.grad(lambda x: logsumexp(x))(np.zeros(4))[0])
0.25
"""
from . import special, stats  # noqa: F401
