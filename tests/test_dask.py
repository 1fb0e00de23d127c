"""jitad.dask.value_and_grad: a loss summed over shards, on dask.distributed.

The tests run on a LocalCluster of 2 worker processes with 1 thread each,
started here, so the kernels are built and loaded in other processes, and
compare with single-machine jitad on the concatenated data.
"""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")
import dask.array as da  # noqa: E402

import jitad  # noqa: E402
import jitad.dask  # noqa: E402

RTOL = 1e-12


def nll(w, X, y):
    z = X @ w
    return np.sum(np.logaddexp(0.0, z) - y * z)


def mean_nll(w, X, y):
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z)


def network(params, X, y):
    hidden = np.tanh(X @ params["layers"][0] + params["bias"])
    return np.sum((hidden @ params["layers"][1] - y) ** 2) * params["scale"]


def slow_to_trace(seconds):
    """A loss whose first call in each worker process takes ``seconds``: Python
    code in a loss runs at trace time only. Each ``seconds`` is a new loss."""
    def loss(w, X, y, seconds=seconds):  # a default: not a read jitad traces (time.sleep
        time.sleep(seconds)               # takes a real float, not a traced one)
        return nll(w, X, y)
    return loss


def per_row_losses(w, X, y):
    return np.logaddexp(0.0, X @ w) - y * (X @ w)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def data(rows=(200,) * 5, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((sum(rows), d))
    y = (rng.random(sum(rows)) < 0.5).astype(np.float64)
    edges = np.cumsum((0,) + tuple(rows))
    shards = [(X[a:b], y[a:b]) for a, b in zip(edges[:-1], edges[1:])]
    return rng.standard_normal(d), X, y, shards


def assert_close(got, expected):
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)


def test_numpy_shards_match_single_machine_and_each_worker_builds_the_kernel_once(client):
    w, X, y, shards = data()  # shards of one shape: one kernel (a kernel per shape)
    value0, grad0 = jitad.value_and_grad(nll)(w, X, y)
    h = jitad.dask.value_and_grad(nll)
    for _ in range(2):
        value, grad = h(w, shards, client=client)
        assert_close(value, value0)
        assert_close(grad, grad0)
        assert grad.shape == w.shape and grad.dtype == w.dtype
    caches = h.worker_caches(client)
    worker_pids = client.run(os.getpid)
    assert os.getpid() not in worker_pids.values()
    built = [stats for stats in caches.values() if stats is not None]
    assert built and all(stats["traces"] == 1 and stats["compiles"] == 1 for stats in built)
    assert sum(stats["hits"] for stats in built) == 2 * len(shards) - len(built)


def test_dict_params_keep_their_structure(client):
    rng = np.random.default_rng(1)
    params = {"layers": (rng.standard_normal((3, 5)), rng.standard_normal((5, 2))),
              "bias": rng.standard_normal(5), "scale": 0.5}
    X, y = rng.standard_normal((120, 3)), rng.standard_normal((120, 2))
    shards = [(X[:50], y[:50]), (X[50:90], y[50:90]), (X[90:], y[90:])]
    value0, grad0 = jitad.value_and_grad(network)(params, X, y)
    value, grad = jitad.dask.value_and_grad(network)(params, shards, client=client)
    assert_close(value, value0)
    assert set(grad) == {"layers", "bias", "scale"} and isinstance(grad["layers"], tuple)
    for got, expected in zip(grad["layers"], grad0["layers"]):
        assert_close(got, expected)
    assert_close(grad["bias"], grad0["bias"])
    assert type(grad["scale"]) is float
    assert_close(grad["scale"], grad0["scale"])


def test_mean_reduction_weights_shards_by_rows(client):
    w, X, y, shards = data(rows=(300, 200, 300, 200))
    value0, grad0 = jitad.value_and_grad(mean_nll)(w, X, y)
    value, grad = jitad.dask.value_and_grad(mean_nll, reduction="mean")(w, shards, client=client)
    assert_close(value, value0)
    assert_close(grad, grad0)


