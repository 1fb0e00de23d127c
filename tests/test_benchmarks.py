"""The benchmark suite's quick mode, end to end, as the README runs it: a
subprocess ``python -m benchmarks --quick`` that must write its files. Only
jitad and finite differences are asked for, so the test needs no optional
peer; a peer that is not installed is reported, not an error."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, "-m", "benchmarks", "--quick", "--peers", "jitad,fd,nonexistent"]
    rejected = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    command[-1] = "jitad,fd"
    command += ["--cases", "classic,rosenbrock,scalar-loop,jacobian,trace-length", "--out", str(out)]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    return rejected, finished, out


def test_unknown_peer_is_a_usage_error(quick_run):
    rejected, _, _ = quick_run
    assert rejected.returncode == 2
    assert "unknown peer(s) nonexistent" in rejected.stderr


def test_quick_mode_writes_results_and_plots(quick_run):
    _, finished, out = quick_run
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert {"results.json", "results.md", "step_size.png", "scaling.png"} <= set(os.listdir(out))
    assert "[1/" in finished.stdout  # progress while it runs


def test_results_hold_exact_jitad_and_inexact_differences(quick_run):
    _, _, out = quick_run
    document = json.loads((out / "results.json").read_text())
    names = [case["name"] for case in document["cases"]]
    assert names[0] == "classic" and "rosenbrock-1000" in names and "scalar-loop" in names
    for case in document["cases"]:
        rows = {row["peer"]: row for row in case["rows"]}
        assert rows["jitad"]["max_rel_error"] < 1e-13, case["name"]
        assert rows["jitad"]["warm_s"] > 0 and case["jitad"]["first_call_cold_s"] > 0
        if case["kind"] == "grad" and case["name"] != "scalar-loop":
            # central differences: about eps**(2/3) relative, never exact
            assert 1e-14 < rows["fd-central"]["max_rel_error"] < 1e-6, case["name"]
        assert case["break_even_calls"] is not None
    study = document["trace_length"]
    assert {row["backend"] for row in study["loop"]} == {"compiled", "interpreter"}
    assert study["guards"]["guard_ops_in_kernel"] == study["guards"]["guards"]
    errors = document["step_size_study"]["errors"]["central"]
    assert min(e for e in errors if e is not None) < 1e-9  # the bottom of the V


def test_markdown_report_has_every_table(quick_run):
    _, _, out = quick_run
    text = (out / "results.md").read_text()
    for heading in ("## Summary", "## Every peer", "## Trace length and guards", "## Plots"):
        assert heading in text
    assert "| classic | jitad |" in text
