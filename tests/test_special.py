"""scipy.special and scipy.stats under jitad (issue 15): compiled values
against SciPy's, the domain edges (xlogy(0, 0), log_ndtr far in the tail,
gammaln near its poles, i1e at 0, logsumexp of -inf), the errors that name
the drop-ins, and two end-to-end losses checked against finite differences,
forward against reverse mode, and their Hessians."""
from __future__ import annotations

import json
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st

import jitad
from jitad.scipy import special as jsp
from jitad.scipy import stats as jst

from .test_disk_cache import child_env

UNARY = [(sc.expit, (-30, 30)), (sc.logit, (0.01, 0.99)), (sc.log_expit, (-30, 30)),
         (sc.gammaln, (-5, 30)), (sc.digamma, (-5, 30)), (sc.erf, (-5, 5)), (sc.erfc, (-5, 25)),
         (sc.erfinv, (-0.999, 0.999)), (sc.ndtr, (-30, 10)), (sc.log_ndtr, (-50, 10)),
         (sc.ndtri, (0.001, 0.999)), (sc.i0e, (-50, 50)), (sc.i1e, (-50, 50))]


@pytest.mark.parametrize("fn, bounds", UNARY, ids=[f.__name__ for f, _ in UNARY])
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_compiled_values_are_scipys(fn, bounds, seed):
    """The kernels call SciPy's own scalar code: the same bits (float32 too)."""
    x = np.random.default_rng(seed).uniform(*bounds, 7)
    np.testing.assert_array_equal(jitad.jit(fn)(x), fn(x))
    x32 = x.astype(np.float32)
    got = jitad.jit(fn)(x32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, fn(x32), rtol=2e-7, atol=1e-37)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_binary_and_polygamma_values(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.1, 20, 6), rng.uniform(0.1, 20, 6)
    f = jitad.jit(lambda a, b: (sc.betaln(a, b), sc.xlogy(a, b), sc.xlog1py(a, b),
                                jsp.polygamma(1, a), jsp.polygamma(3, b)))
    for got, want in zip(f(a, b), (sc.betaln(a, b), sc.xlogy(a, b), sc.xlog1py(a, b),
                                   sc.polygamma(1, a), sc.polygamma(3, b))):
        np.testing.assert_allclose(got, want, rtol=4e-16)


def test_derivatives_are_the_family():
    """Compiled gradients, to second order, against SciPy's own functions."""
    x = np.linspace(0.2, 8.0, 9)
    cases = [(sc.gammaln, sc.digamma(x), sc.polygamma(1, x)),
             (sc.digamma, sc.polygamma(1, x), sc.polygamma(2, x)),
             (lambda x: jsp.polygamma(2, x), sc.polygamma(3, x), sc.polygamma(4, x)),
             (sc.ndtr, ss.norm.pdf(x), -x * ss.norm.pdf(x)),
             (sc.expit, sc.expit(x) * sc.expit(-x), None),
             (sc.log_expit, sc.expit(-x), -sc.expit(x) * sc.expit(-x))]
    for fn, first, second in cases:
        np.testing.assert_allclose(jitad.grad(lambda x: np.sum(fn(x)))(x), first, rtol=1e-13)
        if second is not None:
            hess = jitad.hessian(lambda x: np.sum(fn(x)))(x)
            np.testing.assert_allclose(np.diag(hess), second, rtol=1e-12)
    u = np.linspace(-0.99, 0.99, 7)
    np.testing.assert_allclose(jitad.grad(lambda u: np.sum(sc.erfinv(u)))(u),
                               np.sqrt(np.pi) / 2 * np.exp(sc.erfinv(u) ** 2), rtol=1e-13)


def _with_mpmath(f, x):
    return float(mpmath.diff(f, mpmath.mpf(float(x))))


def test_log_ndtr_far_in_the_tail():
    mpmath.mp.dps = 50
    log_ncdf = lambda t: mpmath.log(mpmath.ncdf(t))  # noqa: E731
    g = jitad.grad(lambda x: np.sum(sc.log_ndtr(x)))
    for x in (-40.0, -10.0, -3.0, 5.0):
        assert sc.log_ndtr(x) == jitad.jit(sc.log_ndtr)(x)
        # the exponent -x^2/2 - log_ndtr(x) rounds at ~x^2 eps: 1.3e-13 at x = -40
        np.testing.assert_allclose(g(np.array([x]))[0], _with_mpmath(log_ncdf, x),
                                   rtol=max(1e-14, x * x * 2e-16))
    assert np.isfinite(jitad.hessian(lambda x: np.sum(sc.log_ndtr(x)))(np.array([-40.0]))).all()


