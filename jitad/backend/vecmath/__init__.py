"""Vectorisable float64 math functions for numba kernels (provisional)."""
from .cbrt import cbrt
from .exp_log import exp, exp2, expm1, log, log1p, log2, log10, pow
from .hyperbolic import arccosh, arcsinh, arctanh, cosh, sinh, tanh
from .inverse_trig import arccos, arcsin, arctan, arctan2
from .trig import cos, sin, tan

FUNCTIONS = {"sin": sin, "cos": cos, "tan": tan, "exp": exp, "exp2": exp2, "expm1": expm1,
             "log": log, "log2": log2, "log10": log10, "log1p": log1p, "power": pow,
             "sinh": sinh, "cosh": cosh, "tanh": tanh, "arcsin": arcsin, "arccos": arccos,
             "arctan": arctan, "arctan2": arctan2, "arcsinh": arcsinh, "arccosh": arccosh,
             "arctanh": arctanh, "cbrt": cbrt}
