"""Tables for the terminal and results.md, and results.json.

Columns: ``warm call`` is the median time of one call after the first
(interleaved rounds); ``x jitad`` that time over jitad's (above 1: jitad is
faster); ``first call`` the first call on a fresh function (jitad: trace,
transform and compile with an empty kernel cache); ``max rel. error``
max |derivative - exact| / max |exact| over all entries; ``~`` marks sampled
finite-difference estimates (see fd_peer).
"""
from __future__ import annotations

import json
import os

UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))
DAY, YEAR = 86400.0, 365.25 * 86400.0


def seconds(value, estimated=False) -> str:
    if value is None:
        return "–"
    prefix = "~" if estimated else ""
    if value >= YEAR:
        return f"{prefix}{value / YEAR:.3g} years"
    if value >= DAY:
        return f"{prefix}{value / DAY:.3g} d"
    if value >= 3600:
        return f"{prefix}{value / 3600:.3g} h"
    if value >= 60:
        return f"{prefix}{value / 60:.3g} min"
    for scale, unit in UNITS:
        if abs(value) >= scale or unit == "ns":
            return f"{prefix}{value / scale:.3g} {unit}"


def error(value) -> str:
    if value is None:
        return "–"
    return "0" if value == 0 else f"{value:.1e}"


def ratio(value) -> str:
    return "–" if value is None else f"{value:.3g}"


def _table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


PEER_HEADER = ("case", "peer", "warm call", "x jitad", "first call", "max rel. error", "note")


def _peer_rows(result):
    for row in result["rows"]:
        first_call = row.get("unfinished") or seconds(row["first_call_s"], row["estimated"])
        yield (result["name"], row["peer"], seconds(row["warm_s"], row["estimated"]),
               ratio(row["ratio_to_jitad"]), first_call, error(row["max_rel_error"]), row["note"])


SUMMARY_HEADER = ("case", "n", "f alone", "jitad warm", "jitad / JAX", "jitad / numba-hand",
                  "jitad first call (cold)", "of which compile", "first call (disk cache)",
                  "central differences", "break-even calls", "exact derivative")


def _summary_row(result):
    rows = {row["peer"]: row for row in result["rows"]}
    jitad, central = rows.get("jitad"), rows.get("fd-central")
    summary = result.get("jitad", {})
    over = result.get("jitad_over", {})
    against_jax = ratio(over.get("jax"))
    if "jax[scan]" in over:
        against_jax += f" (scan {ratio(over['jax[scan]'])})"
    unfinished = jitad.get("unfinished") if jitad else None
    return (result["name"], f"{result['size']:,}", seconds(rows["numpy f"]["warm_s"]),
            unfinished or (seconds(jitad["warm_s"]) if jitad else "–"), against_jax,
            ratio(over.get("numba-hand")),
            unfinished or seconds(summary.get("first_call_cold_s")),
            seconds(summary.get("compile_s")),
            seconds(summary.get("first_call_disk_s")),
            seconds(central["warm_s"], central["estimated"]) if central else "–",
            result["break_even_calls"] if result["break_even_calls"] is not None else "–",
            result["exact"])


def case_table(result) -> str:
    """The per-peer table of one case, printed as soon as it has run."""
    text = _table(PEER_HEADER, _peer_rows(result))
    summary = result.get("jitad")
    if summary:
        text += (f"\njitad first call {seconds(summary['first_call_cold_s'])} (compile "
                 f"{seconds(summary.get('compile_s'))}), from the disk cache "
                 f"{seconds(summary['first_call_disk_s'])}")
        if result["break_even_calls"] == "never":
            text += "; central differences are faster warm: jitad never breaks even"
        elif result["break_even_calls"] is not None:
            text += (f"; break-even against central differences after "
                     f"{result['break_even_calls']} calls")
    return text + "".join(f"\nnote: {note}" for note in result["notes"])


LENGTH_HEADER = ("loop steps", "gradient ops", "backend", "first call", "of which compile",
                 "warm call", "warm per op")


def _length_rows(rows):
    for row in rows:
        yield (f"{row['steps']:,}", f"{row['gradient_ops']:,}", row["backend"],
               seconds(row["first_call_s"]), seconds(row["compile_s"]), seconds(row["warm_s"]),
               seconds(row["warm_s"] / row["gradient_ops"]))


