"""This stage's configuration model; it lives in ``routepilot.config.rib`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.rib import (
    AddressFamily,
    ExaBGPConfig,
    RibConfig,
    SpeakerConfig,
)

__all__ = [
    "AddressFamily",
    "ExaBGPConfig",
    "RibConfig",
    "SpeakerConfig",
]
