"""jitad's benchmark suite, the README's main command: ``python -m benchmarks``.

For a suite of loss functions it times jitad's gradient against finite
differences (jitad.fd: forward and central), a hand-written numba gradient
(the ceiling: handwritten.py) and, where they are installed, JAX (also
``jax.lax.scan`` versions of the loops), PyTorch and HIPS autograd (a missing
peer is skipped with a note), checks every derivative against the exact one,
and writes results.json, results.md, step_size.png and scaling.png to --out
(default benchmarks/results/). results.md says what every column means.

The cases (suite.py): the first suite (cases.py: classic, Rosenbrock sizes,
network, logistic, softmax, 30-ufunc chain, scalar loop, Jacobians, Hessian);
kernel speed (kernel_cases.py: an elementwise-heavy loss at 10**6 and 10**7,
a Gaussian mixture); first calls (first_call_cases.py: a Gaussian-process
marginal likelihood, gradient and Hessian); loops (loop_cases.py,
recurrent_cases.py: RK4, Kalman, HMM, LSTM); scale (scale_cases.py:
per-example gradients, where jitad has vmap); benchmarks.adbench's cases
where installed. The studies (studies.py): trace length and guards, the
first gradient in a fresh process, threads (where jitad has parallel=), and
benchmarks.dask_scale's where installed.

    python -m benchmarks                       # everything
    python -m benchmarks --quick               # small sizes, few rounds: the smoke test
    python -m benchmarks --cases classic,rosenbrock --peers jitad,fd,jax --repeats 11
    python -m benchmarks --cases loops --budget 300   # a first call may take 5 minutes

How the comparison is kept fair
-------------------------------
- One thread for everyone. OMP_NUM_THREADS, MKL_NUM_THREADS,
  OPENBLAS_NUM_THREADS and NUMBA_NUM_THREADS are 1 and XLA_FLAGS has
  --xla_cpu_multi_thread_eigen=false, set before NumPy, numba, JAX or PyTorch
  is imported (these runtimes read them once, at load: see fairness.py);
  torch.set_num_threads(1).
- One CPU. The process is pinned to one CPU (os.sched_setaffinity) before any
  of those libraries starts a thread, so every thread they start inherits it.
- Same precision, same work. Every peer computes in float64 (JAX with
  jax_enable_x64). Each loss is written once with the NumPy API and run by
  jitad, finite differences, HIPS autograd and JAX (jax.numpy) from the same
  source text; the PyTorch version is written beside it (cases.py).
- Finished results. JAX runs with jax_cpu_enable_async_dispatch off, so a call
  returns a computed array (on a JAX without that option every result is
  block_until_ready). Inputs are converted to each peer's array type once,
  before timing; converting results back for the error check is not timed.
- Compiled where the peer compiles: jax.jit around jax.grad, jitad's kernels;
  PyTorch (torch.func) and HIPS autograd run eagerly, as they are used.
- Interleaved rounds and medians (timing.py): each round times every
  implementation once, in a rotated order, and the median over rounds is
  reported, so transient load on a shared machine hits all peers alike.
- Real first calls. Every first call is made on a fresh function object (each
  library caches per function). jitad's first call is measured with an empty
  kernel cache (JITAD_CACHE_DIR is a new temporary directory for the run) after
  numba's one-time process start-up has been paid by a throwaway function; it
  is measured once per case, since a second compile of the same kernel in the
  same process would find it on disk. The first call from the disk cache
  (trace + load, no compile) is then measured again on fresh function objects.
- One-time start-up of each library (JAX's backend, PyTorch's dispatcher) is
  paid before the first case and reported in results.json, not charged to a case.
- The hand-written numba ceiling uses jitad's float semantics:
  ``numba.njit(cache=False, error_model="numpy")``, no fastmath (jitad must be
  exact to rounding, so a fastmath ceiling would time a different, inexact
  computation); its first call is its compile, on a fresh dispatcher.
- Budgets, not hangs. Every peer's first call has ``--budget`` seconds
  (default 120) and a compiling peer's ``--memory-gb`` (default 6); over it,
  the row says "did not finish in 120 s" and the suite goes on. Compiling
  peers make that first call in a worker process with the same pinning and
  thread settings, and are built again in this process from their disk caches
  (jitad's kernel cache, JAX's persistent compilation cache, both fresh for
  the run) for the timed rounds (runner.py, isolation.py).
- Slow implementations (calls of seconds) take part in only as many of the
  first rounds as ``seconds_each`` allows, at least one; the note says so.
- One row is not pinned: the threads study (parallel_study.py) widens its
  child processes to every CPU, since it measures 1 against 2 threads.
- Exact references. Errors are measured against a hand-derived or closed-form
  derivative, or the complex step where the code is analytic (each case says
  which, in its exact_how); finite differences over huge inputs are sampled and their
  times extrapolated, marked ~ (fd_peer.py).
"""
