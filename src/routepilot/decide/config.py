"""This stage's configuration model; it lives in ``routepilot.config.decide`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.decide import (
    PolicyConfig,
)

__all__ = [
    "PolicyConfig",
]
