"""Finite-difference derivatives: a slow, independent reference for jitad's AD.

Coordinate ``i`` of an argument ``x`` is perturbed by a step ``h_i``; with
``eps`` the machine epsilon of the argument's dtype and ``s_i = max(|x_i|, 1)``
its scale (absolute steps for small inputs, relative ones for large inputs):

==========  ===================================  ===================  ==========  ============
method      partial derivative                   default step h_i     error       calls to f
==========  ===================================  ===================  ==========  ============
forward     (f(x + h e_i) - f(x)) / h            eps**(1/2) * s_i     eps**(1/2)  n + 1
central     (f(x + h e_i) - f(x - h e_i)) / 2h   eps**(1/3) * s_i     eps**(2/3)  2n
complex     Im f(x + i h e_i) / h                1e-20 * s_i          eps         n
richardson  central at h and h/2, extrapolated   eps**(1/5) * s_i     eps**(4/5)  4n
==========  ===================================  ===================  ==========  ============

The steps balance two errors. Truncation error (the Taylor terms a difference
quotient drops) shrinks with h: ``h |f''| / 2`` forward, ``h**2 |f'''| / 6``
central, ``O(h**4)`` for Richardson extrapolation. Round-off error grows as h
shrinks, because two nearly equal values of f, each wrong by ~``eps |f|``, are
subtracted and divided by h: ~``eps |f| / h``. Minimising the sum gives the
steps and error orders above (for float64: ~1.5e-8 forward, ~3.7e-11 central,
~3e-13 Richardson). The error is relative to the scale of f and its higher
derivatives, not to f' itself, so components of the gradient much smaller than
that scale are only accurate in absolute terms.

The complex step subtracts nothing: f' is read off the imaginary part, so h can
be tiny (truncation ~``h**2 |f'''| / 6`` vanishes) and the error is round-off
in evaluating f, ~eps. It needs f analytic and complex-safe: no ``abs``,
``.real``, comparisons or casts to real. Failures that show (an exception, a
cast warning, a real result) raise ValueError; ``abs(x) * x`` goes unnoticed.
The argument is perturbed in a complex128 copy whatever its float dtype
(float32 included), for accuracy.

A step given explicitly as ``h`` is used as the absolute step for every
coordinate. For forward and central differences the denominator is the step
actually taken between the stored evaluation points, ``(x + h) - x``, not the
nominal h: x + h is rounded when stored, and dividing by the nominal h would
add a relative error of up to ``eps |x| / h``.

Limits: the default steps assume f computes in its arguments' precision (pass
a larger ``h`` if, say, float64 inputs meet float32 arithmetic inside f), and
the complex step loses accuracy where its products with tiny values underflow
(imaginary parts below ~1e-308: inputs or partials below ~1e-288).
"""
import contextlib
import dataclasses
import functools
import html
import inspect
import operator
import warnings

import numpy as np

from .tree import flatten, leaf_paths, unflatten

METHODS = ("forward", "central", "complex", "richardson")
_STEP_EXPONENT = {"forward": 1 / 2, "central": 1 / 3, "richardson": 1 / 5}
_ERROR_ORDER = {"forward": 1 / 2, "central": 2 / 3, "complex": 1, "richardson": 4 / 5}
_COMPLEX_STEP = 1e-20


# --- Differentiating one leaf ----------------------------------------------

def _default_steps(x, method):
    scale = np.maximum(np.abs(x), 1.0)
    if method == "complex":
        return _COMPLEX_STEP * scale
    return np.finfo(x.dtype).eps ** _STEP_EXPONENT[method] * scale


def _central(evaluate, work, i, step):
    """Central difference in coordinate i and the half-width of the step actually taken."""
    x_i = work.flat[i]
    work.flat[i] = x_i + step
    x_plus, f_plus = work.flat[i], evaluate()
    work.flat[i] = x_i - step
    x_minus, f_minus = work.flat[i], evaluate()
    work.flat[i] = x_i
    if x_plus == x_minus:
        raise ValueError(f"step {step!r} is too small to change x = {x_i!r}")
    return (f_plus - f_minus) / (x_plus - x_minus), (x_plus - x_minus) / 2


def _forward_column(evaluate, work, i, step, f_base):
    x_i = work.flat[i]
    work.flat[i] = x_i + step
    taken = work.flat[i] - x_i
    f_plus = evaluate()
    work.flat[i] = x_i
    if taken == 0:
        raise ValueError(f"step {step!r} is too small to change x = {x_i!r}")
    return (f_plus - f_base) / taken


