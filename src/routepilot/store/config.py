"""This stage's configuration model; it lives in ``routepilot.config.store`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.store import (
    StoreConfig,
)

__all__ = [
    "StoreConfig",
]
