"""mdhmc's live dashboard. ``from mdhmc.dashboard import App; App()`` in a notebook cell, or
``panel serve dashboard/app.py --show``."""

__all__ = ["App"]


def __getattr__(name):
    if name == "App":  # imported on use: Panel and Bokeh are not needed by the Panel-free modules
        from .app import App

        return App
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
