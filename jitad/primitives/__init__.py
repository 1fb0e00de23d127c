"""The primitive table: the one place a primitive is defined.

Each primitive is one block in its family's module -- ``basic`` (elementwise
arithmetic and functions, comparisons, select, broadcasting, reshape,
transpose, sum, max), ``reductions`` (prod, cumsum, cumprod, argmax),
``indexing`` (basic indexing, gathers, scatters, concatenate), ``linalg``
(matrix products and ``np.linalg``), ``control`` (guards, custom rules) --
with its NumPy reference ``impl``, its shape/dtype rule and one tangent and
one adjoint rule per input (see ``core``). The lowering of each primitive to
numba source lives in ``jitad.backend.lowering``; ``tests/test_primitives.py``
asserts both exist.

Everything is re-exported here: ``from jitad import primitives as P`` then
``P.sin_p``, ``P.mul``, ``P.PRIMITIVES``.

>>> from jitad import primitives as P
>>> float(P.mul(2.0, 3.0)), P.PRIMITIVES["sin"] is P.sin_p
(6.0, True)
"""
from .basic import *  # noqa: F401,F403
from .control import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403