def test_dask_arrays_give_one_shard_per_row_block(client):
    w, X, y, _ = data()
    value0, grad0 = jitad.value_and_grad(nll)(w, X, y)
    dX = da.from_array(X, chunks=(300, 2))   # split columns too: rechunked to whole rows
    dy = da.from_array(y, chunks=400)         # other row blocks than X: rechunked to X's
    value, grad = jitad.dask.value_and_grad(nll)(w, (dX, dy), client=client)
    assert_close(value, value0)
    assert_close(grad, grad0)
    dX, dy = da.from_array(X, chunks=(250, 4)), da.from_array(y, chunks=250)
    keep = dX[:, 0] > 0  # row blocks whose sizes are known only once computed
    _, grad = jitad.dask.value_and_grad(nll)(w, (dX[keep], dy[keep]), client=client)
    assert_close(grad, jitad.grad(nll)(w, X[X[:, 0] > 0], y[X[:, 0] > 0]))


def test_futures_and_delayed_shards(client):
    w, X, y, shards = data()
    value0, grad0 = jitad.value_and_grad(nll)(w, X, y)
    h = jitad.dask.value_and_grad(nll, argnums=(0,))
    futures = client.scatter(shards, hash=False)
    value, (grad,) = h(w, futures)  # no client: the futures' own
    assert_close(value, value0)
    assert_close(grad, grad0)
    delayed = [dask.delayed(lambda k: shards[k])(k) for k in range(len(shards))]
    value, (grad,) = h(w, delayed, client=client)
    assert_close(grad, grad0)
    # a shard of a future and an array
    mixed = [(client.scatter(Xk, hash=False), yk) for Xk, yk in shards]
    value, (grad,) = h(w, mixed, client=client)
    assert_close(grad, grad0)


def test_shards_whose_trailing_shapes_disagree(client):
    w, X, y, shards = data()
    shards[3] = (shards[3][0][:, :3], shards[3][1])
    h = jitad.dask.value_and_grad(nll)
    with pytest.raises(ValueError, match=r"shard 3 holds arrays \(rows, 3\) float64, \(rows\) "
                                         r"float64 but shard 0 holds \(rows, 4\) float64"):
        h(w, shards, client=client)  # NumPy shards: found before any data is sent
    with pytest.raises(ValueError, match=r"shard 3 holds arrays \(rows, 3\) float64"):
        h(w, client.scatter(shards, hash=False), client=client)  # futures: found on the workers
    shards[3] = (shards[3][0][:, :3].astype(np.float32), shards[3][1])
    with pytest.raises(ValueError, match=r"shard 3 holds arrays \(rows, 3\) float32"):
        h(w, shards, client=client)


def test_x_and_y_row_counts_that_differ(client):
    w, X, y, shards = data()
    shards[1] = (shards[1][0], shards[1][1][:-1])
    h = jitad.dask.value_and_grad(nll)
    with pytest.raises(ValueError, match=r"shard 1: its arrays have different row counts, "
                                         r"shapes \[\(200, 4\), \(199,\)\]"):
        h(w, shards, client=client)
    with pytest.raises(ValueError, match=r"shard 1: its arrays have different row counts"):
        h(w, client.scatter(shards, hash=False), client=client)
    with pytest.raises(ValueError, match=r"different row counts, shapes \[\(1000, 4\), \(999,\)\]"):
        h(w, (da.from_array(X), da.from_array(y[:-1])), client=client)


def test_a_loss_that_is_not_a_scalar(client):
    w, X, y, shards = data()
    with pytest.raises(TypeError, match=r"returned an array of shape \(200,\) on shard \d; "
                                        r"jitad.dask takes a scalar loss per shard"):
        jitad.dask.value_and_grad(per_row_losses)(w, shards, client=client)


