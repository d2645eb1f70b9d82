"""This stage's configuration model; it lives in ``routepilot.config.probe`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.probe import (
    ProbeConfig,
)

__all__ = [
    "ProbeConfig",
]
