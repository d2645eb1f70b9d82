"""This stage's configuration model; it lives in ``routepilot.config.api`` so that
``config/`` stays a leaf that imports no stage."""

from routepilot.config.api import (
    AlertsConfig,
    ApiConfig,
    WebhookConfig,
)

__all__ = [
    "AlertsConfig",
    "ApiConfig",
    "WebhookConfig",
]
