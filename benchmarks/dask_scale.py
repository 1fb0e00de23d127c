"""Many machines through Dask (issue 16): ``jitad.dask.value_and_grad`` against one process.

The gradient of a logistic-regression NLL summed over 8 shards of 250,000 x
100 (quick: 8 x 5,000 x 20), computed

- by one process: ``jitad.value_and_grad`` on each shard in turn, summed
  (one thread, pinned to one CPU, as in the rest of the benchmarks);
- by ``jitad.dask.value_and_grad`` on a LocalCluster of 2 worker processes
  with 1 thread each, worker i pinned to CPU i, with the shards made on the
  workers (as data loaded where it lives, or scattered once for an
  optimiser's loop), and once with the NumPy shards sent by the call.

Both are timed in interleaved rounds (medians, benchmarks/timing.py) and must
agree to 1e-12 relative. Because the machine may be shared, the study also
measures how much faster the 2 workers together do fixed work (in-cache
compute, and memory streaming) than one alone, before and after: the ceiling
of any 2-process speedup at the time. The same is done for smaller shards (100 to 50,000
rows), where the Dask round trip (scheduler, tasks, reduction tree) costs more
than the compute it spreads; and the first call after ``client.restart()``
(new worker processes, kernels from jitad's disk cache) is timed.

    python -m benchmarks.dask_scale [--quick]
"""
from __future__ import annotations

import contextlib
import os
import sys
import time

import numpy as np

from . import timing

SIZES = {"full": dict(shards=8, rows=250_000, d=100, small_rows=(100, 1_000, 10_000, 50_000),
                      repeats=5, target=0.2),
         "quick": dict(shards=8, rows=5_000, d=20, small_rows=(100, 1_000), repeats=3,
                       target=0.05)}
WORKERS = 2
RTOL = 1e-12


def nll(w, X, y):
    z = X @ w
    return np.sum(np.logaddexp(0.0, z) - y * z)


def make_shard(k, rows, d, seed):
    """Shard ``k``: the same arrays wherever it is made (a worker or this process)."""
    rng = np.random.default_rng([seed, k])
    return rng.standard_normal((rows, d)), (rng.random(rows) < 0.5).astype(np.float64)


def make_shards(shards, rows, d, seed):
    return (np.random.default_rng(seed).standard_normal(d) * 0.3,
            [make_shard(k, rows, d, seed) for k in range(shards)])


@contextlib.contextmanager
def cluster():
    """A LocalCluster of ``WORKERS`` processes x 1 thread, on loopback, quiet."""
    import logging
    import distributed
    with distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  silence_logs=logging.ERROR) as local, \
            distributed.Client(local) as client:
        yield client


def pin_workers(client) -> dict:
    """Worker i on CPU i: the benchmark process itself is pinned to one CPU and its
    children inherit that, which would put both workers on one CPU."""
    if not hasattr(os, "sched_setaffinity"):
        return {}
    cpus = sorted(os.sched_getaffinity(0) | set(range(os.cpu_count() or 1)))
    pinned = {}
    for i, address in enumerate(sorted(client.nthreads())):
        cpu = cpus[i % len(cpus)]
        client.run(os.sched_setaffinity, 0, {cpu}, workers=[address])
        pinned[address] = cpu
    return pinned


