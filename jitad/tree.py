"""Flatten and unflatten nested tuples, lists and dicts of arguments.

A *treedef* is a hashable description of the containers, so it can be part of
a cache key; leaves are everything that is not a tuple, list or dict.

>>> leaves, treedef = flatten({"W": 1.0, "b": (2.0, 3.0)})
>>> leaves
[1.0, 2.0, 3.0]
>>> unflatten(treedef, [10.0, 20.0, 30.0])
{'W': 10.0, 'b': (20.0, 30.0)}
"""
from __future__ import annotations

LEAF = None


def flatten(tree) -> tuple[list, object]:
    """(leaves in order, hashable treedef)."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree, leaves):
    kind = type(tree)
    if kind is tuple or kind is list:
        return (kind, tuple(_flatten(t, leaves) for t in tree))
    if kind is dict:
        return (dict, tuple(tree), tuple(_flatten(t, leaves) for t in tree.values()))
    leaves.append(tree)
    return LEAF


def unflatten(treedef, leaves):
    """Rebuild the containers of ``treedef`` around ``leaves`` (any iterable)."""
    return _unflatten(treedef, iter(leaves))


def _unflatten(treedef, leaves):
    if treedef is LEAF:
        return next(leaves)
    if treedef[0] is dict:
        _, keys, children = treedef
        return {k: _unflatten(c, leaves) for k, c in zip(keys, children)}
    kind, children = treedef
    return kind(_unflatten(c, leaves) for c in children)


def leaf_count(treedef) -> int:
    if treedef is LEAF:
        return 1
    return sum(map(leaf_count, treedef[-1]))


def leaf_paths(treedef, prefix: str) -> list[str]:
    """Readable names of the leaves: ``params['W1']``, ``xs[0]``."""
    if treedef is LEAF:
        return [prefix]
    if treedef[0] is dict:
        _, keys, children = treedef
        return [p for k, c in zip(keys, children) for p in leaf_paths(c, f"{prefix}[{k!r}]")]
    return [p for i, c in enumerate(treedef[1]) for p in leaf_paths(c, f"{prefix}[{i}]")]
