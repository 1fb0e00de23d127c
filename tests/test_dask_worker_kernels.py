"""jitad.dask's workers build serial kernels: Dask runs a task per worker
thread, and numba's pool in each worker process is as large as the machine,
so parallel kernels would oversubscribe the cores (workers x cores threads)."""
import numpy as np
import pytest

pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

import jitad.dask  # noqa: E402


def sse(w, X, y):
    return np.sum((X @ w - y) ** 2)


def test_the_worker_transform_is_serial_whatever_numba_s_thread_count():
    payload = cloudpickle.dumps(sse)
    loss, transform = jitad.dask._worker_transform("a-test-token", 0, payload)
    assert "parallel=False" in transform.cache.name
    X, y = np.arange(6.0).reshape(3, 2), np.ones(3)
    value, grad = transform(np.ones(2), X, y)
    np.testing.assert_allclose(grad, 2 * X.T @ (X @ np.ones(2) - y))
