"""Finite differences as a peer: ``jitad.fd`` forward and central differences.

Gradients call ``jitad.fd.grad(f, *args, argnums=..., method=...)`` on the
plain NumPy loss: n + 1 (forward) or 2n (central) evaluations of f. Jacobians
call ``jitad.fd.jacobian`` the same way; a Hessian is the central (or
forward) difference Jacobian of the hand-written NumPy gradient.

Sampling. A full finite-difference gradient of a large input takes hours
(Rosenbrock at n = 10**6: 2 * 10**6 calls of f, each milliseconds). The plan's
budget buys k = budget / (evaluations per coordinate * seconds per call of f)
coordinates; when that is under half of n only k coordinates are differentiated, spread
evenly over the argument leaves and chosen at random (seeded) within each:
``jitad.fd.grad`` of f restricted to those k inputs, with the same step rule.
Its time is multiplied by n / k and shown as an estimate (``~``), its error is
measured on those k coordinates. Each coordinate costs the same, so the
estimate is the cost of the full gradient up to the scatter of the k inputs
into the argument, which is a few microseconds per call of f.
"""
from __future__ import annotations

import functools
import math

import numpy

from .cases import SEED
from .peers import Variant
from .timing import first_call
from .trees import flat, leaves, unflatten_like

METHODS = {"fd-forward": ("forward", 1), "fd-central": ("central", 2)}  # evaluations per coordinate
MIN_SAMPLED = 2  # at 10**7 inputs one call of f takes about a second


class FiniteDifferencePeer:
    family = "fd"

    def setup(self) -> dict:
        import jitad.fd
        self.fd = jitad.fd
        return {"module": "jitad.fd"}

    def variant_names(self, case) -> list:
        return [] if case.kind == "per-example" else list(METHODS)

    def missing(self, case) -> str:
        return "finite differences of per-example gradients are not benchmarked"

    def build(self, case, args, plan, name):
        method, evaluations = METHODS[name]
        if case.kind == "grad":
            return self._gradient(name, method, evaluations, case, args, plan)
        return self._jacobian(name, method, case, args)

    def _jacobian(self, name, method, case, args):
        if case.kind == "hessian":
            fn = functools.partial(self.fd.jacobian, case.gradient, method=method)
            note = "differences of the hand-written gradient"
        else:
            fn = functools.partial(self.fd.jacobian, case.loss(numpy), argnums=case.argnums,
                                   method=method)
            note = ""
        result, seconds = first_call(fn, args)
        return Variant(name, self.family, fn, args, result, seconds, note=note)

    def _gradient(self, name, method, evaluations, case, args, plan):
        f = case.loss(numpy)
        k = max(MIN_SAMPLED, int(plan.fd_budget / (evaluations * plan.f_seconds)))
        if 2 * k >= case.size:  # sampling would save less than half: run it all
            fn = functools.partial(self.fd.grad, f, argnums=case.argnums, method=method)
            result, seconds = first_call(fn, args)
            return Variant(name, self.family, fn, args, result, seconds)
        fn, sub_args, coordinates = restricted_gradient(self.fd, f, args, case.argnums, method, k)
        result, seconds = first_call(fn, sub_args)
        scale = case.size / len(coordinates)
        return Variant(name, self.family, fn, sub_args, result, seconds * scale, scale=scale,
                       coordinates=coordinates,
                       note=f"estimate: {len(coordinates):,} of {case.size:,} coordinates "
                            f"sampled, time x{scale:,.0f}")


def restricted_gradient(fd, f, args, argnums, method, k):
    """(fn, args, coordinates): ``fn(*args)`` is the finite-difference gradient of f
    with respect to the flat coordinates ``coordinates`` of the differentiated
    arguments only, the other coordinates held at their values."""
    positions = (argnums,) if isinstance(argnums, int) else argnums
    wrt = tuple(args[i] for i in positions)
    work = flat(wrt)
    coordinates = _sample(wrt, k)

    def restricted(sub):
        work[coordinates] = sub
        full = list(args)
        for position, value in zip(positions, unflatten_like(wrt, work)):
            full[position] = value
        return f(*full)
    fn = functools.partial(fd.grad, restricted, method=method)
    return fn, (work[coordinates].copy(),), coordinates


def _sample(wrt, k):
    """About k flat indices, the same number from each leaf, sorted."""
    sizes = [numpy.size(leaf) for leaf in leaves(wrt)]
    per_leaf = math.ceil(k / len(sizes))
    generator = numpy.random.default_rng(SEED)
    chosen, offset = [], 0
    for size in sizes:
        count = min(size, per_leaf)
        chosen.append(offset + generator.choice(size, count, replace=False))
        offset += size
    return numpy.sort(numpy.concatenate(chosen))
