"""Keep one process's memory to what it uses: fewer malloc arenas, and freed memory given back.

glibc's malloc gives each thread that allocates while another holds the lock an arena of its own,
up to eight per core, and keeps what is freed in each: aiosqlite's thread per pooled connection
(the SQLite page cache, result rows) and anyio's worker threads each grew one, ~70 MB in all
under load on the embedded default (issue 25 goal 3). Two arenas serve a two-core server as
well; ``MALLOC_ARENA_MAX`` in the environment still decides when set.

Start-up builds and throws away a great deal (migrations checked, the app's signatures, jieba's
dictionary read, reference data); glibc's malloc keeps the freed pages in its arenas, counted in
the process's RSS for its whole life. ``malloc_trim(0)`` returns what is free at the top of each
arena and whole free pages inside them (glibc ≥ 2.8). Elsewhere (musl, macOS) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

M_ARENA_MAX = -8  # mallopt's parameter (malloc.h)
ARENAS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):  # not glibc
        return None
    libc.malloc_trim.restype = ctypes.c_int
    libc.mallopt.restype = ctypes.c_int
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap malloc's arenas (before the process starts threads: a thread keeps the arena it has).
    True when set here (False: the environment decides, or not glibc)."""
    libc = _libc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def release_freed() -> bool:
    """True when memory was returned to the system (False: none to return, or not glibc)."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