def _richardson_column(evaluate, work, i, step):
    """Cancel the h**2 error term of two central differences of half-widths a > b."""
    d_a, a = _central(evaluate, work, i, step)
    d_b, b = _central(evaluate, work, i, step / 2)
    return (a * a * d_b - b * b * d_a) / (a * a - b * b)


def _complex_column(evaluate, work, i, step):
    x_i = work.flat[i]
    work.flat[i] = x_i + 1j * step
    f_perturbed = evaluate()
    work.flat[i] = x_i
    if not np.iscomplexobj(f_perturbed):
        # The imaginary part was dropped (abs, .real, ...) or f ignores x; the
        # complex step cannot tell which, so refuse rather than report zero.
        raise ValueError("f returned a real value for a complex input")
    return f_perturbed.imag / step


@contextlib.contextmanager
def _complex_safety():
    """Turn f's failures on complex input into one ValueError that says what to do."""
    try:
        with warnings.catch_warnings():
            # A cast of a complex intermediate to real silently drops the perturbation.
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            yield
    except (TypeError, ValueError, np.exceptions.ComplexWarning) as error:
        raise ValueError(
            "complex-step differentiation needs f to be analytic and complex-safe "
            f"(it failed on a complex input: {error}); use method='central' instead"
        ) from error


def _leaf_jacobian(call, x, method, h, f_base):
    """Columns d f / d x_i stacked into shape output shape + x.shape.

    ``call(work)`` evaluates f with this leaf replaced by ``work``, a copy of x
    that is perturbed in place one coordinate at a time and restored.
    """
    steps = _default_steps(x, method) if h is None else np.full(x.shape, float(h))
    work = x.astype(np.promote_types(x.dtype, np.complex128)) if method == "complex" else x.copy()
    evaluate = functools.partial(call, work)
    column = {
        "forward": functools.partial(_forward_column, f_base=f_base),
        "central": lambda *column_args: _central(*column_args)[0],
        "richardson": _richardson_column,
        "complex": _complex_column,
    }[method]
    with _complex_safety() if method == "complex" else contextlib.nullcontext():
        columns = [column(evaluate, work, i, steps.flat[i]) for i in range(x.size)]
    output_shape = np.shape(columns[0]) if columns else evaluate().shape
    stacked = np.stack(columns, axis=-1) if columns else np.zeros(output_shape + (0,))
    return stacked.reshape(output_shape + x.shape).astype(x.dtype)


# --- Whole arguments --------------------------------------------------------

def _check_floating(argument, name):
    leaves, treedef = flatten(argument)
    for leaf, path in zip(leaves, leaf_paths(treedef, name)):
        dtype = np.asarray(leaf).dtype
        if not np.issubdtype(dtype, np.floating):
            kind = "integer" if dtype.kind in "biu" else dtype.name
            raise TypeError(f"{path} has dtype {dtype}: {kind} arguments are not differentiated; "
                            "pass floats or leave it out of argnums")


def _restore_kind(original, derivative):
    """Python float in, Python float out; NumPy scalar in, NumPy scalar out."""
    if derivative.ndim == 0 and isinstance(original, np.generic):
        return derivative[()]
    if derivative.ndim == 0 and not isinstance(original, np.ndarray):
        return float(derivative)
    return derivative


def _present_like(original, work):
    """``work`` in the form f was given the original leaf (array or scalar)."""
    if isinstance(original, np.ndarray):
        return work
    if isinstance(original, np.generic):
        return work[()]
    return work.item()


def _normalize_argnums(argnums, n_args):
    """(non-negative indices, whether argnums was a tuple)."""
    many = not isinstance(argnums, int)
    indices = tuple(map(operator.index, argnums if many else (argnums,)))
    if not all(-n_args <= index < n_args for index in indices):
        raise ValueError(f"argnums {argnums!r} out of range for {n_args} positional arguments")
    return tuple(index % n_args for index in indices), many


def _derivatives(f, args, argnums, method, h, scalar_output):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    indices, many = _normalize_argnums(argnums, len(args))
    for index in indices:  # before spending any calls to f
        _check_floating(args[index], f"args[{index}]")

    def call(new_args):
        output = np.asarray(f(*new_args))
        if scalar_output and output.shape != ():
            raise TypeError(
                f"grad requires f to return a scalar, got an output of shape {output.shape}; "
                "use jacobian for vector-valued f"
            )
        return output

    f_base = call(args) if method == "forward" else None
    results = tuple(_argument_derivative(call, args, index, method, h, f_base) for index in indices)
    return results if many else results[0]


