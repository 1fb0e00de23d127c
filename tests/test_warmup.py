"""numba's warm-up thread (jitad.backend.warmup): started by ``import jitad``
in interactive sessions or when forced, never in a plain script."""
import subprocess
import sys

from jitad.backend import warmup

CHECK = ("import jitad\nfrom jitad.backend import warmup\n"
         "t = warmup.thread\nprint('none' if t is None else t.name)\n"
         "t is not None and t.join()\n")


def _started(env_value, *flags):
    env = {"PATH": "/usr/bin:/bin", "JITAD_COMPILE": "sync"}
    if env_value is not None:
        env["JITAD_WARMUP"] = env_value
    out = subprocess.run([sys.executable, *flags, "-c", CHECK], capture_output=True, text=True,
                         env=env, timeout=300, input="")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_a_script_does_not_warm_up():
    assert _started(None) == "none"


def test_forced_and_disabled():
    assert _started("1") == "jitad-numba-warm-up"
    assert _started("0", "-i") == "none"


def test_an_interactive_session_warms_up():
    assert _started(None, "-i") == "jitad-numba-warm-up"


def test_the_warm_up_compiles_a_kernel():
    kernel = warmup.warm_up()
    assert len(kernel.signatures) == 1
    total, out = kernel(2.0, warmup.np.zeros(3))
    assert total == 3.0 and list(out) == [1.0, 1.0, 1.0]
