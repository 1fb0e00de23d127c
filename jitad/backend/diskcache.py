"""Where kernel files live, and a cache that heals and cannot be tricked.

The directory is ``$JITAD_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/jitad``
(``~/.cache/jitad``), plus a format version. Nothing is written at import:
the directory is made, and checked for writing, when the first kernel is
compiled. If it cannot be written, jitad says so once (a ``CacheWarning``
naming the directory) and compiles in memory from then on.

A kernel file is named by a hash of its text. Before a file is imported, its
text is compared with the text jitad generated: a truncated, garbled, zeroed
or edited file (even into other valid Python) is reported once, with its
path, and written again. numba keeps the machine code beside the file
(``__pycache__``); if that fails to load, the compiler removes it
(``remove_machine_code``) and compiles again.

``python -m jitad.cache --info`` / ``--clear`` (and ``jitad.cache_clear()``)
show and empty it.

>>> isinstance(directory(), (str, type(None)))
True
"""
from __future__ import annotations

import glob
import os
import tempfile
import warnings

from ..errors import CacheWarning

CACHE_FORMAT = 3
_checked: dict = {}   # configured directory -> usable directory or None
_reported: set = set()


def configured() -> str:
    """The directory the environment asks for (it may not exist or be writable)."""
    root = os.environ.get("JITAD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jitad")
    return os.path.join(root, f"kernels-v{CACHE_FORMAT}")


def directory() -> str | None:
    """The kernel directory if it can be written, else None (compile in memory)."""
    wanted = configured()
    if wanted not in _checked:
        _checked[wanted] = _usable(wanted)
    return _checked[wanted]


def _usable(path) -> str | None:
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, suffix=".probe")
        os.close(fd)
        os.remove(probe)
        return path
    except OSError as error:
        warnings.warn(f"jitad cannot write its kernel cache at {path} ({error.strerror or error}); "
                      "kernels are compiled in memory for this process and a new process "
                      "compiles them again. Set JITAD_CACHE_DIR to a writable directory to "
                      "keep them.", CacheWarning, stacklevel=4)
        return None


def report_once(path, what):
    if path not in _reported:
        _reported.add(path)
        warnings.warn(f"jitad's kernel cache entry {path} {what}; it was removed and the "
                      "kernel compiled again.", CacheWarning, stacklevel=4)


def write_checked(path, text) -> None:
    """``path`` holds ``text`` when this returns: written if missing, written
    again (and reported) if anything else is there. Writes are atomic."""
    try:
        with open(path, encoding="utf-8") as fh:
            found = fh.read()
    except FileNotFoundError:
        found = None
    except (OSError, UnicodeDecodeError):
        found = ""
    if found == text:
        return
    if found is not None:
        report_once(path, "did not hold the kernel its name is the hash of (truncated, "
                          "corrupted or edited)")
        remove_machine_code(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the kernel from a shared cache
    os.replace(tmp, path)


def machine_code_files(path) -> list:
    """numba's index and data files for the kernel module at ``path``."""
    folder, name = os.path.split(path)
    stem = os.path.splitext(name)[0]
    return glob.glob(os.path.join(folder, "__pycache__", f"{stem}.*.nb[ic]"))


def remove_machine_code(path) -> None:
    for file in machine_code_files(path):
        try:
            os.remove(file)
        except FileNotFoundError:
            pass


def entries(root=None) -> list:
    """The kernel files in the cache directory."""
    root = configured() if root is None else root
    return sorted(glob.glob(os.path.join(root, "k_*.py")))


def info() -> dict:
    root = configured()
    files = glob.glob(os.path.join(root, "**", "*"), recursive=True)
    size = sum(os.path.getsize(f) for f in files if os.path.isfile(f))
    return {"directory": root, "writable": directory() is not None,
            "kernels": len(entries(root)), "bytes": size}


def clear() -> int:
    """Remove every file of the kernel cache; the number removed."""
    root = configured()
    removed = 0
    for file in glob.glob(os.path.join(root, "**", "*"), recursive=True):
        if os.path.isfile(file):
            try:
                os.remove(file)
                removed += 1
            except OSError:
                pass
    return removed
