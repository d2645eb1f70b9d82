"""This stage's configuration models; they live in ``routepilot.config.telemetry`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.base import read_secret
from routepilot.config.telemetry import (
    BillingConfig,
    BillingGroupConfig,
    BillingMode,
    LinkConfig,
    SnmpAgentConfig,
    TelemetryConfig,
)

__all__ = [
    "BillingConfig",
    "BillingGroupConfig",
    "BillingMode",
    "LinkConfig",
    "SnmpAgentConfig",
    "TelemetryConfig",
    "read_secret",
]
