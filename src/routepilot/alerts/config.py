"""This stage's configuration models; they live in ``routepilot.config.alerts`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.alerts import (
    AlertsConfig,
    EmailConfig,
    EventName,
    QuietHoursConfig,
    RateLimitConfig,
    ReceiverFilter,
    Severity,
    SnmpTrapConfig,
    WebhookConfig,
)

__all__ = [
    "AlertsConfig",
    "EmailConfig",
    "EventName",
    "QuietHoursConfig",
    "RateLimitConfig",
    "ReceiverFilter",
    "Severity",
    "SnmpTrapConfig",
    "WebhookConfig",
]