def test_gammaln_near_its_poles():
    mpmath.mp.dps = 50
    x = np.array([-1 + 1e-8, -2 - 1e-6, -2.5, -0.5, 1e-10])
    np.testing.assert_array_equal(jitad.jit(sc.gammaln)(x), sc.gammaln(x))
    g = jitad.grad(lambda x: np.sum(sc.gammaln(x)))(x)
    np.testing.assert_allclose(g, sc.digamma(x), rtol=1e-15)
    # SciPy's digamma itself loses ~1e-16 / |x - pole| relative near a pole
    np.testing.assert_allclose(g, [float(mpmath.digamma(v)) for v in x], rtol=1e-7)
    assert jitad.jit(sc.gammaln)(np.array([0.0, -1.0, -2.0])).tolist() == [np.inf] * 3


def test_xlogy_at_zero():
    g = jitad.grad(lambda x, y: np.sum(sc.xlogy(x, y) + sc.xlog1py(x, y - 1.0)), argnums=(0, 1))
    x, y = np.array([0.0, 0.0, 2.0]), np.array([0.0, 3.0, 3.0])
    gx, gy = g(x, y)
    assert jitad.jit(sc.xlogy)(0.0, 0.0) == 0.0
    np.testing.assert_array_equal(gy[:2], [0.0, 0.0])  # finite, not NaN
    np.testing.assert_allclose(gx[1:], 2 * np.log(3.0))
    np.testing.assert_allclose(gy[2], 2 * (2.0 / 3.0))
    assert gx[0] == -np.inf  # d/dx x log(y) at y = 0 is log(0)
    h = jitad.hessian(lambda y: np.sum(sc.xlogy(x, y)))(np.array([0.0, 3.0, 3.0]))
    np.testing.assert_allclose(np.diag(h), [0.0, 0.0, -2.0 / 9.0])


def test_bessel_derivatives_at_zero():
    g = jitad.grad(lambda x: np.sum(sc.i1e(x) + 2.0 * sc.i0e(x)))(np.array([0.0, 1.0]))
    d = 1e-6
    fd = (sc.i1e(1 + d) + 2 * sc.i0e(1 + d) - sc.i1e(1 - d) - 2 * sc.i0e(1 - d)) / (2 * d)
    np.testing.assert_allclose(g, [0.5, fd], rtol=1e-8)