def spin(kind) -> float:
    """Seconds of a fixed piece of work: ``compute`` (in cache) or ``memory`` (streaming)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(20_000 if kind == "compute" else 25_000_000)
    start = time.perf_counter()
    for _ in range(200 if kind == "compute" else 5):
        np.sin(a) if kind == "compute" else a.sum()
    return time.perf_counter() - start


def parallel_ceiling(client, rounds=3) -> dict:
    """How much faster the workers together do fixed work than one alone, now: on a
    shared machine the other CPU may be busy, and no 2-process speedup can beat this."""
    import statistics
    workers = sorted(client.nthreads())
    ceilings = {}
    for kind in ("compute", "memory"):
        ratios = []
        for _ in range(rounds):
            alone = [client.submit(spin, kind, workers=[a], pure=False).result() for a in workers]
            together = [f.result() for f in [client.submit(spin, kind, workers=[a], pure=False)
                                             for a in workers]]
            ratios.append(len(workers) * statistics.mean(alone) / max(together))
        ceilings[kind] = statistics.median(ratios)
    return ceilings


def one_process(h, shards):
    """The same sum in this process, shard after shard."""
    def total(w):
        value, grad = h(w, *shards[0])
        for shard in shards[1:]:
            v, g = h(w, *shard)
            value, grad = value + v, grad + g
        return value, grad
    return total


def relative_error(got, expected) -> float:
    value, grad = got
    value0, grad0 = expected
    return max(abs(float(value) - float(value0)) / abs(float(value0)),
               float(np.max(np.abs(grad - grad0)) / np.max(np.abs(grad0))))


def made_on_the_workers(client, shards, rows, d, seed):
    """Futures of the shards, each made on a worker (round robin), as data loaded where
    it lives would be: sending 1.6 GB from this process costs more than the study."""
    import distributed
    workers = sorted(client.nthreads())
    futures = [client.submit(make_shard, k, rows, d, seed, workers=[workers[k % len(workers)]],
                             pure=False) for k in range(shards)]
    distributed.wait(futures)
    return futures


def busiest_worker_compute(client, sharded, w, futures) -> float:
    """Seconds the busiest worker spent computing shard terms in one call: the rest of
    the call's time is Dask's (scheduling, transfers, the reduction)."""
    import distributed
    with distributed.get_task_stream(client) as stream:
        sharded(w, futures, client)
    per_worker = {}
    for task in stream.data:
        if "_shard_partial" in str(task["key"]):
            busy = sum(s["stop"] - s["start"] for s in task["startstops"]
                       if s["action"] == "compute")
            per_worker[task["worker"]] = per_worker.get(task["worker"], 0.0) + busy
    return max(per_worker.values())


def compare(client, shards, w, futures, repeats, target):
    """Interleaved medians of one process against Dask with the shards on the workers,
    the relative error, and one call that sends the NumPy shards (not repeated: slow)."""
    import jitad
    import jitad.dask
    single = one_process(jitad.value_and_grad(nll), shards)
    sharded = jitad.dask.value_and_grad(nll)
    expected = single(w)
    _, first_s = timing.first_call(sharded, (w, futures, client))
    timed = {"one process": (single, (w,), 1),
             "dask, shards on the workers": (sharded, (w, futures, client), 1)}
    samples = timing.interleaved_medians(timed, repeats, target)
    sent, sent_s = timing.first_call(sharded, (w, shards, client))
    return {"dask_first_call_s": first_s,
            "seconds": {name: timing.median(s) for name, s in samples.items()},
            "numpy_shards_sent_s": sent_s,
            "busiest_worker_compute_s": busiest_worker_compute(client, sharded, w, futures),
            "relative_error": max(relative_error(sharded(w, futures, client), expected),
                                  relative_error(sent, expected))}


def first_call_after_restart(client, size, seed):
    """New worker processes: numba's start-up, and the kernel from the disk cache."""
    import jitad.dask
    client.restart()
    pin_workers(client)
    w, _ = make_shards(0, size["rows"], size["d"], seed)
    futures = made_on_the_workers(client, size["shards"], size["rows"], size["d"], seed)
    sharded = jitad.dask.value_and_grad(nll)
    _, first_s = timing.first_call(sharded, (w, futures, client))
    start = time.perf_counter()
    sharded(w, futures, client)
    caches = [c for c in sharded.worker_caches(client).values() if c]
    return {"first_call_s": first_s, "second_call_s": time.perf_counter() - start,
            "worker_compile_s": [round(c["compile_seconds"], 3) for c in caches]}


