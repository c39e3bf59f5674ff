"""ASGI entry point for uvicorn: ``yixiang.asgi:app``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from yixiang.unimported import unimportable

if TYPE_CHECKING:  # importing Litestar here would import pydantic before the block below
    from litestar import Litestar


def served_app() -> Litestar:
    # Nothing the served app runs uses pydantic: it stays out of the process (yixiang.unimported)
    with unimportable("pydantic"):
        from yixiang.app import create_app

        return create_app()


app = served_app()