def test_logsumexp_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    a[0, 1] = -np.inf
    b = rng.uniform(0.0, 2.0, (4,))
    b[2] = 0.0
    for kw in [{}, {"axis": 1}, {"axis": (0, 1), "keepdims": True}, {"axis": 0, "b": b[:3, None]},
               {"axis": -1, "b": b}]:
        want = sc.logsumexp(a, **kw)
        np.testing.assert_allclose(jitad.jit(lambda a: jsp.logsumexp(a, **kw))(a), want,
                                   rtol=1e-15)
        np.testing.assert_allclose(jsp.logsumexp(a, **kw), want, rtol=1e-15)
    out, sign = jsp.logsumexp(np.array([1.0, 2.0]), b=np.array([1.0, -1.0]), return_sign=True)
    assert (out, sign) == sc.logsumexp([1.0, 2.0], b=[1.0, -1.0], return_sign=True)
    grad = jitad.grad(lambda a: jsp.logsumexp(a, axis=-1).sum())(a)
    np.testing.assert_allclose(grad, jsp.softmax(a, axis=-1), rtol=1e-15)
    assert grad[0, 1] == 0.0
    inf = np.full(3, -np.inf)
    assert jitad.jit(jsp.logsumexp)(inf) == -np.inf
    np.testing.assert_array_equal(jitad.grad(jsp.logsumexp)(inf), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(jitad.jit(lambda a: jsp.log_softmax(a, axis=0))(a),
                               sc.log_softmax(a, axis=0), rtol=1e-15)
    np.testing.assert_allclose(jitad.jit(jsp.softmax)(a), sc.softmax(a), rtol=1e-15)


def test_stats_drop_ins_match_scipy():
    x = np.linspace(0.05, 0.95, 7)
    for name, args in [("norm", (0.3, 1.5)), ("t", (3.5, 0.2, 1.3)), ("gamma", (2.5, -0.1, 0.7)),
                       ("beta", (2.2, 3.1, -0.01, 1.02))]:
        ours, theirs = getattr(jst, name), getattr(ss, name)
        for method in ("logpdf", "pdf"):
            want = getattr(theirs, method)(x, *args)
            got = jitad.jit(lambda x: getattr(ours, method)(x, *args))(x)
            np.testing.assert_allclose(got, want, rtol=1e-13)
            np.testing.assert_allclose(getattr(ours(*args), method)(x), want, rtol=1e-13)
    z = np.linspace(-40, 8, 9)
    for method in ("cdf", "logcdf", "sf", "logsf"):
        np.testing.assert_allclose(jitad.jit(lambda z: getattr(jst.norm, method)(z, 0.5, 2.0))(z),
                                   getattr(ss.norm, method)(z, 0.5, 2.0), rtol=1e-14)
    q = np.linspace(0.01, 0.99, 5)
    np.testing.assert_allclose(jst.norm.ppf(q, 1.0, 2.0), ss.norm.ppf(q, 1.0, 2.0), rtol=1e-14)
    assert jst.gamma.logpdf(-1.0, 2.0) == -np.inf == ss.gamma.logpdf(-1.0, 2.0)
    assert np.isnan(jst.norm.logpdf(0.0, scale=-1.0))


@pytest.mark.parametrize("f, drop_in", [
    (lambda x: sc.logsumexp(x), "jitad.scipy.special.logsumexp"),
    (lambda x: np.sum(sc.softmax(x)), "jitad.scipy.special.softmax"),
    (lambda x: np.sum(sc.polygamma(1, x)), "jitad.scipy.special.polygamma"),
    (lambda x: np.sum(ss.norm.logpdf(x, 0.0, 2.0)), "jitad.scipy.stats.norm.logpdf"),
    (lambda x: np.sum(ss.norm(0.0, 2.0).cdf(x)), "jitad.scipy.stats.norm.cdf"),
    (lambda x: np.sum(ss.t.logpdf(x, 3.0)), "jitad.scipy.stats.t.logpdf"),
], ids=["logsumexp", "softmax", "polygamma", "norm.logpdf", "frozen_norm.cdf", "t.logpdf"])
def test_scipy_functions_that_call_asarray_name_the_drop_in(f, drop_in):
    with pytest.raises(TypeError, match=drop_in.replace(".", r"\.")):
        jitad.grad(f)(np.array([0.5, 1.5]))


def test_unsupported_scipy_ufunc_is_named():
    with pytest.raises(TypeError, match="'gamma' is not NumPy's"):
        jitad.grad(lambda x: np.sum(sc.gamma(x)))(np.array([0.5, 1.5]))


def test_integer_arguments_become_float():
    assert jitad.jit(lambda n: sc.gammaln(n))(np.arange(1, 5)).dtype == np.float64
    np.testing.assert_allclose(jitad.jit(lambda n: sc.gammaln(n))(np.arange(1, 5)),
                               sc.gammaln(np.arange(1, 5)))


# ------------------------------------------------------ end-to-end losses

def student_t_nll(params, X, y):
    """Negative log-likelihood of a Student-t regression (df and scale free)."""
    w, log_scale, log_df = params[:-2], params[-2], params[-1]
    df, scale = np.exp(log_df), np.exp(log_scale)
    r = (y - X @ w) / scale
    ll = (sc.gammaln((df + 1) / 2) - sc.gammaln(df / 2) - 0.5 * np.log(df * np.pi)
          - log_scale - (df + 1) / 2 * np.log1p(r * r / df))
    return -np.sum(ll)


def logistic_nll(w, X, y):
    z = X @ w
    return -np.sum(y * sc.log_expit(z) + (1 - y) * sc.log_expit(-z)) + 0.01 * np.sum(w * w)


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 3))
    y = X @ np.array([0.5, -1.0, 2.0]) + rng.standard_t(4.0, 40)
    return X, y, (y > 0).astype(float)


def _central_hessian(g, x, h=1e-5):
    cols = [(g(x + h * e) - g(x - h * e)) / (2 * h) for e in np.eye(x.size)]
    return np.array(cols).T


