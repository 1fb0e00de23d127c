"""Graph -> Python source -> numba kernel; and the NumPy reference interpreter."""
