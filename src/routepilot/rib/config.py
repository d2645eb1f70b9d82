"""This stage's configuration model; it lives in ``routepilot.config.rib`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.rib import (
    ExaBGPConfig,
    RibConfig,
    SpeakerConfig,
)

__all__ = [
    "ExaBGPConfig",
    "RibConfig",
    "SpeakerConfig",
]
