"""Clocks: first calls, and warm calls timed in interleaved rounds.

A warm sample is the mean of ``loops`` back-to-back calls, with ``loops``
chosen so a sample lasts about ``target`` seconds (timer resolution and loop
overhead stay negligible). One round times every implementation once, in an
order rotated each round; the reported time is the median over rounds. So a
burst of load from elsewhere on the machine, or a CPU clock change, lands on
all peers alike instead of on whichever was timed during it. The garbage
collector is off while a sample runs, as in ``timeit``.
"""
import gc
import statistics
import time


def time_calls(fn, args, loops: int) -> float:
    """Seconds per call of ``fn(*args)``, averaged over ``loops`` calls."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(loops):
            fn(*args)
        return (time.perf_counter() - start) / loops
    finally:
        if collecting:
            gc.enable()


def first_call(fn, args):
    """(result, seconds) of one call: the first call of a fresh function."""
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def calibrate(fn, args, target: float) -> tuple[int, float]:
    """(calls per sample of about ``target`` seconds, seconds of one call); a
    call slower than ``target`` is not repeated to calibrate."""
    single = time_calls(fn, args, 1)
    if single < target:
        single = min(single, time_calls(fn, args, 1))
    return max(1, min(int(target / max(single, 1e-9)), 1_000_000)), single


def loops_for(fn, args, target: float) -> int:
    """How many calls make a sample of about ``target`` seconds."""
    return calibrate(fn, args, target)[0]


def interleaved_medians(timed, repeats: int, target: float,
                        seconds_each: float = float("inf")) -> dict:
    """``timed`` maps a name to (fn, args, scale); returns name -> per-round samples
    (seconds per call times ``scale``), measured in interleaved, rotated rounds.

    An implementation whose samples would take more than ``seconds_each`` over
    all rounds (a call of several seconds) takes part in the first rounds
    only, at least one: the interleaving holds for the rounds it is in."""
    names = list(timed)
    loops, rounds = {}, {}
    for name, (fn, args, _) in timed.items():
        loops[name], single = calibrate(fn, args, target)
        affordable = seconds_each / (loops[name] * single)
        rounds[name] = repeats if affordable >= repeats else max(1, int(affordable))
    samples = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            if round_index < rounds[name]:
                fn, args, scale = timed[name]
                samples[name].append(time_calls(fn, args, loops[name]) * scale)
    return samples


def median(samples) -> float:
    return statistics.median(samples)
