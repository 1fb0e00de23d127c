"""Gradients of a loss summed over data shards, computed on dask.distributed.

``jitad.dask.value_and_grad(loss)(params, shards)`` is the value and the
gradient with respect to ``params`` of

    total(params) = sum over k of loss(params, *shards[k])

where each shard is a tuple of arrays such as ``(X_k, y_k)``. Each shard's
term is computed by ``jitad.value_and_grad(loss)`` on the worker that holds
the shard, and the partial (value, gradient) pairs are added up on the
workers as a binary tree, so only the total comes back to the client. The
result is the single-machine ``jitad.value_and_grad`` of the summed loss, to
rounding. Install with ``pip install jitad[dask]``; ``import jitad`` never
imports dask.

A worked example, a logistic regression fitted by ``scipy.optimize.minimize``
over four shards held by the workers of a LocalCluster (started on the first
call with ``client=None``, reused, closed at exit). The shards are scattered
once, so each of the optimiser's calls sends only ``w``:

>>> import numpy as np, scipy.optimize, jitad.dask
>>> def nll(w, X, y):                      # a scalar loss of one shard
...     z = X @ w
...     return np.sum(np.logaddexp(0.0, z) - y * z)
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((4000, 5))
>>> y = (X @ [1.0, -2.0, 0.5, 0.0, 1.5] + rng.standard_normal(4000) > 0).astype(float)
>>> shards = jitad.dask.local_client().scatter([(X[i::4], y[i::4]) for i in range(4)])
>>> fit = scipy.optimize.minimize(jitad.dask.value_and_grad(nll), np.zeros(5),
...                               args=(shards,), jac=True, method="L-BFGS-B")
>>> whole = scipy.optimize.minimize(jitad.value_and_grad(nll), np.zeros(5),
...                                 args=(X, y), jac=True, method="L-BFGS-B")
>>> bool(fit.success), bool(np.allclose(fit.x, whole.x, rtol=1e-6))
(True, True)

How it works, and why:

- The loss is pickled once (cloudpickle); the SHA-256 of the pickle is its
  token. The pickle is scattered to every worker once per client and stays
  there. Each worker process unpickles it at its first task and keeps
  ``jitad.value_and_grad(loss, argnums)`` under the token, so it traces and
  compiles once per shape, and later tasks and later calls reuse the kernel.
  A restarted worker builds it again and loads the kernel from jitad's disk
  cache (``$JITAD_CACHE_DIR``, inherited by LocalCluster workers). The kernels
  are serial (``parallel=False``): Dask's parallelism is a task per worker
  thread, and numba's pool in every worker is as large as the machine. A
  worker's first task of a shape returns once the kernel is compiled, so no
  compile runs in the background beside later tasks.
- The partials are added on the workers, ``FAN_IN`` at a time, in shard order,
  so the rounding does not depend on where tasks ran; the whole call is one
  graph. An error of the loss on a shard is carried up that tree, and shards
  whose arrays differ are reported first (the usual cause of such an error).
- Shards given as NumPy arrays are scattered on every call; for repeated
  calls scatter them once (``client.scatter(shards)``, as above) and pass the
  futures. Dask arrays are split into one shard per row block; delayed
  objects and dask arrays are computed on the cluster on each call (persist
  them first to compute them once).
- Faults: when a worker dies, Dask runs its tasks again elsewhere. Data this
  process scattered (NumPy shards, the pickled loss) cannot be recomputed by
  Dask, so when it is lost the call scatters it again and runs again (up to
  ``ATTEMPTS`` times). Futures you scattered yourself are lost with their
  worker: that is an error that says so (``client.replicate`` keeps copies).
- The loss must be importable or picklable by value on the workers: a
  function defined in ``__main__`` or a notebook is sent by value; one from a
  module needs that module installed on the workers. A script that starts a
  LocalCluster needs ``if __name__ == "__main__":`` (worker processes are
  spawned and import the main module).
"""
from __future__ import annotations

import atexit
import functools
import hashlib
import logging
import threading
from typing import NamedTuple

import numpy as np

import jitad

ATTEMPTS = 3              # runs of one call when data this process scattered is lost
WORKER_TRANSFORMS_KEPT = 16  # losses whose transforms a worker process keeps
# Partials added per node of the reduction tree. Each level of the tree costs a
# round trip through the scheduler (measured here: 8 partials reduced 2-way, in 3
# levels, 111 ms; 4-way 90 ms; 8-way, one node, 56 ms), so the tree is wide.
FAN_IN = 8