def _argument_derivative(call, args, argnum, method, h, f_base):
    leaves, treedef = flatten(args[argnum])
    derivatives = []
    for position, leaf in enumerate(leaves):
        def call_with_leaf(work, position=position, leaf=leaf):
            # Rebuilt per call (cheap next to f) since scalar leaves are immutable.
            new_leaves = list(leaves)
            new_leaves[position] = _present_like(leaf, work)
            new_args = list(args)
            new_args[argnum] = unflatten(treedef, new_leaves)
            return call(new_args)

        block = _leaf_jacobian(call_with_leaf, np.asarray(leaf), method, h, f_base)
        derivatives.append(_restore_kind(leaf, block))
    return unflatten(treedef, derivatives)


def grad(f, *args, argnums=0, method="central", h=None):
    """Finite-difference gradient of scalar-valued ``f`` at ``args``.

    The result has the structure of ``args[argnums]`` (a tuple of them if
    ``argnums`` is a tuple): arrays of the argument's shape and float dtype,
    Python floats for Python floats. ``method`` is "forward", "central",
    "complex" or "richardson"; the default steps are per coordinate,
    ``eps**(1/2) * max(|x_i|, 1)`` forward, ``eps**(1/3) * max(|x_i|, 1)``
    central, ``eps**(1/5) * max(|x_i|, 1)`` Richardson and
    ``1e-20 * max(|x_i|, 1)`` complex. A float ``h`` is the absolute step for
    every coordinate. See the module docstring for the error each method makes.

    >>> import numpy as np
    >>> g = grad(lambda x: np.sum(x ** 2), np.array([1.0, -2.0]))
    >>> np.round(g, 6)
    array([ 2., -4.])
    >>> grad(lambda w, b: w * b, 3.0, 2.0, argnums=(0, 1), method="complex")
    (2.0, 3.0)
    """
    return _derivatives(f, args, argnums, method, h, scalar_output=True)


def jacobian(f, *args, argnums=0, method="central", h=None):
    """Finite-difference Jacobian of array-valued ``f``, laid out as in JAX.

    Each leaf of the result has shape ``f(*args).shape + leaf.shape``. Steps,
    methods and result structure are as for :func:`grad`.

    >>> import numpy as np
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> J = jacobian(lambda x: A @ x, np.zeros(2), method="complex")
    >>> J.shape, np.allclose(J, A)
    ((3, 2), True)
    """
    return _derivatives(f, args, argnums, method, h, scalar_output=False)


# --- Checking jitad's gradients ---------------------------------------------

@dataclasses.dataclass(frozen=True)
class LeafCheck:
    """Comparison of AD and finite differences for one leaf of one argument."""

    name: str
    shape: tuple
    max_abs_err: float
    max_rel_err: float
    worst_index: int  # flat index of the element furthest outside its tolerance
    passed: bool


@dataclasses.dataclass(frozen=True, repr=False)
class GradCheck:
    """Report of :func:`check_grad`; true when every element is within tolerance."""

    leaves: tuple
    method: str
    rtol: float
    atol: float

    @property
    def max_abs_err(self):
        return max((leaf.max_abs_err for leaf in self.leaves), default=0.0)

    @property
    def max_rel_err(self):
        return max((leaf.max_rel_err for leaf in self.leaves), default=0.0)

    @property
    def passed(self):
        return all(leaf.passed for leaf in self.leaves)

    def __bool__(self):
        return self.passed

    def _rows(self):
        header = ("argument", "shape", "max abs err", "max rel err", "worst index", "")
        rows = [(leaf.name, str(leaf.shape), f"{leaf.max_abs_err:.3g}", f"{leaf.max_rel_err:.3g}",
                 str(leaf.worst_index), "PASS" if leaf.passed else "FAIL") for leaf in self.leaves]
        return header, rows

    def _title(self):
        verdict = "PASS" if self.passed else "FAIL"
        return f"GradCheck {verdict}: method={self.method}, rtol={self.rtol:.3g}, atol={self.atol:.3g}"

    def __repr__(self):
        header, rows = self._rows()
        widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                 for row in [header, *rows]]
        return "\n".join([self._title(), *lines])

    def _repr_html_(self):
        header, rows = self._rows()
        body = "".join(_html_row(row, "td") for row in rows)
        return (f"<table><caption>{html.escape(self._title())}</caption>"
                f"<thead>{_html_row(header, 'th')}</thead><tbody>{body}</tbody></table>")


