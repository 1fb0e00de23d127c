"""The two figures: finite-difference error against step size, and time against n.

1. ``step_size.png``: the error of forward, central and complex-step
   differences of the classic example at (2.0, 0.5) as the step h sweeps
   1e-15 .. 1e-1. Forward and central trace a V: truncation error (~h, ~h**2)
   on the right, round-off (~eps/h) on the left; the complex step has no
   subtraction, so no left arm. jitad's error is the horizontal line.
2. ``scaling.png``: gradient time against n for Rosenbrock, log-log: finite
   differences need O(n) evaluations of an O(n) function, jitad one adjoint
   sweep. Sampled (estimated) finite-difference times are hollow markers.
"""
from __future__ import annotations

import os

import numpy

from .cases import classic, classic_exact
from .trees import flat, relative_error

STEPS = numpy.logspace(-15, -1, 57)
CLASSIC_POINT = (2.0, 0.5)
EPS = numpy.finfo(numpy.float64).eps
SCALING_PEERS = {"jitad": ("jitad", "C0", "o"), "fd-forward": ("forward differences", "C1", "s"),
                 "fd-central": ("central differences", "C2", "^"),
                 "numpy f": ("f alone (NumPy)", "0.5", ".")}


def step_size_study(with_jitad: bool) -> dict:
    """Errors of jitad.fd at each step h; jitad's own error if it is benchmarked."""
    import jitad
    f = classic(numpy)
    exact = flat(classic_exact(*CLASSIC_POINT))
    errors = {}
    for method in ("forward", "central", "complex"):
        errors[method] = []
        for h in STEPS:
            try:
                derivative = jitad.fd.grad(f, *CLASSIC_POINT, argnums=(0, 1), method=method, h=h)
                errors[method].append(relative_error(flat(derivative), exact))
            except ValueError:  # h below the spacing of floats at x: no step taken
                errors[method].append(None)
    jitad_error = None
    if with_jitad:
        derivative = jitad.grad(f, argnums=(0, 1))(*CLASSIC_POINT)
        jitad_error = relative_error(flat(derivative), exact)
    return {"function": "x1*sqrt(log(x1/sin(x2**2))) at (2.0, 0.5)", "steps": STEPS.tolist(),
            "errors": errors, "jitad_error": jitad_error,
            "default_steps": {"forward": EPS ** 0.5 * 2.0, "central": EPS ** (1 / 3) * 2.0}}


def _plot_step_size(plt, study, path):
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for method, color in (("forward", "C1"), ("central", "C2"), ("complex", "C3")):
        points = [(h, max(e, EPS / 4)) for h, e in zip(study["steps"], study["errors"][method])
                  if e is not None]
        axes.loglog(*zip(*points), color=color, marker=".", label=f"{method} differences")
    for method, color in (("forward", "C1"), ("central", "C2")):
        axes.axvline(study["default_steps"][method], color=color, linestyle=":", linewidth=1)
    if study["jitad_error"] is not None:
        error = study["jitad_error"]
        axes.axhline(max(error, EPS / 4), color="C0", linewidth=2,
                     label=f"jitad ({error:.1e}{', drawn at eps/4' if error < EPS / 4 else ''})")
    axes.set_xlabel("step h (dotted: jitad.fd's default steps)")
    axes.set_ylabel("max relative error of the gradient")
    axes.set_title(f"Finite differences vs step size: {study['function']}")
    axes.legend(loc="lower left", fontsize=8)
    axes.grid(True, which="major", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _plot_scaling(plt, results, path):
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for peer, (label, color, marker) in SCALING_PEERS.items():
        points = sorted((r["size"], row["warm_s"], row["estimated"]) for r in results
                        for row in r["rows"] if row["peer"] == peer)
        if not points:
            continue
        sizes, seconds, estimated = zip(*points)
        axes.loglog(sizes, seconds, color=color, linestyle="--" if peer == "numpy f" else "-",
                    label=label)
        for size, time, is_estimate in points:
            axes.plot(size, time, marker=marker, color=color,
                      markerfacecolor="none" if is_estimate else color)
    axes.set_xlabel("n (inputs)")
    axes.set_ylabel("seconds per gradient (median, warm)")
    axes.set_title("Rosenbrock gradient: time vs n (hollow: sampled estimate)")
    axes.legend(fontsize=8)
    axes.grid(True, which="major", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def draw_all(results, study, out_dir) -> tuple[list, list]:
    """(files written, notes on figures not drawn)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], ["matplotlib is not installed: no plots (pip install matplotlib)"]
    written, notes = [], []
    path = os.path.join(out_dir, "step_size.png")
    _plot_step_size(plt, study, path)
    written.append(path)
    scaling = [r for r in results if r["group"] == "rosenbrock"]
    if len(scaling) >= 2:
        path = os.path.join(out_dir, "scaling.png")
        _plot_scaling(plt, scaling, path)
        written.append(path)
    else:
        notes.append("scaling.png not drawn: it needs at least two rosenbrock sizes")
    return written, notes
