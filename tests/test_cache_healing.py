"""A disk cache that heals and cannot be tricked, in fresh processes: import
writes nothing; an unwritable cache compiles in memory with one warning; a
damaged kernel file or machine-code file is reported once, removed and
compiled again; a kernel file edited into other valid Python is never run.
"""
from __future__ import annotations

import glob
import json
import random
import os
import subprocess
import sys

import pytest

import jitad

CHILD = """
import json, warnings
import numpy as np
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import jitad
    g = jitad.grad(lambda x: np.sum(np.sin(x) * x))
    out = g(np.linspace(0.0, 1.0, 4))
kernel = next(iter(g.cache.entries.values()))[0].kernel
print(json.dumps({"grad": out.tolist(), "path": kernel.path,
                  "warnings": [str(w.message) for w in caught
                               if w.category.__name__ == "CacheWarning"]}))
"""
EXPECTED = [float(v) for v in
            (lambda x: __import__("numpy").sin(x) + x * __import__("numpy").cos(x))(
                __import__("numpy").linspace(0.0, 1.0, 4))]


def _env(**extra):
    root = os.path.dirname(os.path.dirname(jitad.__file__))
    env = dict(os.environ, PYTHONPATH=root, **extra)
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
    return env


def _run(env, code=CHILD) -> dict:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _check(result):
    assert result["grad"] == pytest.approx(EXPECTED, rel=1e-14)


def _files(folder) -> set:
    return {os.path.join(d, f) for d, _, files in os.walk(folder) for f in files}


def test_import_writes_nothing_and_an_unwritable_home_compiles_in_memory(tmp_path):
    """$HOME where nothing can be created (even by root: it is a file): import
    and the first gradient work, compile in memory and say so once, naming the
    directory; and no file appears in the package folder."""
    home = tmp_path / "home"
    home.write_text("a file, so nothing can be made below it")
    package = os.path.dirname(jitad.__file__)
    before = _files(package)
    result = _run(_env(HOME=str(home), JITAD_CACHE_DIR=None, XDG_CACHE_HOME=None,
                       PYTHONDONTWRITEBYTECODE="1"))
    _check(result)
    (warning,) = result["warnings"]
    assert str(home / ".cache" / "jitad") in warning and "in memory" in warning
    assert result["path"].startswith("<jitad kernel")
    assert _files(package) == before


def test_an_unwritable_cache_directory_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = _run(_env(JITAD_CACHE_DIR=str(blocker / "cache")))
    _check(result)
    assert len(result["warnings"]) == 1 and str(blocker) in result["warnings"][0]


def _corrupt(path, how):
    data = open(path, "rb").read()
    if how == "truncate":
        data = data[:len(data) // 2]
    elif how == "garbage":
        data = random.Random(0).randbytes(len(data))
    elif how == "zero":
        data = bytes(len(data))
    open(path, "wb").write(data)


@pytest.mark.parametrize("how", ["truncate", "garbage", "zero"])
@pytest.mark.parametrize("which", ["py", "nbi", "nbc"])
def test_a_damaged_entry_is_reported_removed_and_compiled_again(tmp_path, how, which):
    env = _env(JITAD_CACHE_DIR=str(tmp_path))
    first = _run(env)
    _check(first)
    assert first["warnings"] == []
    path = first["path"]
    targets = [path] if which == "py" else glob.glob(
        os.path.join(os.path.dirname(path), "__pycache__",
                     os.path.basename(path)[:-3] + f".*.{which}"))
    assert targets, f"no .{which} file beside {path}"
    for target in targets:
        _corrupt(target, how)
    healed = _run(env)
    _check(healed)
    # reported once with its path -- or, for machine code numba itself finds
    # unreadable, recompiled by numba without an error to report
    assert len(healed["warnings"]) <= 1
    assert all(path in w for w in healed["warnings"])
    if which == "py":
        assert len(healed["warnings"]) == 1
    again = _run(env)  # healed for good: nothing more to report
    _check(again)
    assert again["warnings"] == []


def test_a_kernel_edited_into_other_valid_python_is_never_run(tmp_path):
    env = _env(JITAD_CACHE_DIR=str(tmp_path))
    path = _run(env)["path"]
    text = open(path).read()
    edited = text.replace("return (", "return (2.0 * ", 1)
    assert edited != text
    open(path, "w").write(edited)
    result = _run(env)
    _check(result)
    assert "edited" in result["warnings"][0]
    assert open(path).read() == text


def test_clearing_the_cache(tmp_path):
    env = _env(JITAD_CACHE_DIR=str(tmp_path))
    _run(env)
    assert glob.glob(str(tmp_path / "**" / "k_*.py"), recursive=True)
    done = subprocess.run([sys.executable, "-m", "jitad.cache", "--clear"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "removed" in done.stdout
    assert not glob.glob(str(tmp_path / "**" / "k_*.py"), recursive=True)
    info = subprocess.run([sys.executable, "-m", "jitad.cache", "--info"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert str(tmp_path) in info.stdout and "kernels:  0" in info.stdout
