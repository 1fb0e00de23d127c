"""``python -m benchmarks``: pin threads and the CPU first, then import the runtimes."""
from .fairness import pin_threads_and_cpu

FAIRNESS = pin_threads_and_cpu()  # before runner imports NumPy, and the peers numba, JAX, torch

from .runner import main  # noqa: E402 - must follow the pinning

if __name__ == "__main__":
    main(fairness=FAIRNESS)
