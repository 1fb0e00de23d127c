"""The studies: measurements that are not one loss against its peers.

Each is selected like a case (``--cases trace-length``) and runs by default:

- ``trace-length``: cost against trace length, and of guards (trace_length.py);
- ``fresh-process``: the first gradient in a new process with warm disk caches,
  jitad against JAX (fresh_process.py);
- ``parallel``: the Rosenbrock gradient at n = 10**7 and per-example gradients
  with ``parallel=True`` at 1 and 2 threads, and the machine's ceiling
  (parallel_study.py), where jitad has ``parallel=``;
- ``dask``: ``benchmarks.dask_scale``'s study, where that module is installed.

A study that cannot run says why in a note (the feature it needs is missing).
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Callable

from . import fresh_process, parallel_study, report, trace_length


@dataclass(frozen=True)
class Study:
    name: str
    run: Callable        # run(quick, settings, peers, progress) -> result dict
    markdown: Callable   # markdown(result) -> lines of results.md
    missing: Callable    # missing(peers) -> "" if it can run, else why not


def _needs_jitad(peers) -> str:
    return "" if "jitad" in peers else "needs the jitad peer"


def _dask_scale():
    try:
        return importlib.import_module("benchmarks.dask_scale")
    except ImportError as error:
        if error.name not in ("benchmarks.dask_scale", None):
            raise  # the module is there but broken: say so loudly
        return None


def _dask_missing(peers) -> str:
    if _dask_scale() is None:
        return "benchmarks/dask_scale.py is not installed (no dask study)"
    if importlib.util.find_spec("distributed") is None:
        return "dask[distributed] is not installed (pip install -e \".[dask]\")"
    return ""


STUDIES = (
    Study("trace-length",
          lambda quick, settings, peers, progress: trace_length.study(
              "quick" if quick else "full", settings, progress),
          report.trace_length_section, _needs_jitad),
    Study("fresh-process",
          lambda quick, settings, peers, progress: fresh_process.study(
              quick, progress, with_jax="jax" in peers),
          report.fresh_process_section, _needs_jitad),
    Study("parallel",
          lambda quick, settings, peers, progress: parallel_study.study(quick, settings, progress),
          parallel_study.markdown, lambda peers: _needs_jitad(peers) or parallel_study.missing()),
    Study("dask",
          lambda quick, settings, peers, progress: _dask_scale().study(quick, progress),
          lambda result: _dask_scale().markdown(result).splitlines(), _dask_missing),
)
NAMES = tuple(study.name for study in STUDIES)


def run_studies(names, quick, settings, peers, progress) -> tuple[dict, list]:
    """({study name: result}, notes) for the studies in ``names`` (all when empty)."""
    results, notes = {}, []
    for study in STUDIES:
        if names and study.name not in names:
            continue
        why_not = study.missing(peers)
        if why_not:
            notes.append(f"{study.name} study: skipped, {why_not}")
            progress(f"{study.name} study: skipped, {why_not}")
            continue
        try:
            results[study.name] = study.run(quick, settings, peers, progress)
        except Exception as error:  # noqa: BLE001 - a failing study is a result, reported
            message = str(error).splitlines()[0] if str(error) else ""
            notes.append(f"{study.name} study: failed, {type(error).__name__}: {message}")
            progress(notes[-1])
    return results, notes


def markdown(results) -> list:
    lines = []
    for study in STUDIES:
        if study.name in results:
            lines += [""] + list(study.markdown(results[study.name]))
    return lines
