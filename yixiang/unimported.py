"""Keeping an installed library out of the API process while the app is built.

pydantic (~9 MB RSS once imported) is installed for meilisearch-python (its camel-converter
extra), and nothing of ours uses it; yet importing Litestar imports advanced-alchemy when it is
installed (``litestar.pagination``), which imports pydantic when it finds it, and Litestar adds
its pydantic plugins when it can import pydantic. While :func:`unimportable` holds, the library
reads as not installed (its import fails, ``importlib.util.find_spec`` finds nothing);
afterwards it imports as usual, so the Meilisearch backend, made when the app starts, works.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def unimportable(name: str) -> Iterator[None]:
    """Within the block, ``import name`` fails as if ``name`` were not installed (unless it was
    imported already: then nothing changes)."""
    if name in sys.modules:
        yield
        return
    sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not importable"
    try:
        yield
    finally:
        if name in sys.modules and sys.modules[name] is None:
            del sys.modules[name]
