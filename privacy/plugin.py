"""Personal data as the shell sees it: the routes (the export, erasure, consent)."""

from __future__ import annotations

from privacy.controllers import ROUTES
from yixiang.domains import Domain

DOMAIN = Domain(name="privacy", route_handlers=ROUTES)
