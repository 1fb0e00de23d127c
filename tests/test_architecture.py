"""The architecture as tests: every primitive is complete, every table agrees
with it, and the import graph of the package flows one way.

- Completeness: each primitive in ``PRIMITIVES`` has an impl, a shape rule,
  one tangent and one adjoint rule per input, a batching rule, a kind the
  backend can lower (and the lowering form that kind needs), an interpreter
  opcode when it is elementwise, and a ufunc entry when its block names one.
- No import cycle: an ``ast`` walk over ``jitad/`` (function-level imports
  included) finds the module graph acyclic.
- No unrolling: Jacobians and Hessians through every family keep a graph
  whose size does not grow with n.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import jitad
from jitad import primitives as P
from jitad import transforms
from jitad.backend.interpreter import opcodes
from jitad.backend.lowering import Accumulate, Elementwise, Indexed, Loop, Statement, lowering_of
from jitad.numpy_api import UFUNCS
from jitad.tracer import trace

PACKAGE = Path(jitad.__file__).resolve().parent


@pytest.mark.parametrize("prim", P.PRIMITIVES, ids=lambda p: f"{p.name}/{len(p.jvps)}")
def test_every_primitive_is_complete(prim):
    assert callable(prim.impl) and callable(prim.shape_rule)
    assert prim.kind in P.KINDS
    assert len(prim.jvps) == len(prim.vjps) >= 1
    assert all(rule is None or callable(rule) for rule in prim.jvps + prim.vjps)
    assert callable(prim.batch), f"{prim.name} has no batching rule"
    lowering = lowering_of(prim)
    if prim.forwards is not None:
        assert lowering is None and 0 <= prim.forwards < len(prim.jvps)
        return
    expected = {"elementwise": Elementwise, "reduction": (Accumulate, Statement),
                "structural": (Indexed, Statement), "linalg": Statement,
                "effect": Statement, "loop": Loop}[prim.kind]
    assert isinstance(lowering, expected), f"{prim.name}: a {prim.kind} primitive lowered as " \
                                           f"{type(lowering).__name__}"
    if prim.kind == "elementwise":
        stand_in = prim if lowering.interpret is None else None
        assert stand_in is None or stand_in in opcodes(), f"{prim.name} has no opcode"
    if isinstance(prim.numpy, np.ufunc):
        assert prim.numpy in UFUNCS, f"{prim.name} implements {prim.numpy} but is not dispatched"


def test_interpreter_stand_ins_have_opcodes():
    for prim in P.PRIMITIVES:
        lowering = lowering_of(prim)
        if isinstance(lowering, Elementwise) and lowering.interpret is not None:
            for dtype_or_n in (2, np.dtype(bool), np.dtype(np.int64), np.dtype(float)):
                try:
                    stand_in, _ = lowering.interpret(dtype_or_n)
                except TypeError:
                    continue
                assert stand_in is None or stand_in in opcodes()


# ------------------------------------------------------------- imports

def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set:
    """The jitad modules ``path`` imports anywhere in it (functions included)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("jitad"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("jitad"):
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                # `from . import tree` imports the module jitad.tree; any
                # other name (`from .. import __version__`) is the package's
                found.add(candidate if _is_module(candidate) else target)
    found.discard(module)
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def import_graph() -> dict:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None
    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_import_graph_has_no_cycle():
    """A package __init__ that re-exports its modules is not a cycle with
    them (importing a submodule runs its package first, but that is not an
    import the submodule makes); any other loop is."""
    graph = import_graph()
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_floors_import_nothing_of_jitad():
    graph = import_graph()
    for floor in ("jitad.errors", "jitad.version", "jitad.state", "jitad.tree"):
        assert graph[floor] == set(), floor
    assert graph["jitad.ir"] <= {"jitad.errors"}


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


# --------------------------------------------- graph size independent of n

FAMILIES = {
    "elementwise": lambda x: np.sin(x) * np.exp(-x * x) + np.maximum(x, 0.1),
    "reductions": lambda x: np.cumsum(x) ** 2 + np.cumprod(np.cos(x)) + np.max(x) * np.prod(x),
    "indexing": lambda x: x[1:] * x[:-1] + x[::-1][1:] + x[[0, 2, 2, 1]].sum(),
    "gather": lambda x: x[np.arange(x.shape[0]) % 3] * x,
    "concatenate": lambda x: np.concatenate([x[:2] * 2.0, np.sin(x[2:])]),
    "shape": lambda x: np.transpose(x.reshape(-1, 4) ** 2).ravel() + np.roll(x, 1),
    "linalg": lambda x: (np.outer(x[:4], x[:4]) + 4 * np.eye(4)) @ x[:4],
    "solve": lambda x: np.linalg.solve(np.outer(x[:3], x[:3]) + 3 * np.eye(3), x[3:6]),
    "inverse": lambda x: np.sum(np.linalg.inv(np.outer(x[:3], x[:3]) + 3 * np.eye(3))) * x,
    "determinants": lambda x: np.linalg.slogdet(np.outer(x[:3], x[:3]) + 3 * np.eye(3))[1] * x
    + np.linalg.det(np.diag(x[:3]) + 2 * np.eye(3)),
    "cholesky": lambda x: np.linalg.cholesky(np.outer(x[:3], x[:3]) + 3 * np.eye(3)).ravel(),
}


def _sizes(f, n):
    x = np.linspace(0.3, 1.1, n)
    graph = transforms.simplify(trace(f, (x,))[0])
    scalar = lambda x: np.sum(f(x) ** 2)  # noqa: E731
    grad_graph = transforms.simplify(trace(scalar, (x,))[0])
    hess = transforms.jacfwd_graph(transforms.vjp_graph(grad_graph, [0], seed=1.0), [0])
    return (len(transforms.jacrev_graph(graph, [0]).ops),
            len(transforms.jacfwd_graph(graph, [0]).ops), len(hess.ops))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_jacobian_and_hessian_graphs_do_not_grow_with_n(family):
    """A batching rule for every primitive: no op is unrolled per direction."""
    f = FAMILIES[family]
    assert _sizes(f, 100) == _sizes(f, 200)
