"""The whole list of cases, and ``--cases`` selection.

The cases live in modules by theme: cases.py (the first suite: classic,
Rosenbrock, network, logistic, softmax, chain, scalar loop, Jacobians,
Hessian), kernel_cases.py (kernel speed: the elementwise-heavy loss at
10**6 and 10**7, the Gaussian mixture), first_call_cases.py (first calls:
the Gaussian-process marginal likelihood, gradient and Hessian),
loop_cases.py and recurrent_cases.py (group "loops": RK4 integrations, a
Kalman filter, an HMM forward pass, an LSTM), scale_cases.py (group
"scale": per-example gradients with vmap, where jitad has vmap).
``benchmarks.adbench``, written separately, adds its cases (group
"adbench") when it is importable.
"""
from __future__ import annotations

import dataclasses
import importlib

from . import cases, first_call_cases, kernel_cases, loop_cases, recurrent_cases, scale_cases

ADBENCH_GROUP = "adbench"


def adbench_cases(quick: bool) -> tuple[list, str]:
    """(cases, note): benchmarks.adbench's cases in group "adbench", or why there are none."""
    try:
        adbench = importlib.import_module("benchmarks.adbench")
    except ImportError as error:
        if error.name not in ("benchmarks.adbench", None):
            raise  # the package is there but broken: say so loudly
        return [], "adbench: benchmarks/adbench is not installed (no ADBench cases)"
    return [dataclasses.replace(case, group=ADBENCH_GROUP) for case in adbench.cases(quick)], ""


def all_cases(quick: bool) -> tuple[list, list]:
    """(every case in run order, notes on groups that are missing)."""
    found, notes = [], []
    found += cases.core_cases(quick)
    found += kernel_cases.kernel_cases(quick)
    found += first_call_cases.first_call_cases(quick)
    found += loop_cases.time_stepping_cases(quick)
    found += recurrent_cases.recurrent_cases(quick)
    for extra, note in (scale_cases.scale_cases(quick), adbench_cases(quick)):
        found += extra
        notes += [note] if note else []
    return found, notes


def _matches(case, name) -> bool:
    return case.name == name or case.name.startswith(name + "-") or case.group == name


def select(found, names) -> list:
    """Cases named in ``names``: by name, by name prefix (``rosenbrock``: all its
    sizes) or by group (``loops``, ``adbench``)."""
    if not names:
        return found
    unknown = [name for name in names if not any(_matches(case, name) for case in found)]
    if unknown:
        groups = sorted({case.group for case in found if case.group})
        raise SystemExit(f"unknown case(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(case.name for case in found)} or a group "
                         f"({', '.join(groups)})")
    return [case for case in found if any(_matches(case, name) for name in names)]
