"""jitad's benchmark suite, the README's main command: ``python -m benchmarks``.

For a suite of loss functions (benchmarks/cases.py) it times jitad's gradient
against finite differences (jitad.fd: forward and central) and, where they are
installed, JAX, PyTorch and HIPS autograd (a missing peer is skipped with a
note), checks every derivative against the exact one, and writes results.json,
results.md, step_size.png and scaling.png to --out (default benchmarks/results/).

    python -m benchmarks                       # everything (about 10 minutes with all peers)
    python -m benchmarks --quick               # small sizes, few rounds: the smoke test
    python -m benchmarks --cases classic,rosenbrock --peers jitad,fd,jax --repeats 11

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
- Exact references. Errors are measured against a hand-derived or closed-form
  derivative, or the complex step where the code is analytic (cases.py says
  which per case); finite differences over huge inputs are sampled and their
  times extrapolated, marked ~ (fd_peer.py).
"""
