"""Keeping installed libraries that nothing in the API uses out of its process.

Some libraries import another at start whenever it is installed:
- pydantic (~9 MB RSS), installed for meilisearch-python (its camel-converter extra): importing
  Litestar imports advanced-alchemy when installed (``litestar.pagination``), which imports
  pydantic when it finds it, and Litestar adds its pydantic plugins when it can import it;
- ``httpx._main`` (~3.6 MB: rich, pygments), httpx's command line, which httpx imports when rich
  and click are installed (they are, for other tools).

While :func:`unimportable` holds (the served app is built in it, yixiang.asgi) they read as not
installed: their import fails and ``importlib.util.find_spec`` finds nothing. Afterwards they
import as usual: the Meilisearch backend, made when the app starts, imports pydantic then.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

UNUSED_BY_THE_API = ("pydantic", "httpx._main")


@contextmanager
def unimportable(*names: str) -> Iterator[None]:
    """Within the block, ``import name`` fails as if ``name`` were not installed (each name not
    imported already: one that is stays as it is)."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not importable"
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