def trace_length_section(study) -> list:
    guards = study["guards"]
    return [
        "## Trace length and guards", "",
        "The gradient of `x = sin(x)*1.01 + 0.1*x` unrolled by the tracer. The first rows are "
        "the default, the steps re-rolled into one compiled loop; the next have re-rolling "
        f"off, where gradient graphs of more than {study['interpret_above']:,} scalar ops run "
        "on the op-table interpreter; the last rows force the same unrolled gradient through "
        "straight-line compiled code.", "",
        _table(LENGTH_HEADER, _length_rows(study["loop"])), "",
        f"Guards: a loop of {guards['guards']} steps that each branch on a value "
        f"({guards['guard_ops_in_kernel']} guards checked per call) takes "
        f"{seconds(guards['guarded_warm_s'])} warm, the same loop without the branch "
        f"{seconds(guards['plain_warm_s'])}: {seconds(guards['per_guard_s'])} per guard check. "
        f"A function whose inputs alternate between two compiled paths takes "
        f"{seconds(guards['alternating_warm_s'])} a call, against "
        f"{seconds(guards['one_path_warm_s'])} on one path (a failed guard, then the other "
        "variant).",
    ]


FRESH_HEADER = ("peer", "import + first gradient, warm cache", "whole process, warm cache",
                "import + first gradient, cold cache", "whole process, cold cache",
                "max rel. error")


def fresh_process_section(study) -> list:
    peers = study["peers"]
    rows = [(name, seconds(peer["warm"]["seconds"]), seconds(peer["warm"]["wall_s"]),
             seconds(peer["cold"]["seconds"]), seconds(peer["cold"]["wall_s"]),
             error(peer["max_rel_error"]))
            for name, peer in peers.items()]
    lines = ["## First gradient in a fresh process", "",
             f"A new Python process imports the library and takes its first gradient of "
             f"{study['function']}, its compilation cache on disk warm from an earlier process "
             "(jitad: JITAD_CACHE_DIR; JAX: the persistent compilation cache). Medians of "
             f"{len(next(iter(peers.values()))['warm']['samples_s'])} runs each, alternating; "
             "'import + first gradient' is timed inside the process from its first line, "
             "'whole process' is the wall time of the subprocess (interpreter start and exit "
             "included). The cold columns are the one run that filled the empty caches.", "",
             _table(FRESH_HEADER, rows)]
    if "jax" in peers:
        ratio_warm = peers["jitad"]["warm"]["seconds"] / peers["jax"]["warm"]["seconds"]
        lines += ["", "jitad / JAX, import + first gradient with warm caches: "
                  f"{ratio(ratio_warm)}."]
    written = ", ".join(f"{name.split('_')[0]} {count}" for name, count in study["checks"].items())
    lines += ["", "Check: files the warm runs wrote into the cache directories (0: every kernel "
              f"and executable came from disk): {written}."]
    return lines


PARALLEL_HEADER = ("NUMBA_NUM_THREADS", "CPUs allowed", "parallel=True warm", "serial warm",
                   "parallel / serial", "parallel first call", "max rel. error")


def parallel_section(study) -> list:
    rows = [(row["threads"], row["affinity_cpus"], seconds(row["parallel_warm_s"]),
             seconds(row["serial_warm_s"]), ratio(row["parallel_warm_s"] / row["serial_warm_s"]),
             seconds(row["parallel_first_call_s"]), error(row["max_rel_error"]))
            for row in study["rows"]]
    return ["## Threads: parallel=True", "",
            f"The Rosenbrock gradient at n = {study['n']:,}, `jitad.grad(f, parallel=True)` "
            "against the serial `jitad.grad(f)`, each thread count in a fresh process with "
            "NUMBA_NUM_THREADS set. Not pinned to one CPU (the only unpinned row of the suite), "
            "so on a shared machine the 2-thread time carries the load of everything else "
            "running; medians over the child processes.", "",
            _table(PARALLEL_HEADER, rows)]


def _versions(meta) -> str:
    parts = [f"Python {meta['python']}", f"NumPy {meta['numpy']}", f"numba {meta['numba']}"]
    parts += [f"{name} {info['version']}" for name, info in meta["peers"].items()
              if "version" in info and name != "numba"]  # the numba peer: numba, listed
    return ", ".join(parts)


