"""仪享 yixiang: the application shell."""

__version__ = "0.1.0"
