"""Peers return derivatives in their own containers and array types; compare them flat.

Leaves are ordered by container position and, for dicts, by sorted key (JAX
sorts dict keys, jitad and torch keep insertion order), so every peer's
derivative flattens to the same vector.
"""
import numpy as np


def leaves(tree) -> list:
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in leaves(tree[key])]
    if isinstance(tree, (tuple, list)):
        return [leaf for child in tree for leaf in leaves(child)]
    return [tree]


def flat(tree) -> np.ndarray:
    """All leaves of ``tree`` (NumPy values) as one float64 vector."""
    return np.concatenate([np.ravel(np.asarray(leaf, dtype=np.float64)) for leaf in leaves(tree)])


def unflatten_like(tree, vector):
    """``tree`` with its leaves replaced by consecutive pieces of ``vector`` (views)."""
    offset = 0

    def build(node):
        nonlocal offset
        if isinstance(node, dict):
            return {key: build(node[key]) for key in sorted(node)}
        if isinstance(node, (tuple, list)):
            return type(node)(build(child) for child in node)
        size = np.size(node)
        piece = vector[offset:offset + size]
        offset += size
        return piece.reshape(np.shape(node)) if isinstance(node, np.ndarray) else float(piece[0])
    return build(tree)


def relative_error(result, exact, coordinates=None) -> float:
    """max |result - exact| / max |exact|: normwise, so zero components of the
    exact derivative do not divide by zero. With ``coordinates``, ``result``
    holds only those entries of the flat derivative (sampled finite differences)."""
    exact = np.asarray(exact, dtype=np.float64)
    scale = np.max(np.abs(exact))
    if coordinates is not None:
        exact = exact[coordinates]
    error = np.max(np.abs(np.asarray(result, dtype=np.float64) - exact))
    return float(error / scale) if scale > 0 else float(error)


def to_numpy(tree, convert):
    """Apply ``convert`` to every leaf, keeping the containers."""
    if isinstance(tree, dict):
        return {key: to_numpy(value, convert) for key, value in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(to_numpy(child, convert) for child in tree)
    return convert(tree)
