"""This stage's configuration model; it lives in ``routepilot.config.flows`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.flows import (
    FlowsConfig,
    SamplingOverride,
    SynHintsConfig,
)

__all__ = [
    "FlowsConfig",
    "SamplingOverride",
    "SynHintsConfig",
]
