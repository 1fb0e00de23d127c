"""Run the suite: per case, build every peer, check its derivative, time it.

For each case: the plain NumPy function is timed first (the baseline, and the
cost model that decides whether finite differences are sampled); each peer
makes its first call on a fresh function; every derivative is compared with
the exact one; then all implementations are timed in interleaved rounds; then
jitad's first call is repeated on fresh function objects, which now find the
compiled kernel in the on-disk cache.

Budgets. jitad unrolls Python loops, and its first call on a long
time-stepping loss can take many minutes or exhaust the memory (JAX's
unrolled jit can too). Every build therefore runs under ``--budget`` seconds
(default 120) and, for the peers that compile, ``--memory-gb`` of resident
memory (default 6): a variant over budget is reported as "did not finish in
120 s" (or over the memory budget) and the suite goes on. The choice, worked
out in isolation.py: a compiling peer (jitad, JAX, numba) makes its first
call in a worker process, which can be killed; only if it finishes there is
it built again in this process, where jitad's kernel now loads from the disk
cache and JAX's from its persistent cache, so the timed function lives in the
same process as every other peer and nothing is compiled twice. The first
call reported is the worker's (cold caches). Eager peers are interrupted
in-process by a timer signal. A signal alone cannot stop a compile (LLVM and
XLA do not return to Python until done) nor a runaway allocation, and a
worker per build would pay every import again; one worker per family, kept
for the run, pays its start-up once. ``--budget 0`` builds everything
in-process, without workers or limits.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import platform
import shutil
import sys
import tempfile
import traceback

import numpy

from . import isolation, plots, report, studies, suite, timing
from .fd_peer import FiniteDifferencePeer
from .handwritten import NumbaHandPeer
from .peers import AutogradPeer, JaxPeer, JitadPeer, Plan, TorchPeer
from .trees import flat, relative_error

FAMILIES = {"jitad": JitadPeer, "fd": FiniteDifferencePeer, "jax": JaxPeer, "torch": TorchPeer,
            "autograd": AutogradPeer, "numba": NumbaHandPeer}
SETTINGS = {  # seconds per timed sample, rounds, budget of one finite-difference gradient,
    # seconds the timed rounds of one slow implementation may take in one case
    "full": {"target": 0.05, "repeats": 7, "fd_budget": 0.25, "disk_first_calls": 3,
             "seconds_each": 10.0},
    "quick": {"target": 0.005, "repeats": 3, "fd_budget": 0.02, "disk_first_calls": 1,
              "seconds_each": 1.0},
}
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="", help="comma-separated case names (a prefix such "
                        "as 'rosenbrock' selects all its sizes, a group such as 'loops' its "
                        f"cases) and studies ({', '.join(studies.NAMES)}); default: all")
    parser.add_argument("--peers", default=",".join(FAMILIES),
                        help=f"comma-separated, from {','.join(FAMILIES)}; default: all")
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke test)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="directory for results.json, "
                        "results.md and the plots")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved timing rounds")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds one peer's first "
                        "call may take before it is reported as not finished (0: no budget, "
                        "every build in this process); default 120")
    parser.add_argument("--memory-gb", type=float, default=6.0, help="resident memory a "
                        "compiling peer's first call may use (its worker process); default 6")
    args = parser.parse_args(argv)
    args.cases = [c for c in args.cases.split(",") if c]
    args.peers = [p for p in args.peers.split(",") if p]
    unknown = sorted(set(args.peers) - set(FAMILIES))
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(FAMILIES)}")
    return args


def progress(message):
    print(message, flush=True)


@contextlib.contextmanager
def cold_caches(with_jax_cache: bool):
    """A fresh, empty JITAD_CACHE_DIR for this run, so jitad's first calls compile;
    with ``with_jax_cache``, an empty persistent JAX compilation cache too
    (JAX_COMPILATION_CACHE_DIR, which JaxPeer.setup turns on for the worker and
    this process alike, so this process loads the executable the worker compiled)."""
    directory = tempfile.mkdtemp(prefix="jitad-bench-cache-")
    variables = {"JITAD_CACHE_DIR": os.path.join(directory, "jitad")}
    if with_jax_cache:
        variables["JAX_COMPILATION_CACHE_DIR"] = os.path.join(directory, "jax")
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def set_up_peers(names):
    """{family: peer} for the peers that import, and the notes on those that do not."""
    ready, meta, skipped = {}, {}, []
    for name in names:
        peer = FAMILIES[name]()
        try:
            meta[name] = peer.setup()
        except ImportError as error:
            skipped.append({"peer": name, "reason": f"not installed ({error.name or error})"})
            progress(f"  {name}: skipped, not installed")
            continue
        ready[name] = peer
        progress(f"  {name}: ready {meta[name]}")
    return ready, meta, skipped


def build_variants(case, peers, args, plan, builds) -> tuple[list, list, list]:
    """(variants built, rows of variants that did not finish or failed, notes)."""
    variants, unfinished, notes = [], [], []
    for family, peer in peers.items():
        names = peer.variant_names(case)
        if not names and peer.missing(case):
            notes.append(f"{family}: {peer.missing(case)}")
        for name in names:
            try:
                variant = builds.build(peer, case, args, plan, name)
            except isolation.DidNotFinish as reason:
                unfinished.append(_unfinished_row(name, family, str(reason)))
                progress(f"    {name:<12} {reason}")
                continue
            except Exception as error:  # noqa: BLE001 - a failing peer is a result, reported
                message = str(error).splitlines()[0] if str(error) else ""
                notes.append(f"{name}: failed, {type(error).__name__}: {message}")
                unfinished.append(_unfinished_row(name, family, "failed (see the notes)"))
                progress("".join(traceback.format_exception_only(error)).rstrip())
                continue
            progress(f"    {variant.peer:<12} first call {report.seconds(variant.first_call_s)}")
            variants.append(variant)
    return variants, unfinished, notes


def _unfinished_row(name, family, reason) -> dict:
    return {"peer": name, "family": family, "warm_s": None, "samples_s": [], "first_call_s": None,
            "max_rel_error": None, "estimated": False, "note": "", "unfinished": reason}


def run_case(case, peers, settings, builds):
    args = case.make_args()
    exact = flat(case.exact(*args))
    f = case.loss(numpy)
    baseline_loops = timing.loops_for(f, args, settings["target"])
    plan = Plan(f_seconds=timing.time_calls(f, args, baseline_loops),
                fd_budget=settings["fd_budget"])
    variants, unfinished, notes = build_variants(case, peers, args, plan, builds)
    for note in notes:
        progress(f"    {note}")

    timed = {"numpy f": (f, args, 1.0)}
    timed.update((v.peer, (v.fn, v.args, v.scale)) for v in variants)
    samples = timing.interleaved_medians(timed, settings["repeats"], settings["target"],
                                         settings["seconds_each"])
    rows = [{"peer": "numpy f", "family": "baseline", "warm_s": timing.median(samples["numpy f"]),
             "samples_s": samples["numpy f"], "first_call_s": None, "max_rel_error": None,
             "estimated": False, "note": "the function alone, no derivative"}]
    for v in variants:
        rows.append({"peer": v.peer, "family": v.family, "warm_s": timing.median(samples[v.peer]),
                     "samples_s": samples[v.peer], "first_call_s": v.first_call_s,
                     "max_rel_error": relative_error(flat(v.result), exact, v.coordinates),
                     "estimated": v.coordinates is not None,
                     "note": _rounds_note(v.note, len(samples[v.peer]), settings["repeats"]),
                     **v.stats})
    rows += unfinished
    result = {"name": case.name, "title": case.title, "kind": case.kind, "size": case.size,
              "group": case.group, "exact": case.exact_how, "notes": notes, "rows": rows}
    jitad_variant = next((v for v in variants if v.peer == "jitad"), None)
    if jitad_variant is not None:
        result["jitad"] = jitad_summary(jitad_variant, args, settings)
    add_comparisons(result)
    return result


def _rounds_note(note, rounds, repeats) -> str:
    if rounds == repeats:
        return note
    slow = f"median of the first {rounds} of {repeats} rounds (slow calls)"
    return f"{note}; {slow}" if note else slow


def jitad_summary(variant, args, settings):
    """Cold first call (compile) and first calls that find the kernel on disk."""
    disk = [timing.first_call(variant.fresh(), args)[1]
            for _ in range(settings["disk_first_calls"])]
    return {"first_call_cold_s": variant.first_call_s, "first_call_disk_s": timing.median(disk),
            "first_call_disk_samples_s": disk, **variant.stats}


def add_comparisons(result):
    """Ratio of every warm time to jitad's; jitad's warm time over JAX's and
    the hand-written numba gradient's (``jitad_over``: above 1, jitad is
    slower; against JAX in the mode jitad's auto Jacobian chose); and jitad's
    break-even against central differences: the number of calls N from which
    first_call + (N - 1) * warm <= N * central, that is N >= (first - warm) / (central - warm)."""
    by_peer = {row["peer"]: row for row in result["rows"] if row["warm_s"] is not None}
    jitad_row, central = by_peer.get("jitad"), by_peer.get("fd-central")
    for row in result["rows"]:
        row["ratio_to_jitad"] = row["warm_s"] / jitad_row["warm_s"] \
            if jitad_row and row["warm_s"] is not None else None
    mode = jitad_row.get("auto_mode") if jitad_row else None
    against = {"jax": f"jax[{mode}]" if mode else "jax", "jax[scan]": "jax[scan]",
               "numba-hand": "numba-hand"}
    result["jitad_over"] = {
        label: jitad_row["warm_s"] / by_peer[peer]["warm_s"]
        for label, peer in against.items() if jitad_row and peer in by_peer}
    if jitad_row is None or central is None:
        result["break_even_calls"] = None
        return
    first, warm, fd = jitad_row["first_call_s"], jitad_row["warm_s"], central["warm_s"]
    if fd <= warm:
        result["break_even_calls"] = "never"
    else:
        result["break_even_calls"] = max(1, math.ceil((first - warm) / (fd - warm)))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description(fairness, peer_meta, settings, options):
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": platform.machine(), "processor": cpu_model(),
            "cpus": os.cpu_count(), "python": sys.version.split()[0], "numpy": numpy.__version__,
            "numba": sys.modules["numba"].__version__ if "numba" in sys.modules else None,
            "fairness": fairness, "peers": peer_meta, "settings": settings,
            "command": "python -m benchmarks " + " ".join(options)}


def main(argv=None, fairness=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    options = parse_args(argv)
    settings = dict(SETTINGS["quick" if options.quick else "full"])
    if options.repeats:
        settings["repeats"] = options.repeats
    case_names = [name for name in options.cases if name not in studies.NAMES]
    study_names = [name for name in options.cases if name in studies.NAMES]
    found, case_notes = suite.all_cases(options.quick)
    selected = suite.select(found, case_names) if case_names or not options.cases else []
    run_studies = not options.cases or study_names
    os.makedirs(options.out, exist_ok=True)
    settings.update(budget_s=options.budget, memory_gb=options.memory_gb)
    with cold_caches(with_jax_cache=options.budget > 0):
        progress(f"jitad benchmarks: {len(selected)} cases, peers {','.join(options.peers)}, "
                 f"{settings['repeats']} interleaved rounds, budget {options.budget:g} s and "
                 f"{options.memory_gb:g} GB per build")
        peers, peer_meta, skipped = set_up_peers(options.peers)
        builds = isolation.Builds(options.budget, options.memory_gb, options.quick)
        results = []
        try:
            for index, case in enumerate(selected, 1):
                progress(f"[{index}/{len(selected)}] {case.name}: {case.title}")
                results.append(run_case(case, peers, settings, builds))
                progress(report.case_table(results[-1]))
        finally:
            builds.close()
        study_results, study_notes = studies.run_studies(
            study_names, options.quick, settings, peers, progress) if run_studies else ({}, [])
        meta = machine_description(fairness or {}, peer_meta, settings, argv)
        progress("step-size study and plots")
        step_sizes = plots.step_size_study(with_jitad="jitad" in peers)
        figures, plot_notes = plots.draw_all(results, step_sizes, options.out)
    document = {"meta": meta, "skipped_peers": skipped, "case_notes": case_notes,
                "cases": results, "studies": study_results, "study_notes": study_notes,
                "step_size_study": step_sizes, "plots": figures, "plot_notes": plot_notes}
    sections = studies.markdown(study_results)
    report.write(document, options.out, sections)
    progress(report.markdown(document, sections))
    progress(f"wrote {os.path.join(options.out, 'results.json')}, results.md and the plots")
    return document