def _require_distributed():
    try:
        import distributed
    except ImportError as err:
        raise ImportError("jitad.dask needs dask.distributed, which is not installed: "
                          "pip install jitad[dask]  (or: pip install 'dask[distributed]')") from err
    return distributed


# --------------------------------------------------------- the shard contract

class _Partial(NamedTuple):
    """The sum of the terms of some shards: what the reduction tree passes up."""

    value: object
    grad: object
    rows: int
    first: int           # the lowest shard index in the sum: errors name it
    signature: tuple     # (trailing shape, dtype) per array of that shard
    error: object = None  # what the loss raised on the first shard that failed


def _shard_signature(index, arrays):
    """(rows, signature) of one shard: ``arrays`` are NumPy or dask arrays.

    Raises if the shard is not a non-empty tuple of arrays that share their
    row count (their leading axis)."""
    if not isinstance(arrays, (tuple, list)) or not arrays:
        raise TypeError(f"shard {index} is a {type(arrays).__name__}; a shard must be a non-empty "
                        "tuple of arrays such as (X, y), passed to loss(params, *shard)")
    shapes = [tuple(np.shape(a)) for a in arrays]
    for j, shape in enumerate(shapes):
        if not shape:
            raise ValueError(f"shard {index}: array {j} has shape (); every array of a shard needs "
                             f"a leading row axis (shapes {shapes})")
    row_counts = {shape[0] for shape in shapes}
    if len(row_counts) > 1 and not any(r != r for r in row_counts):  # NaN: dask, unknown yet
        raise ValueError(f"shard {index}: its arrays have different row counts, shapes {shapes}; "
                         "X and y of a shard must have one row per example")
    signature = tuple((shape[1:], np.dtype(a.dtype).str) for shape, a in zip(shapes, arrays))
    return shapes[0][0], signature


def _describe(signature) -> str:
    """``(rows, 4) float64, (rows) float64``: a shard's arrays, whatever their rows."""
    return ", ".join("(" + ", ".join(["rows", *map(str, shape)]) + f") {np.dtype(dtype).name}"
                     for shape, dtype in signature)


def _check_same_arrays(first, first_signature, index, signature):
    if signature != first_signature:
        raise ValueError(f"shard {index} holds arrays {_describe(signature)} but shard {first} "
                         f"holds {_describe(first_signature)}: every shard must hold the same "
                         "arrays with the same trailing shapes and dtypes (only the row count "
                         "may differ)")


def _tree_map(fn, *trees):
    """``fn`` over the leaves of gradients shaped like jitad's (dicts, tuples, lists)."""
    head = trees[0]
    if isinstance(head, dict):
        return {key: _tree_map(fn, *(t[key] for t in trees)) for key in head}
    if isinstance(head, (tuple, list)):
        return type(head)(_tree_map(fn, *parts) for parts in zip(*trees))
    return fn(*trees)


# ------------------------------------------------- what runs on the workers

_WORKER_TRANSFORMS: dict = {}  # (token, argnums) -> (loss, its jitad.value_and_grad)
_WORKER_LOCK = threading.Lock()


def _worker_transform(token, argnums, payload):
    """This process's (loss, transform) for ``token``, built from ``payload`` once."""
    key = (token, argnums)
    with _WORKER_LOCK:
        found = _WORKER_TRANSFORMS.pop(key, None)
        if found is None:
            import cloudpickle
            loss = cloudpickle.loads(payload)
            # serial kernels: Dask runs a task per worker thread and starts a worker per
            # core or so, while numba's pool in each worker is as large as the machine;
            # parallel kernels would put workers x cores threads on the cores (Dask's
            # nanny sets OMP_NUM_THREADS=1 for the same reason)
            found = (loss, jitad.value_and_grad(loss, argnums, parallel=False))
        _WORKER_TRANSFORMS[key] = found  # most recently used last
        while len(_WORKER_TRANSFORMS) > WORKER_TRANSFORMS_KEPT:
            del _WORKER_TRANSFORMS[next(iter(_WORKER_TRANSFORMS))]
    return found


def _not_a_scalar_loss(loss, params, shard, index):
    """The contract's error if ``loss`` returns no scalar on this shard, else None."""
    try:
        out = loss(params, *shard)
    except Exception:  # the loss fails in plain NumPy too: jitad's own error says more
        return None
    if isinstance(out, (tuple, list, dict)):
        got = f"a {type(out).__name__}"
    elif np.shape(out) != ():
        got = f"an array of shape {np.shape(out)}"
    else:
        return None
    return TypeError(f"loss(params, *shard) returned {got} on shard {index}; jitad.dask takes a "
                     "scalar loss per shard and sums it over the shards: reduce inside the loss "
                     "(np.sum or np.mean)")


