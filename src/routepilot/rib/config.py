"""This stage's configuration model; it lives in ``routepilot.config.rib`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.rib import (
    AddressFamily,
    BmpConfig,
    ExaBGPConfig,
    GoBGPConfig,
    RibConfig,
    SpeakerConfig,
)

__all__ = [
    "AddressFamily",
    "BmpConfig",
    "ExaBGPConfig",
    "GoBGPConfig",
    "RibConfig",
    "SpeakerConfig",
]