def reading(settings) -> list:
    """What every column and mark of the tables means (the top of results.md)."""
    budget = f"{settings.get('budget_s', 0):g} s"
    return [
        "Summary, one row per case:",
        "- **f alone**: the plain NumPy function, no derivative (warm median).",
        "- **jitad warm**: one warm call of jitad's derivative (median over the rounds).",
        "- **jitad / JAX**: jitad's warm time divided by JAX's, both from this run: above 1, "
        "jitad is slower. JAX is `jax.jit(jax.grad(f))` of the same source (for Jacobians, "
        "in the mode jitad's `mode='auto'` chose). On the loop cases `(scan r)` is the ratio "
        "against `jax[scan]`, the same loss written with `jax.lax.scan` as a JAX user would.",
        "- **jitad / numba-hand**: jitad's warm time divided by the hand-written numba "
        "gradient's (benchmarks/handwritten*.py: fused single-pass loops, BLAS through "
        "`np.dot`, `numba.njit(cache=False, error_model='numpy')` and no fastmath, so the same "
        "float semantics as jitad's kernels): how far jitad is from the code an expert writes "
        "by hand. Above 1, jitad is slower.",
        "- **jitad first call (cold)**: trace, transform and compile with an empty kernel "
        "cache, made in a worker process under the budget; **of which compile**: its compile "
        "seconds; **first call (disk cache)**: a fresh function object in the timing process, "
        "the kernel loaded from the disk cache.",
        "- **central differences**: a central-difference gradient (`~`: sampled coordinates, "
        "time extrapolated); **break-even calls**: from how many calls jitad's first call plus "
        "warm calls costs less than central differences; **exact derivative**: what the "
        "errors are measured against.",
        f"- **did not finish in {budget}** (or **exceeded the ... GB memory budget**): that "
        f"peer's first call was stopped at the budget (`--budget`, `--memory-gb`) and the "
        "suite went on; **failed**: it raised (the notes say what).",
        "",
        "Every peer, one row per implementation: **warm call** (median); **x jitad**, that "
        "time over jitad's (above 1, jitad is faster); **first call** on a fresh function "
        "(compiling peers: in a worker process, cold caches); **max rel. error**, "
        "max |derivative - exact| / max |exact|. Rows: `numba-hand` (the hand-written "
        "gradient), `jax[scan]`, `jitad[fwd]`/`jitad[rev]` and `jax[fwd]`/`jax[rev]` "
        "(Jacobian modes). A note 'median of the first k of n rounds (slow calls)' marks an "
        "implementation whose calls take seconds, timed in fewer rounds.",
    ]


def markdown(document, study_sections=()) -> str:
    """results.md; ``study_sections``: the lines of the studies' sections (studies.markdown)."""
    meta, results = document["meta"], document["cases"]
    fairness = meta["fairness"]
    threads = ", ".join(f"{k}={v}" for k, v in fairness.items() if k != "pinned_cpu")
    lines = [
        "# jitad benchmark results", "",
        f"`{meta['command'].strip()}` on {meta['date']}: {meta['processor']} "
        f"({meta['cpus']} CPUs), {_versions(meta)}.", "",
        f"One thread per runtime ({threads}),"
        f" process pinned to CPU {fairness.get('pinned_cpu')}; JAX in float64 with synchronous "
        f"dispatch; PyTorch float64 with 1 thread. Warm times are medians of "
        f"{meta['settings']['repeats']} interleaved rounds.", "",
        "## How to read the tables", ""] + reading(meta["settings"]) + [
        "", "## Summary", "", _table(SUMMARY_HEADER, map(_summary_row, results)), "",
        "## Every peer", "",
        _table(PEER_HEADER, (row for result in results for row in _peer_rows(result))),
    ]
    lines += list(study_sections)
    notes = [f"- {p['peer']}: skipped, {p['reason']}" for p in document["skipped_peers"]]
    notes += [f"- {note}" for note in document.get("case_notes", [])]
    notes += [f"- {note}" for note in document.get("study_notes", [])]
    notes += [f"- {result['name']}: {note}" for result in results for note in result["notes"]]
    notes += [f"- {note}" for note in document["plot_notes"]]
    if fairness.get("warning"):
        notes.append(f"- {fairness['warning']}")
    if notes:
        lines += ["", "## Notes", ""] + notes
    if document["plots"]:
        lines += ["", "## Plots", ""] + [f"![{os.path.basename(p)}]({os.path.basename(p)})"
                                         for p in document["plots"]]
    return "\n".join(lines) + "\n"


def write(document, out_dir, study_sections=()):
    with open(os.path.join(out_dir, "results.json"), "w") as handle:
        json.dump(document, handle, indent=1)
    with open(os.path.join(out_dir, "results.md"), "w") as handle:
        handle.write(markdown(document, study_sections))
