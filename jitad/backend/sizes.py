"""Kernels that do not depend on sizes: one compile serves every size.

A function called at a new size is traced again (cheap), and its kernel
source is the same as at the first size except for the numbers that come
from sizes: loop bounds, slice ends, allocation shapes, the ``1/n`` of a
mean. ``kernel_for`` keeps, per *family* of sources that are equal but for
their number literals (per function: each cache has its families), the
literals of the first one seen:

- the first size gets a kernel of its own, its sizes constants of the
  source (what LLVM specialises best: small fixed shapes unroll);
- a later size whose source differs from the first only in numbers gets
  the family's *size-generic* kernel: the first source with each number
  that differs replaced by a parameter ``size_<k>`` of ``kernel``,
  compiled once (and cached on disk as any kernel), called with this
  source's numbers. Every later size whose numbers differ only there is
  served by that kernel without compiling; one whose numbers differ
  elsewhere too widens the parameters once more.

Reuse is exact by construction: the generic kernel with this source's
numbers substituted is this source, token for token. A number in a loop
body (``@_body_jit``) or a complex literal keeps the source specialised.

>>> src = lambda n: f"def kernel(v_0):\\n    return (np.sum(v_0[1:{n}]) * {1 / n!r},)\\n"
>>> families = {}
>>> a, b = kernel_for(src(4), (), families), kernel_for(src(8), (), families)
>>> b.generic, b.sizes
(True, (8, 0.125))
>>> kernel_for(src(16), (), families).reused
True
>>> b.source.splitlines()[1]
'def kernel(v_0, size_0, size_1):'
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import threading
import tokenize

from .compile import Kernel, compile_kernel

_INT64_MAX = (1 << 63) - 1


@dataclasses.dataclass
class _Family:
    first: tuple        # the first source's number literals, as text
    # the positions each parameter of ``generic`` stands for (numbers that
    # were equal to each other at both sizes that built it share one)
    groups: tuple = ()
    generic: Kernel | None = None
    modes: tuple = ()   # the first source's vector mode per fused loop (codegen)


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)  # a new size's source: has_family, then kernel_for
def _numbers(source: str):
    """(hash of the source without its numbers and comments, the number
    tokens: (text, start, end) in order, the row of ``def kernel``)."""
    skeleton, numbers, kernel_row = [], [], None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            continue
        if token.type == tokenize.NAME and token.string == "kernel" and skeleton[-1:] == ["def"]:
            kernel_row = token.start[0]
        if token.type == tokenize.NUMBER:
            numbers.append((token.string, token.start, token.end))
            skeleton.append("#")
        else:
            skeleton.append(token.string)
    digest = hashlib.sha256("\x00".join(skeleton).encode()).hexdigest()
    return digest, tuple(numbers), kernel_row


def _value(text: str):
    """A literal's value, or None where it cannot be a parameter."""
    if text[-1] in "jJ":
        return None
    value = int(text, 0) if text.isdigit() or text[:2].lower() in ("0x", "0o", "0b") \
        else float(text)
    if isinstance(value, int) and value > _INT64_MAX:
        return None
    return value


def _template(source: str, numbers, groups) -> str:
    """``source`` with the numbers of each group replaced by ``size_<k>``,
    which become trailing parameters of ``kernel``."""
    lines = source.splitlines(keepends=True)
    name = {position: k for k, group in enumerate(groups) for position in group}
    for position in sorted(name, reverse=True):
        _, (row, col), (_, end) = numbers[position]
        line = lines[row - 1]
        lines[row - 1] = f"{line[:col]}size_{name[position]}{line[end:]}"
    names = ", ".join(f"size_{k}" for k in range(len(groups)))
    for i, line in enumerate(lines):
        if line.startswith("def kernel("):
            head = line.rstrip()[:-2]  # without "):"
            lines[i] = f"{head}{', ' if not head.endswith('(') else ''}{names}):\n"
            lines.insert(i, f"# size-generic: {names} are passed at run time (the comments "
                            "show the sizes of the trace that built it)\n")
            break
    return "".join(lines)


def _groups(first, texts, positions) -> tuple:
    """The positions grouped by their (first, this) pair of numbers."""
    pairs: dict = {}
    for k in sorted(positions):
        pairs.setdefault((first[k], texts[k]), []).append(k)
    return tuple(tuple(group) for group in pairs.values())


def other_modes(source: str, modes: tuple, families) -> list:
    """The loop modes of the earlier families that ``source`` (whose loops
    got ``modes``) might join if written with theirs instead: a loop whose
    size crossed ``codegen.VECTOR_ABOVE`` changed its functions, and so its
    source's family. Empty when ``source`` already has a family."""
    if not families or has_family(source, families):
        return []
    wanted = {family.modes for family in families.values()}
    return [m for m in wanted if len(m) == len(modes) and m != modes]


def has_family(source: str, families) -> bool:
    """Whether ``source`` is one of ``families`` but for its numbers."""
    return _numbers(source)[0] in families


def kernel_for(source: str, consts=(), families=None, modes=()) -> Kernel:
    """The kernel for ``source``: its own (the first of its family in
    ``families``, a dict the caller keeps, or one
    that cannot be generic) or its family's size-generic kernel, bound to
    this source's numbers (``kernel.generic``; ``kernel.reused``: that
    kernel was there before, so this size compiles nothing). ``modes``: the
    vector mode of each of its fused loops, kept for ``other_modes``."""
    if families is None:
        return compile_kernel(source, consts)
    digest, numbers, kernel_row = _numbers(source)
    texts = tuple(text for text, _, _ in numbers)
    with _LOCK:
        family = families.get(digest)
        if family is None:
            families[digest] = _Family(texts, modes=tuple(modes))
            return compile_kernel(source, consts)
        differing = {k for k, (a, b) in enumerate(zip(family.first, texts)) if a != b}
        if not differing or kernel_row is None or any(
                numbers[k][1][0] <= kernel_row or _value(texts[k]) is None
                or type(_value(family.first[k])) is not type(_value(texts[k]))
                for k in differing):
            return compile_kernel(source, consts)
        covered = {k for group in family.groups for k in group}
        fits = family.generic is not None and differing <= covered and all(
            len({texts[k] for k in group}) == 1 for group in family.groups)
        if not fits:
            family.groups = _groups(family.first, texts, differing | covered)
            family.generic = compile_kernel(_template(source, numbers, family.groups), ())
        values = tuple(_value(texts[group[0]]) for group in family.groups)
        generic = family.generic
    return dataclasses.replace(generic, consts=tuple(consts) + values, generic=True,
                               reused=fits, sizes=values, specialised=(source, tuple(consts)))
