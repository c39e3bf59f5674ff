"""Every table of the shell and of the domains, gathered for migrations and test schemas."""

from __future__ import annotations

import importlib

from yixiang import audit, idempotency, long_jobs, outbox  # noqa: F401  (register the shell's tables)
from yixiang.db import Base
from yixiang.domains import DOMAIN_MODULES

for _plugin in DOMAIN_MODULES:
    # A domain's plugin imports every part of it, so tables kept beside their part register too.
    for _module in (_plugin.rsplit(".", 1)[0] + ".models", _plugin):
        try:
            importlib.import_module(_module)
        except ModuleNotFoundError as exc:
            if exc.name != _module:
                raise

metadata = Base.metadata
