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
# (label, colour, marker, line style, marker size): told apart without colour too
STEP_METHODS = {"forward": ("forward differences", "C1", "s", "-", 4),
                "central": ("central differences", "C2", "^", "--", 7),
                "complex": ("complex step", "C3", "o", ":", 3)}
SCALING_PEERS = {"jitad": ("jitad", "C0", "o", "-"),
                 "fd-forward": ("forward differences", "C1", "s", "-."),
                 "fd-central": ("central differences", "C2", "^", ":"),
                 "numpy f": ("f alone (NumPy)", "0.4", "x", "--")}
MINIMUM_LABEL_OFFSET = {"forward": (-10, 35), "central": (12, -32), "complex": (12, 8)}
STEP_CAPTION = ("Look at: forward and central differences trace a V, round-off (~eps/h) on the "
                "left, truncation (~h, ~h^2) on the right; the stars mark each curve's smallest "
                "error and its step. The complex step has no left arm; above h ~ 1e-5 it "
                "coincides with central differences (both truncate as h^2). jitad's error is the "
                "bottom line.")
SCALING_CAPTION = ("Look at: the slopes. Differences need n evaluations of an O(n) function "
                   "(slope 2 for large n); jitad's one adjoint sweep stays parallel to f alone "
                   "(slope 1). Hollow markers are estimates from sampled coordinates.")


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


def _caption(figure, text):
    """A line under the plot saying what to look at."""
    figure.text(0.01, 0.01, text, fontsize=8, wrap=True, va="bottom", ha="left")


def _plot_step_size(plt, study, path):
    figure, axes = plt.subplots(figsize=(8, 5.6))
    for method, (label, color, marker, linestyle, size) in STEP_METHODS.items():
        points = [(h, max(e, EPS / 4)) for h, e in zip(study["steps"], study["errors"][method])
                  if e is not None]
        steps, errors = zip(*points)
        # central differences on top, hollow, so the complex step shows through where they agree
        hollow = method == "central"
        axes.loglog(steps, errors, color=color, marker=marker, linestyle=linestyle,
                    markersize=size, markerfacecolor="none" if hollow else color,
                    zorder=3 if hollow else 2, label=label)
        best = int(numpy.argmin(errors))
        axes.plot(steps[best], errors[best], marker="*", markersize=14, color=color,
                  markeredgecolor="black", zorder=4)
        smallest = "0 (drawn at eps/4)" if errors[best] <= EPS / 4 else f"{errors[best]:.1e}"
        axes.annotate(f"smallest error {smallest}\nat h = {steps[best]:.1e}",
                      (steps[best], errors[best]), textcoords="offset points",
                      xytext=MINIMUM_LABEL_OFFSET[method], fontsize=7, color=color, zorder=5,
                      bbox={"facecolor": "white", "edgecolor": color, "alpha": 0.9})
    for method in ("forward", "central"):
        label, color = STEP_METHODS[method][:2]
        axes.axvline(study["default_steps"][method], color=color, linestyle=":", linewidth=1,
                     label=f"jitad.fd's default step, {label}")
    if study["jitad_error"] is not None:
        error = study["jitad_error"]
        axes.axhline(max(error, EPS / 4), color="C0", linewidth=2,
                     label=f"jitad ({error:.1e}{', drawn at eps/4' if error < EPS / 4 else ''})")
    axes.set_xlabel("step h (absolute, in the units of x1 and x2; log scale)")
    axes.set_ylabel("max relative error of the gradient\n(dimensionless; log scale)")
    axes.set_title(f"Finite differences vs step size: {study['function']}", fontsize=10)
    axes.legend(loc="upper center", fontsize=7, ncol=2)
    axes.grid(True, which="major", alpha=0.3)
    figure.tight_layout(rect=(0, 0.09, 1, 1))
    _caption(figure, STEP_CAPTION)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _plot_scaling(plt, results, path):
    figure, axes = plt.subplots(figsize=(8, 5.4))
    for peer, (label, color, marker, linestyle) in SCALING_PEERS.items():
        points = sorted((r["size"], row["warm_s"], row["estimated"]) for r in results
                        for row in r["rows"] if row["peer"] == peer)
        if not points:
            continue
        sizes, seconds, estimated = zip(*points)
        axes.loglog(sizes, seconds, color=color, linestyle=linestyle)
        axes.plot([], [], color=color, linestyle=linestyle, marker=marker, label=label)
        for size, time, is_estimate in points:
            axes.plot(size, time, marker=marker, color=color, markersize=7,
                      markerfacecolor="none" if is_estimate else color)
    axes.set_xlabel("n, the number of inputs (log scale)")
    axes.set_ylabel("seconds per gradient, median of warm calls (log scale)")
    axes.set_title("Rosenbrock gradient: time vs n (hollow: sampled estimate)", fontsize=10)
    axes.legend(fontsize=8)
    axes.grid(True, which="major", alpha=0.3)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    _caption(figure, SCALING_CAPTION)
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


if __name__ == "__main__":
    # Redraw the figures of a finished run without running it again:
    #   python -m benchmarks.plots docs/benchmarks/results.json
    import json
    import sys

    results_path = sys.argv[1]
    with open(results_path) as file:
        document = json.load(file)
    written, notes = draw_all(document["cases"], document["step_size_study"],
                              os.path.dirname(os.path.abspath(results_path)))
    print("\n".join(written + notes))
