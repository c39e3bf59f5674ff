"""ASGI entry point for uvicorn: ``yixiang.asgi:app``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from yixiang.unimported import UNUSED_BY_THE_API, unimportable

if TYPE_CHECKING:  # importing Litestar here would import pydantic before the block below
    from litestar import Litestar


def served_app() -> Litestar:
    # What libraries import only because it is installed stays out (yixiang.unimported)
    with unimportable(*UNUSED_BY_THE_API):
        from yixiang.app import create_app

        return create_app()


app = served_app()
