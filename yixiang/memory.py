"""Give the memory start-up freed back to the operating system.

Start-up builds and throws away a great deal (migrations checked, the app's signatures, jieba's
dictionary read, reference data); glibc's malloc keeps the freed pages in its arenas, counted in
the process's RSS for its whole life. ``malloc_trim(0)`` returns what is free at the top of each
arena and whole free pages inside them (glibc ≥ 2.8). Elsewhere (musl, macOS) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys


@functools.cache
def _malloc_trim():  # type: ignore[no-untyped-def]
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed() -> bool:
    """True when memory was returned to the system (False: none to return, or not glibc)."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
