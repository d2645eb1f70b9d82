"""This stage's configuration model; it lives in ``routepilot.config.report`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.report import (
    SlaConfig,
    SlaTarget,
)

__all__ = [
    "SlaConfig",
    "SlaTarget",
]
