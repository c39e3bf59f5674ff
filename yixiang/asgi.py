"""ASGI entry point for uvicorn: ``yixiang.asgi:app``."""

from yixiang.app import create_app

app = create_app()
