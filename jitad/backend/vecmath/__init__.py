"""Vectorisable float64 math functions for numba kernels (provisional)."""
from .exp_log import exp, exp2, expm1, log, log1p, log2, log10, pow

FUNCTIONS = {"exp": exp, "exp2": exp2, "expm1": expm1, "log": log, "log1p": log1p,
             "log2": log2, "log10": log10, "power": pow}
