"""The primitive table: the one place a primitive is defined.

Each primitive is one block in its family's module -- ``basic`` (elementwise
arithmetic and functions, comparisons, select, broadcasting, reshape,
transpose, sum, max), ``reductions`` (prod, cumsum, cumprod, argmax),
``indexing`` (basic indexing, gathers, scatters, concatenate), ``linalg``
(matrix products and ``np.linalg``), ``decompositions`` (svd, eigh,
qr: several results each), ``control`` (guards), ``special``
(scipy.special) -- holding
everything every stage needs (``core.Primitive``): its NumPy reference
``impl``, shape/dtype rule, tangent, adjoint and batching rules, kind, and
the NumPy function it implements. Every later table is keyed by the
``Primitive`` object; the only other place a primitive appears is its
lowering template in ``jitad.backend.lowering``. ``tests/test_completeness.py``
walks ``PRIMITIVES`` and fails when any rule or lowering is missing.

Everything is re-exported here: ``from jitad import primitives as P`` then
``P.sin_p``, ``P.mul``, ``P.PRIMITIVES``.

>>> from jitad import primitives as P
>>> float(P.mul(2.0, 3.0)), P.sin_p in P.PRIMITIVES
(6.0, True)
"""
from .basic import *  # noqa: F401,F403
from .control import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .decompositions import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403
from .special import *  # noqa: F401,F403
