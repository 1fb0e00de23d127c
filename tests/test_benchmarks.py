"""The benchmark suite's quick mode, in pieces.

End to end as the README runs it: subprocesses ``python -m benchmarks
--quick`` that must write their files, with only the peers that are always
installed (jitad, finite differences, the hand-written numba gradients), so
no optional peer is needed; a budget run that must report the builds it
stopped and still finish. In-process: every quick case's exact derivative
against finite differences (the references are hand-derived or the complex
step, and a slip there would make every peer look wrong), and every
hand-written numba kernel against the exact derivative.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import jitad
from benchmarks import handwritten, isolation, parallel_study, scale_cases, suite
from benchmarks.runner import SETTINGS
from benchmarks.trees import flat, relative_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK_CASES = suite.all_cases(quick=True)[0]


def run_benchmarks(out, *options, timeout=1500):
    command = [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), *options]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    rejected = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--peers",
                               "jitad,fd,nonexistent"], cwd=ROOT, capture_output=True, text=True)
    finished = run_benchmarks(out, "--peers", "jitad,fd,numba", "--cases",
                              "classic,rosenbrock,scalar-loop,jacobian,trace-length")
    return rejected, finished, out


@pytest.fixture(scope="module")
def new_cases_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-new")
    finished = run_benchmarks(out, "--peers", "jitad,fd,numba", "--cases",
                              "heavy,gmm,rk4-stack,fresh-process")
    return finished, out


def test_unknown_peer_is_a_usage_error(quick_run):
    rejected, _, _ = quick_run
    assert rejected.returncode == 2
    assert "unknown peer(s) nonexistent" in rejected.stderr


def test_quick_mode_writes_results_and_plots(quick_run):
    _, finished, out = quick_run
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert {"results.json", "results.md", "step_size.png", "scaling.png"} <= set(os.listdir(out))
    assert "[1/" in finished.stdout  # progress while it runs


def _rows(case):
    return {row["peer"]: row for row in case["rows"]}


def test_results_hold_exact_jitad_and_hand_gradients_and_inexact_differences(quick_run):
    _, _, out = quick_run
    document = json.loads((out / "results.json").read_text())
    names = [case["name"] for case in document["cases"]]
    assert names[0] == "classic" and "rosenbrock-1000" in names and "scalar-loop" in names
    for case in document["cases"]:
        rows = _rows(case)
        assert rows["jitad"]["max_rel_error"] < 1e-13, case["name"]
        assert rows["numba-hand"]["max_rel_error"] < 1e-12, case["name"]
        assert rows["jitad"]["warm_s"] > 0 and case["jitad"]["first_call_cold_s"] > 0
        # the cold first call was made in the worker, the timed one loaded from disk
        assert rows["jitad"]["first_call_in_this_process_s"] > 0
        if case["kind"] == "grad" and case["name"] != "scalar-loop":
            # central differences: about eps**(2/3) relative, never exact
            assert 1e-14 < rows["fd-central"]["max_rel_error"] < 1e-6, case["name"]
        assert case["break_even_calls"] is not None
        assert case["jitad_over"]["numba-hand"] > 0
    study = document["studies"]["trace-length"]
    assert {row["backend"] for row in study["loop"]} == {"re-rolled loop", "compiled",
                                                         "interpreter"}
    # one guard a step, in each scan the gradient runs (forward and reverse)
    guards = study["guards"]
    checked = guards["guard_ops_in_kernel"]
    assert checked > 0 and checked % guards["guards"] == 0
    errors = document["step_size_study"]["errors"]["central"]
    assert min(e for e in errors if e is not None) < 1e-9  # the bottom of the V


def test_markdown_report_has_every_table_and_explains_the_columns(quick_run):
    _, _, out = quick_run
    text = (out / "results.md").read_text()
    for heading in ("## How to read the tables", "## Summary", "## Every peer",
                    "## Trace length and guards", "## Plots"):
        assert heading in text
    for column in ("jitad / JAX", "jitad / numba-hand"):
        assert f"| {column} |" in text and f"**{column}**" in text
    assert "| classic | jitad |" in text and "| classic | numba-hand |" in text


def test_new_cases_run_exact_with_a_fresh_process_row(new_cases_run):
    finished, out = new_cases_run
    assert finished.returncode == 0, finished.stderr[-3000:]
    document = json.loads((out / "results.json").read_text())
    names = {case["name"] for case in document["cases"]}
    assert {"heavy-1000", "heavy-10000", "gmm", "rk4-stack"} <= names
    for case in document["cases"]:
        rows = _rows(case)
        for peer in ("jitad", "numba-hand"):
            assert rows[peer]["max_rel_error"] < 1e-12, (case["name"], peer)
    fresh = document["studies"]["fresh-process"]
    assert fresh["peers"]["jitad"]["max_rel_error"] < 1e-15
    assert fresh["peers"]["jitad"]["warm"]["seconds"] > 0
    assert fresh["checks"]["jitad_cache_files_written_by_warm_runs"] == 0  # loaded from disk
    assert "## First gradient in a fresh process" in (out / "results.md").read_text()


def test_budgets_stop_a_build_and_the_suite_goes_on(tmp_path):
    slow = run_benchmarks(tmp_path / "time", "--peers", "jitad,fd", "--cases", "kalman",
                          "--budget", "2")
    assert slow.returncode == 0, slow.stderr[-3000:]
    rows = _rows(json.loads((tmp_path / "time" / "results.json").read_text())["cases"][0])
    assert rows["jitad"]["unfinished"] == "did not finish in 2 s"
    assert rows["fd-central"]["max_rel_error"] < 1e-6  # the other peers still ran
    big = run_benchmarks(tmp_path / "memory", "--peers", "jitad", "--cases", "classic",
                         "--memory-gb", "0.01")
    assert big.returncode == 0, big.stderr[-3000:]
    rows = _rows(json.loads((tmp_path / "memory" / "results.json").read_text())["cases"][0])
    assert rows["jitad"]["unfinished"] == "exceeded the 0.01 GB memory budget"
    assert "| kalman | jitad | – | – | did not finish in 2 s |" in \
        (tmp_path / "time" / "results.md").read_text()


def test_deadline_interrupts_an_eager_build_even_if_it_swallows_the_first_alarm():
    with pytest.raises(isolation.DidNotFinish, match="did not finish in 0.2 s"):
        with isolation.deadline(0.2):
            time.sleep(5)
    swallowed = []
    with pytest.raises(isolation.DidNotFinish):
        with isolation.deadline(0.2):
            try:
                time.sleep(5)
            except isolation.DidNotFinish:  # as a GC callback would: lost
                swallowed.append(True)
            time.sleep(5)  # the repeated alarm ends this one
    assert swallowed == [True]


# Central differences cannot resolve these derivatives (round-off of f swamps them);
# jitad.fd's complex step, one coordinate at a time, checks the references' code instead.
BELOW_ROUND_OFF = {"scalar-loop", "chain"}


@pytest.mark.parametrize("case", QUICK_CASES, ids=lambda case: case.name)
def test_exact_references_agree_with_finite_differences(case):
    args = case.make_args()
    method = "complex" if case.name in BELOW_ROUND_OFF else "central"
    if case.kind == "hessian":
        approximate = jitad.fd.jacobian(case.gradient, *args, method=method)
    elif case.kind == "jacobian":
        approximate = jitad.fd.jacobian(case.loss(np), *args, argnums=case.argnums,
                                        method=method)
    elif case.kind == "per-example":  # the batch loss is the sum of the examples' losses
        approximate = jitad.fd.grad(case.loss(np), *args, argnums=case.argnums, method=method)
        summed = {name: block.sum(axis=0) for name, block in case.exact(*args).items()}
        assert relative_error(flat(approximate), flat(summed)) < 1e-6
        return
    else:
        approximate = jitad.fd.grad(case.loss(np), *args, argnums=case.argnums, method=method)
    assert relative_error(flat(approximate), flat(case.exact(*args))) < 1e-6


@pytest.mark.parametrize("case", [c for c in QUICK_CASES
                                  if (handwritten.loss_key(c.loss), c.kind)
                                  in handwritten.HANDWRITTEN], ids=lambda case: case.name)
def test_hand_written_kernels_are_exact(case):
    peer = handwritten.NumbaHandPeer()
    peer.setup()
    args = case.make_args()
    variant = peer.build(case, args, None, "numba-hand")
    assert relative_error(flat(variant.result), flat(case.exact(*args))) < 1e-12


def test_every_new_case_has_a_hand_written_kernel():
    handwritten.NumbaHandPeer().setup()  # registers the kernels of every module
    without = [case.name for case in QUICK_CASES if case.group != suite.ADBENCH_GROUP
               and (handwritten.loss_key(case.loss), case.kind) not in handwritten.HANDWRITTEN]
    assert without == []


def test_lstm_reference_is_the_complex_step_derivative():
    """BPTT by hand (the LSTM's exact derivative) against the complex step along a
    random direction: the one reference that is not itself a complex step or closed form."""
    (case,) = [c for c in QUICK_CASES if c.name == "lstm"]
    params, *data = case.make_args()
    direction = {name: np.random.default_rng(1).standard_normal(value.shape)
                 for name, value in params.items()}
    shifted = {name: value + 1e-20j * direction[name] for name, value in params.items()}
    along = case.loss(np)(shifted, *data).imag / 1e-20
    exact = case.exact(params, *data)
    assert abs(sum(np.sum(exact[name] * direction[name]) for name in params) - along) \
        < 1e-13 * abs(along)


def test_scale_section_runs_or_says_what_jitad_lacks():
    """The per-example case and the threads study exist exactly where jitad has
    vmap and parallel=; otherwise their notes name the missing feature."""
    found, notes = suite.all_cases(quick=True)
    if scale_cases.missing():
        assert "jitad has no vmap" in " ".join(notes)
        assert not [case for case in found if case.group == "scale"]
    else:
        assert [case.name for case in found if case.group == "scale"] == ["per-example"]
    if parallel_study.missing():
        assert "parallel=" in parallel_study.missing()
    else:
        result = parallel_study.study(True, SETTINGS["quick"], lambda message: None)
        assert [row["threads"] for row in result["rows"]] == [1, 2]
        assert all(row["max_rel_error"] < 1e-13 for row in result["rows"])


def test_selection_by_name_prefix_and_group():
    names = {case.name for case in suite.select(QUICK_CASES, ["loops"])}
    assert {"rk4-2", "rk4-4", "rk4-stack", "kalman", "hmm", "lstm"} == names
    assert {case.name for case in suite.select(QUICK_CASES, ["heavy"])} == {"heavy-1000",
                                                                           "heavy-10000"}
    with pytest.raises(SystemExit, match="unknown case"):
        suite.select(QUICK_CASES, ["no-such-case"])
