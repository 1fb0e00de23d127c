"""Scale: per-example gradients with vmap (group "scale"), where jitad has ``vmap``.

``per-example``: the gradient of the 2-layer network's loss for each of 64
examples separately, ``jitad.vmap(jitad.grad(loss), in_axes=(None, 0, 0))``
against ``jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))`` and
``torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))``, one thread
each as everywhere; the loss is the network case's own source, applied to one
example (x of shape (D_in,), y of shape (D_out,)). The threads study of the
same section is parallel_study.py.

Until jitad has ``vmap`` (DESIGN.md, v0.2) the case is left out with a note
that says so.
"""
from __future__ import annotations

import numpy

from .cases import Case, network, network_args, network_torch

SIZES = {"full": (64, 1000, 100, 10), "quick": (8, 100, 20, 5)}


def per_example_exact(params, x, y):
    """Backpropagation by hand for every example at once (ReLU' taken as 0 at 0)."""
    pre = x @ params["W1"] + params["b1"]
    h = numpy.maximum(pre, 0.0)
    d_out = 2.0 * (h @ params["W2"] + params["b2"] - y)
    d_pre = (d_out @ params["W2"].T) * (pre > 0)
    return {"W1": numpy.einsum("bi,bj->bij", x, d_pre), "b1": d_pre,
            "W2": numpy.einsum("bh,bo->bho", h, d_out), "b2": d_out}


def missing() -> str:
    """Why the per-example case cannot run with this jitad ("" when it can)."""
    import jitad
    if not hasattr(jitad, "vmap"):
        return ("per-example (scale): skipped, jitad has no vmap yet (DESIGN.md v0.2: "
                "jitad.vmap(f, in_axes=0, out_axes=0))")
    return ""


def scale_cases(quick: bool) -> tuple[list, str]:
    """(cases, note): the per-example case, or a note that says what jitad lacks."""
    why_not = missing()
    if why_not:
        return [], why_not
    batch, d_in, hidden, d_out = SIZES["quick" if quick else "full"]
    return [Case("per-example", f"per-example gradients of the 2-layer network's MSE, batch "
                 f"{batch} (D_in={d_in}, H={hidden}, D_out={d_out}), vmap(grad, in_axes=(None, "
                 "0, 0))", "per-example", network, network_torch,
                 network_args(batch, d_in, hidden, d_out), per_example_exact,
                 "hand-written backpropagation per example",
                 batch * (d_in * hidden + hidden + hidden * d_out + d_out), group="scale",
                 in_axes=(None, 0, 0))], ""