def study(quick: bool, progress) -> dict:
    size = SIZES["quick" if quick else "full"]
    n, rows, d = size["shards"], size["rows"], size["d"]
    result = {"size": {"shards": n, "rows": rows, "d": d}, "workers": WORKERS,
              "threads_per_worker": 1, "rtol": RTOL, "load_average_before": os.getloadavg()}
    progress(f"dask scale study: {n} shards of {rows:,} x {d}, {WORKERS} workers x 1 thread")
    with cluster() as client:
        result["pinned"] = pin_workers(client)
        result["ceiling_before"] = parallel_ceiling(client)
        result["by_size"] = []
        for shard_rows in size["small_rows"] + (rows,):
            w, shards = make_shards(n, shard_rows, d, seed=shard_rows)
            futures = made_on_the_workers(client, n, shard_rows, d, seed=shard_rows)
            row = compare(client, shards, w, futures, size["repeats"], size["target"])
            row["rows"] = shard_rows
            result["by_size"].append(row)
            del shards, futures
            progress(f"  {n} x {shard_rows:,} x {d}: {row['seconds']}, NumPy shards sent: "
                     f"{row['numpy_shards_sent_s']:.3g} s, error {row['relative_error']:.1e}")
        result["ceiling_after"] = parallel_ceiling(client)
        result["restart"] = first_call_after_restart(client, size, seed=rows)
        progress(f"  after restart: {result['restart']}")
    result["load_average_after"] = os.getloadavg()
    main = result["by_size"][-1]["seconds"]
    result["speedup"] = main["one process"] / main["dask, shards on the workers"]
    result["correct"] = all(row["relative_error"] <= RTOL for row in result["by_size"])
    return result


def _seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} µs"


def markdown(result) -> str:
    size, main = result["size"], result["by_size"][-1]
    restart = result["restart"]
    lines = [f"### jitad.dask: logistic-regression gradient over {size['shards']} shards of "
             f"{size['rows']:,} x {size['d']}",
             "",
             f"LocalCluster of {result['workers']} worker processes x 1 thread (worker i pinned to "
             "CPU i), shards made on the workers, against one process (1 thread, pinned) summing "
             "the same shards; medians of interleaved rounds. Load average "
             f"{result['load_average_before'][0]:.1f} before, "
             f"{result['load_average_after'][0]:.1f} after (2 CPUs). At best, the 2 workers "
             "together did fixed work "
             + " and ".join(f"{result['ceiling_before'][kind]:.2f}x / "
                            f"{result['ceiling_after'][kind]:.2f}x ({kind}, before / after)"
                            for kind in ("compute", "memory"))
             + " as fast as one alone: the most any 2-process speedup could be at the time.",
             "",
             "| rows per shard | one process | dask, shards on the workers | speedup | "
             "of which the busiest worker computing | dask, NumPy shards sent (one call) | "
             "max relative error |",
             "|---|---|---|---|---|---|---|"]
    for row in result["by_size"]:
        one_s, dask_s = row["seconds"]["one process"], row["seconds"]["dask, shards on the workers"]
        lines.append(f"| {row['rows']:,} | {_seconds(one_s)} | {_seconds(dask_s)} | "
                     f"{one_s / dask_s:.3g}x | {_seconds(row['busiest_worker_compute_s'])} | "
                     f"{_seconds(row['numpy_shards_sent_s'])} | {row['relative_error']:.1e} |")
    paying = [row["rows"] for row in result["by_size"]
              if row["seconds"]["dask, shards on the workers"] < row["seconds"]["one process"]]
    lines += ["",
              f"Speedup at {size['rows']:,} rows per shard: **{result['speedup']:.2f}x** (goal "
              f"1.5x); every result within {result['rtol']:g} relative of one process: "
              f"{result['correct']}. "
              + (f"Dask pays from {min(paying):,} rows per shard; below that its round trip "
                 "(scheduler, tasks, reduction) costs more than the compute it spreads."
                 if paying else "Dask did not pay at any size here."),
              "",
              f"First calls: {_seconds(main['dask_first_call_s'])} for a new shape (the workers "
              "trace, and compile or load from the disk cache); after `client.restart()` (new "
              "worker processes, which import jitad and start numba) "
              f"{_seconds(restart['first_call_s'])}, the kernels loaded from jitad's disk cache "
              f"(the workers' build times, numba's start-up included: "
              f"{', '.join(_seconds(s) for s in restart['worker_compile_s'])}), and the next call "
              f"{_seconds(restart['second_call_s'])}."]
    return "\n".join(lines)


def main(argv=None):
    from .fairness import pin_threads_and_cpu
    pin_threads_and_cpu()
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    result = study(quick, lambda message: print(message, flush=True))
    print(markdown(result))


if __name__ == "__main__":
    main()