def test_student_t_regression(data):
    X, y, _ = data
    params = np.array([0.3, -0.7, 1.5, 0.1, 1.2])
    grad = jitad.grad(student_t_nll)(params, X, y)
    np.testing.assert_allclose(grad, jitad.fd.grad(student_t_nll, params, X, y),
                               rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(jitad.jacfwd(student_t_nll)(params, X, y), grad, rtol=1e-13)
    # the same likelihood by the drop-in
    by_stats = lambda p, X, y: -np.sum(jst.t.logpdf(y, np.exp(p[-1]), X @ p[:-2],  # noqa: E731
                                                    np.exp(p[-2])))
    np.testing.assert_allclose(jitad.grad(by_stats)(params, X, y), grad, rtol=1e-12)
    np.testing.assert_allclose(by_stats(params, X, y), -np.sum(ss.t.logpdf(
        y, np.exp(1.2), X @ params[:3], np.exp(0.1))), rtol=1e-13)
    hess = jitad.hessian(student_t_nll)(params, X, y)
    g = jitad.grad(student_t_nll)
    np.testing.assert_allclose(hess, _central_hessian(lambda p: g(p, X, y), params),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-12, atol=1e-12)


def test_logistic_regression(data):
    X, _, labels = data
    w = np.array([0.2, -0.4, 0.9])
    grad = jitad.grad(logistic_nll)(w, X, labels)
    np.testing.assert_allclose(grad, jitad.fd.grad(logistic_nll, w, X, labels), rtol=1e-7,
                               atol=1e-8)
    p = sc.expit(X @ w)
    np.testing.assert_allclose(grad, X.T @ (p - labels) + 0.02 * w, rtol=1e-12)
    np.testing.assert_allclose(jitad.jacfwd(logistic_nll)(w, X, labels), grad, rtol=1e-13)
    hess = jitad.hessian(logistic_nll)(w, X, labels)
    np.testing.assert_allclose(hess, X.T @ (X * (p * (1 - p))[:, None]) + 0.02 * np.eye(3),
                               rtol=1e-12)


def test_batching_through_special_functions():
    x = np.linspace(0.5, 3.0, 4)
    jac = jitad.jacrev(lambda x: sc.gammaln(x) * sc.expit(x))(x)
    np.testing.assert_allclose(np.diag(jac), sc.digamma(x) * sc.expit(x)
                               + sc.gammaln(x) * sc.expit(x) * sc.expit(-x), rtol=1e-13)
    grads = jitad.vmap(jitad.grad(lambda v: np.sum(sc.log_ndtr(v))))(np.stack([x, -x]))
    np.testing.assert_allclose(grads[1], np.exp(ss.norm.logpdf(-x) - sc.log_ndtr(-x)),
                               rtol=1e-13)


def test_long_scalar_trace_runs_on_the_interpreter():
    def f(x):
        s = x * 0.0
        for k in range(120):
            s = s + sc.gammaln(x + k) * sc.expit(x - k)
        return s
    got = jitad.value_and_grad(f)(1.5)
    want = sum(sc.gammaln(1.5 + k) * sc.expit(1.5 - k) for k in range(120))
    np.testing.assert_allclose(got[0], want, rtol=1e-13)
    dwant = sum(sc.digamma(1.5 + k) * sc.expit(1.5 - k)
                + sc.gammaln(1.5 + k) * sc.expit(1.5 - k) * sc.expit(k - 1.5) for k in range(120))
    np.testing.assert_allclose(got[1], dwant, rtol=1e-12)


# ------------------------------------------------ processes: cache, import

CHILD = """
import json, sys
import numpy as np, jitad
before = "scipy.special" in sys.modules
import scipy.special as sc
g = jitad.grad(lambda x: np.sum(sc.gammaln(x) * sc.log_ndtr(-x) + sc.i1e(x)))
out = g(np.linspace(0.5, 2.0, 5))
kernel = next(iter(g.cache.entries.values()))[0].kernel
print(json.dumps({"scipy_at_import": before, "hits": sum(kernel.fn.stats.cache_hits.values()),
                  "misses": sum(kernel.fn.stats.cache_misses.values()), "grad": out.tolist()}))
"""


def test_special_kernels_load_from_the_disk_cache_and_import_jitad_stays_scipy_free(tmp_path):
    def run():
        done = subprocess.run([sys.executable, "-c", CHILD], env=child_env(tmp_path),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])
    cold, warm = run(), run()
    assert not cold["scipy_at_import"]
    assert cold["misses"] == 1 and warm["hits"] == 1 and warm["misses"] == 0
    assert cold["grad"] == warm["grad"]