def _shard_partial(token, argnums, payload, params, shard, index, weighted):
    """One shard's term, on the worker that holds the shard.

    An error of the loss is carried up the tree, not raised here: a shard whose
    arrays differ from the others' makes the loss fail, and the reduction then
    says which shard differs and how, which says more than the loss's error."""
    rows, signature = _shard_signature(index, shard)
    loss, transform = _worker_transform(token, argnums, payload)
    try:
        value, grad = transform(params, *shard)
    except Exception as err:
        error = _not_a_scalar_loss(loss, params, shard, index) if isinstance(err, TypeError) \
            else None
        if error is None and type(err) in (TypeError, ValueError):
            error = type(err)(f"shard {index}: {err}")
        return _Partial(None, None, rows, index, signature, error or err)
    # the first task of a shape waits for its kernel (its result came from jitad's
    # interpreter): compiling in the background would share the worker's core with
    # the tasks that follow, which Dask schedules one per worker thread
    transform.cache.wait()
    if weighted:
        value, grad = value * rows, _tree_map(lambda g: g * rows, grad)
    return _Partial(value, grad, rows, index, signature)


def _combine(*partials):
    """The sum of some partials, left to right: one node of the reduction tree."""
    total = partials[0]
    for part in partials[1:]:
        _check_same_arrays(total.first, total.signature, part.first, part.signature)
    for part in partials[1:]:
        if total.error is not None or part.error is not None:
            total = total._replace(error=total.error if total.error is not None else part.error)
            continue
        total = _Partial(total.value + part.value,
                         _tree_map(lambda a, b: a + b, total.grad, part.grad),
                         total.rows + part.rows, total.first, total.signature)
    return total


def _cache_statistics(token, argnums):
    found = _WORKER_TRANSFORMS.get((token, argnums))
    if found is None:
        return None
    cache = found[1].cache
    return {"traces": cache.traces, "compiles": cache.compiles, "hits": cache.hits,
            "compile_seconds": cache.compile_seconds}


# ----------------------------------------------------- the client's side

_local = {"client": None}
# (client id, token) -> the future of a pickled loss on that client's workers: kept for
# the life of this process, so a transform made anew (inline in a loop) sends nothing
_scattered_losses: dict = {}
_local_lock = threading.Lock()


