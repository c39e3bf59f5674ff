"""Every table of the shell and of the domains, gathered for migrations and test schemas."""

from __future__ import annotations

import importlib

from yixiang import idempotency, identity, outbox  # noqa: F401  (register the shell's tables)
from yixiang.db import Base
from yixiang.domains import DOMAIN_MODULES

for _plugin in DOMAIN_MODULES:
    try:
        importlib.import_module(_plugin.rsplit(".", 1)[0] + ".models")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").endswith(".models"):
            raise

metadata = Base.metadata