def test_arguments_that_break_the_contract(client):
    w, X, y, shards = data()
    with pytest.raises(ValueError, match="argnums=1: jitad.dask differentiates"):
        jitad.dask.value_and_grad(nll, argnums=1)
    with pytest.raises(ValueError, match="reduction must be 'sum' or 'mean'"):
        jitad.dask.value_and_grad(nll, reduction="max")
    h = jitad.dask.value_and_grad(nll)
    with pytest.raises(ValueError, match="shards is empty"):
        h(w, [], client=client)
    with pytest.raises(TypeError, match="shard 1 is a ndarray; a shard must be a tuple"):
        h(w, [shards[0], X], client=client)
    with pytest.raises(TypeError, match="shards mixes dask arrays with other shards"):
        h(w, [da.from_array(X), y], client=client)


def kill_a_worker_while(client, call):
    """Run ``call()`` in a thread, SIGKILL the worker process running one of its
    tasks while it runs, and return what the call returned or raised."""
    pids = client.run(os.getpid)
    result = {}

    def run():
        try:
            result["returned"] = call()
        except Exception as error:  # handed to the test
            result["raised"] = error
    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not any(client.processing().values()):
        assert time.monotonic() < deadline, "no task started"
        time.sleep(0.02)
    time.sleep(0.3)  # inside the task (the slow trace), not at its start
    victim = next(address for address, tasks in client.processing().items() if tasks)
    assert thread.is_alive(), "the call ended before a worker could be killed"
    os.kill(pids[victim], signal.SIGKILL)
    thread.join(120)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it, for later tests
    assert pids[victim] not in client.run(os.getpid).values()
    return result


def test_a_worker_killed_mid_gradient_loses_nothing(client):
    w, X, y, shards = data(seed=2)
    value0, grad0 = jitad.value_and_grad(nll)(w, X, y)
    h = jitad.dask.value_and_grad(slow_to_trace(1.5))
    outcome = kill_a_worker_while(client, lambda: h(w, shards, client=client))
    value, grad = outcome["returned"]  # the shards it held are scattered again
    assert_close(value, value0)
    assert_close(grad, grad0)


def test_futures_lost_with_a_killed_worker_are_an_error_that_says_so(client):
    w, X, y, shards = data(seed=3)
    h = jitad.dask.value_and_grad(slow_to_trace(1.6))
    futures = client.scatter(shards, hash=False)
    outcome = kill_a_worker_while(client, lambda: h(w, futures, client=client))
    assert isinstance(outcome.get("raised"), RuntimeError), outcome
    assert "was lost (with a worker, or released): futures you scattered cannot be" \
        in str(outcome["raised"])


def test_default_client_is_a_local_cluster_of_processes_reused():
    client = jitad.dask.local_client()
    assert client is jitad.dask.local_client()
    assert set(client.nthreads().values()) == {1}
    assert os.getpid() not in client.run(os.getpid).values()
    w, X, y, shards = data()
    value, grad = jitad.dask.value_and_grad(nll)(w, shards)
    assert_close(grad, jitad.grad(nll)(w, X, y))


# A process where dask cannot be imported: ``import jitad`` and ``import jitad.dask``
# import no dask, and using it says what to install.
WITHOUT_DASK = """
import sys
import jitad, jitad.dask
assert not {"dask", "distributed"} & set(sys.modules), sorted(sys.modules)
sys.modules["dask"] = sys.modules["distributed"] = None  # import now raises ImportError
try:
    jitad.dask.value_and_grad(lambda w, X: (X @ w).sum())
except ImportError as error:
    print(error)
"""


def test_jitad_imports_no_dask_and_without_dask_the_error_says_what_to_install():
    root = os.path.dirname(os.path.dirname(jitad.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (root,
                                                                   os.environ.get("PYTHONPATH")))))
    done = subprocess.run([sys.executable, "-c", WITHOUT_DASK], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "jitad.dask needs dask.distributed, which is not installed: pip install jitad[dask]" \
        in done.stdout