def local_client():
    """The ``distributed.Client`` of the LocalCluster used when ``client=None``.

    Started on first use: one worker process per CPU, one thread each, on
    127.0.0.1. Every later call in this process reuses it, and
    it is closed at exit. Use it to scatter shards once for repeated calls.

    >>> import jitad.dask
    >>> client = jitad.dask.local_client()
    >>> client is jitad.dask.local_client()
    True
    """
    distributed = _require_distributed()
    with _local_lock:
        client = _local["client"]
        if client is None or client.status not in ("running", "connecting", "newly-created"):
            import dask.system
            # a free port for the scheduler's web server (8787 may be another cluster's);
            # logs at ERROR only: INFO records written at exit, after streams closed, fail
            cluster = distributed.LocalCluster(
                n_workers=dask.system.CPU_COUNT, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
            client = _local["client"] = distributed.Client(cluster)
            atexit.register(_close, client)
        return client


def _close(client):
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


class _Slot:
    """One object a task reads: a NumPy value this process holds (``local``,
    scattered, and scattered again if lost), a future given by the user
    (``future``), or a dask collection (``collection``, computed on the cluster)."""

    def __init__(self, obj, future_type):
        import dask
        if isinstance(obj, future_type):
            self.kind, self.value, self.future = "future", obj, obj
        elif dask.is_dask_collection(obj):
            self.kind, self.value, self.future = "collection", obj, None
        else:
            self.kind, self.value, self.future = "local", obj, None

    def needs_placing(self):
        return self.future is None or self.future.status in ("cancelled", "lost", "error")


class _Placement:
    """Where each shard lives for one call; places it (again, after a loss)."""

    def __init__(self, shards):
        distributed = _require_distributed()
        import dask.array
        self.shards = []  # per shard: ("whole", slot) or ("tuple", [slot, ...])
        first = None
        for index, shard in enumerate(shards):
            if isinstance(shard, (tuple, list)):
                remote = [isinstance(a, distributed.Future) or dask.is_dask_collection(a)
                          for a in shard]
                if not any(remote):
                    shard = tuple(np.asarray(a) for a in shard)
                if not any(remote) or all(isinstance(a, dask.array.Array) for a in shard):
                    # shapes known here: fail before sending any data
                    _, signature = _shard_signature(index, shard)
                    first = first or (index, signature)
                    _check_same_arrays(*first, index, signature)
                if any(remote):
                    self.shards.append(("tuple", [_Slot(a if is_remote else np.asarray(a),
                                                        distributed.Future)
                                                  for a, is_remote in zip(shard, remote)]))
                else:
                    self.shards.append(("whole", _Slot(shard, distributed.Future)))
            elif isinstance(shard, distributed.Future) or dask.is_dask_collection(shard):
                self.shards.append(("whole", _Slot(shard, distributed.Future)))
            else:
                raise TypeError(f"shard {index} is a {type(shard).__name__}; a shard must be a "
                                "tuple of arrays such as (X, y), or a Future or dask.delayed "
                                "whose result is one")

    def slots(self):
        for index, (form, content) in enumerate(self.shards):
            for slot in ([content] if form == "whole" else content):
                yield index, slot

    def place(self, client):
        local = [slot for _, slot in self.slots() if slot.kind == "local" and slot.needs_placing()]
        if local:  # (scatter refuses an empty list)
            for slot, future in zip(local, client.scatter([s.value for s in local], hash=False)):
                slot.future = future
        pending = [slot for _, slot in self.slots()
                   if slot.kind == "collection" and slot.needs_placing()]
        if pending:
            for slot, future in zip(pending, client.compute([s.value for s in pending])):
                slot.future = future

    def arguments(self):
        """Per shard, what the task gets: a future of the tuple, or a tuple of futures."""
        return [content.future if form == "whole" else tuple(s.future for s in content)
                for form, content in self.shards]

    def lost_user_shards(self):
        return sorted({index for index, slot in self.slots()
                       if slot.kind == "future" and slot.needs_placing()})


def _row_blocks(arrays):
    """``(X, y)`` dask arrays -> one shard per row block of X (others rechunked to match)."""
    shapes = [tuple(a.shape) for a in arrays]
    if any(a.ndim == 0 for a in arrays):
        raise ValueError(f"dask array shards need a leading row axis; got shapes {shapes}")
    row_counts = {shape[0] for shape in shapes}
    if len(row_counts) > 1 and not any(r != r for r in row_counts):  # NaN: not known yet
        raise ValueError(f"the dask arrays have different row counts, shapes {shapes}; X and y "
                         "must have one row per example")
    row_chunks = arrays[0].chunks[0]
    blocks = [a.rechunk({0: row_chunks, **{axis: -1 for axis in range(1, a.ndim)}})
              .to_delayed().reshape(-1) for a in arrays]
    return [tuple(b[k] for b in blocks) for k in range(len(row_chunks))]


def _split(shards):
    """The list of shards: as given, or the row blocks of ``(X, y)`` dask arrays."""
    if not isinstance(shards, (tuple, list)):
        raise TypeError(f"shards is a {type(shards).__name__}; give a list of shards (tuples of "
                        "arrays such as (X, y), futures or delayed), or (X, y) as dask arrays "
                        "chunked by rows")
    if not shards:
        raise ValueError("shards is empty: give at least one shard")
    import dask.array
    is_dask_array = [isinstance(s, dask.array.Array) for s in shards]
    if all(is_dask_array):
        return _row_blocks(list(shards))
    if any(is_dask_array):
        raise TypeError("shards mixes dask arrays with other shards: give either (X, y) as dask "
                        "arrays chunked by rows (one shard per row block) or a list of shards")
    return list(shards)


def _client_of(shards, future_type):
    """The client of the first future among the shards, if any."""
    for shard in shards:
        for obj in (shard if isinstance(shard, (tuple, list)) else (shard,)):
            if isinstance(obj, future_type):
                return obj.client
    return None


def _tree_sum(partials):
    """The partials added up in a tree of ``FAN_IN``-way nodes, in a fixed order (so
    the rounding does not depend on where tasks ran): a delayed total."""
    import dask
    level = list(partials)
    while len(level) > 1:
        level = [dask.delayed(_combine, pure=False)(*level[i:i + FAN_IN])
                 for i in range(0, len(level), FAN_IN)]
    return level[0]


class _ShardedValueAndGrad:
    """The callable ``value_and_grad`` returns: see its docstring."""

    def __init__(self, loss, argnums, reduction):
        self.loss, self.argnums, self.reduction = loss, argnums, reduction
        self._payload = self._token = None
        functools.update_wrapper(self, loss)

    def _pickled(self):
        if self._payload is None:
            import cloudpickle
            self._payload = cloudpickle.dumps(self.loss)
            self._token = hashlib.sha256(self._payload).hexdigest()
        return self._payload, self._token

    def _payload_on(self, client):
        payload, token = self._pickled()
        future = _scattered_losses.get((client.id, token))
        if future is None or future.status != "finished":
            # hash=False: a key of its own, never released, so never caught by a release in flight
            future = client.scatter(payload, broadcast=True, hash=False)
            _scattered_losses[(client.id, token)] = future
        return future

    def __call__(self, params, shards, client=None):
        distributed = _require_distributed()
        import dask
        from distributed.client import FutureCancelledError
        shards = _split(shards)
        placement = _Placement(shards)
        client = client or _client_of(shards, distributed.Future) or local_client()
        _, token = self._pickled()
        for attempt in range(1, ATTEMPTS + 1):
            placement.place(client)
            payload = self._payload_on(client)
            # one graph, sent in one message: each task costs a scheduler round trip
            partials = [dask.delayed(_shard_partial, pure=False)(
                token, self.argnums, payload, params, shard, index, self.reduction == "mean")
                for index, shard in enumerate(placement.arguments())]
            try:
                total = client.compute(_tree_sum(partials)).result()
                break
            except FutureCancelledError as err:
                lost = placement.lost_user_shards()
                if lost:
                    raise RuntimeError(f"the data of shards {lost} was lost (with a worker, or "
                                       "released): futures you scattered cannot be recomputed; "
                                       "give NumPy arrays, dask arrays or delayed, or keep copies "
                                       "with client.replicate") from err
                if attempt == ATTEMPTS:
                    raise
        if total.error is not None:
            raise total.error
        if self.reduction == "mean":
            return total.value / total.rows, _tree_map(lambda g: g / total.rows, total.grad)
        return total.value, total.grad

    def worker_caches(self, client=None) -> dict:
        """{worker address: this loss's jitad cache counts there}, None where a
        worker has not built it yet: ``traces``, ``compiles``, ``hits`` and
        ``compile_seconds``, as in ``jitad.grad(f).cache``."""
        _, token = self._pickled()
        return (client or local_client()).run(_cache_statistics, token, self.argnums)


def value_and_grad(loss, argnums=0, *, reduction="sum"):
    """``h(params, shards, client=None) = (total, gradient of total in params)``.

    ``total`` is ``sum_k loss(params, *shards[k])`` with ``reduction="sum"``;
    with ``reduction="mean"`` each shard's term is weighted by its row count,
    ``sum_k n_k * loss(params, *shards[k]) / sum_k n_k``, so a loss that is a
    mean over its rows gives the mean over all rows of all shards.

    ``loss(params, *shard)`` must return a scalar. ``shards`` is a list of
    shards, each a tuple of arrays with one row per example (``(X_k, y_k)``),
    a ``distributed.Future`` or ``dask.delayed`` whose result is such a
    tuple, or a tuple of those; or ``(X, y)`` as dask arrays chunked by rows,
    one shard per row block. Every shard holds the same arrays with the same
    trailing shapes and dtypes; rows may differ. ``argnums`` selects
    ``params`` (0, or (0,) for a gradient in a 1-tuple): the shards' arrays
    differ per shard, so their gradients do not add up. The gradient has the
    structure of ``params`` (dicts, tuples, lists of arrays), as with
    ``jitad.grad``. ``client`` is a ``distributed.Client``; None takes the
    client of the shards' futures, else ``local_client()``.

    >>> import numpy as np, jitad.dask
    >>> def sse(w, X, y):
    ...     return np.sum((X @ w - y) ** 2)
    >>> X, y = np.arange(12.0).reshape(6, 2), np.ones(6)
    >>> value, g = jitad.dask.value_and_grad(sse)(np.ones(2), [(X[:4], y[:4]), (X[4:], y[4:])])
    >>> float(value), g
    (880.0, array([ 880., 1000.]))
    """
    _require_distributed()
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    single = isinstance(argnums, (int, np.integer))
    if (int(argnums) if single else tuple(argnums)) not in (0, (0,)):
        raise ValueError(f"argnums={argnums!r}: jitad.dask differentiates loss(params, *shard) "
                         "with respect to params only (argnums=0 or (0,)); the shards' arrays "
                         "differ per shard, so their gradients do not add up")
    argnums = 0 if single else (0,)
    return _ShardedValueAndGrad(loss, argnums, reduction)
