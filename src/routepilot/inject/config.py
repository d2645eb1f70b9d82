"""This stage's configuration model; it lives in ``routepilot.config.inject`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.inject import (
    Community,
    InjectConfig,
)

__all__ = [
    "Community",
    "InjectConfig",
]