def _html_row(cells, tag):
    return "<tr>" + "".join(f"<{tag}>{html.escape(cell)}</{tag}>" for cell in cells) + "</tr>"


def _argument_name(f, argnum):
    try:
        parameters = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):  # builtins and ufuncs may have no signature
        parameters = []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if argnum < len(parameters) and parameters[argnum].kind in positional:
        return parameters[argnum].name
    return f"args[{argnum}]"


def _compare_leaf(name, ad, fd, rtol, atol):
    ad, fd = np.asarray(ad, dtype=np.float64), np.asarray(fd, dtype=np.float64)
    if ad.shape != fd.shape:
        raise ValueError(f"{name}: AD gradient has shape {ad.shape}, finite differences {fd.shape}")
    abs_err = np.abs(ad - fd)
    magnitude = np.maximum(np.abs(ad), np.abs(fd))
    rel_err = abs_err / np.maximum(magnitude, np.finfo(np.float64).tiny)
    excess = abs_err / np.maximum(atol, rtol * magnitude)
    worst = int(np.argmax(excess)) if excess.size else 0
    return LeafCheck(name, ad.shape, float(np.max(abs_err, initial=0.0)),
                     float(np.max(rel_err, initial=0.0)), worst, bool(np.all(excess <= 1)))


def check_grad(f, *args, argnums=0, method="central", rtol=None, atol=None):
    """Compare ``jitad.grad(f, argnums)(*args)`` against finite differences.

    Element by element, with ``ad`` jitad's value and ``fd`` the finite
    difference, the absolute error is ``|ad - fd|`` and the relative error
    ``|ad - fd| / max(|ad|, |fd|, tiny)``. An element passes if its absolute
    error is at most ``max(atol, rtol * max(|ad|, |fd|))``.

    The default ``rtol`` asks for half of the digits the method can deliver,
    ``eps ** (order / 2)``, with order 1/2 forward, 2/3 central, 4/5 Richardson
    and 1 complex, and eps of the least precise differentiated argument (float64
    central: eps**(1/3) ~ 6e-6). The unused half of the digits is margin for the
    problem-dependent constants of the finite-difference error (curvature, size
    of f); a wrong derivative rule is typically off by O(1). The default
    ``atol`` is ``rtol * max(1, largest |gradient| element)``, so components
    much smaller than the largest one, which finite differences only resolve in
    absolute terms, are judged on the gradient's overall scale.

    >>> import numpy as np
    >>> report = check_grad(lambda x: np.sum(np.sin(x)), np.linspace(0.0, 1.0, 4))
    >>> bool(report), report.leaves[0].name
    (True, 'x')
    """
    from jitad.api import grad as ad_grad  # lazily: jitad.api imports much more than fd needs

    indices, many = _normalize_argnums(argnums, len(args))
    ad_results = ad_grad(f, argnums=argnums)(*args)
    fd_results = grad(f, *args, argnums=argnums, method=method)
    if not many:
        ad_results, fd_results = (ad_results,), (fd_results,)
    pairs = []  # (readable name, AD leaf, finite-difference leaf)
    for index, ad, fd in zip(indices, ad_results, fd_results):
        (ad_leaves, _), (fd_leaves, fd_treedef) = flatten(ad), flatten(fd)
        names = leaf_paths(fd_treedef, _argument_name(f, index))
        if len(ad_leaves) != len(fd_leaves):
            raise ValueError(f"{names}: AD gives {len(ad_leaves)} gradient leaves, "
                             f"the argument has {len(fd_leaves)}")
        pairs += zip(names, ad_leaves, fd_leaves)

    if rtol is None:
        eps = max((np.finfo(np.asarray(fd_leaf).dtype).eps for _, _, fd_leaf in pairs),
                  default=np.finfo(np.float64).eps)
        rtol = float(eps ** (_ERROR_ORDER[method] / 2))
    if atol is None:
        largest = max((np.max(np.abs(leaf), initial=0.0) for pair in pairs for leaf in pair[1:]), default=0.0)
        atol = rtol * max(1.0, float(largest))
    leaves = tuple(_compare_leaf(name, ad, fd, rtol, atol) for name, ad, fd in pairs)
    return GradCheck(leaves, method, float(rtol), float(atol))
