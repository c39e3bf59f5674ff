"""The domain packages the shell plugs in, in order: later domains build on earlier ones (demo data).

Apart from ``yixiang.domains`` so that reading the list imports nothing: the settings and the
command line need it without loading any domain (``yixiang --help`` and the worker's liveness
probe start in a fraction of a second instead of seconds).
"""

from __future__ import annotations

DOMAIN_PACKAGES = (
    "accounts",
    "catalogue",
    "booking",
    "results",
    "ratings",
    "vouchers",
    "search",
    "oversight",
    "bot",
    "privacy",
    "console",
)
