"""This stage's configuration model; it lives in ``routepilot.config.run`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.run import (
    ControllerConfig,
)

__all__ = [
    "ControllerConfig",
]
