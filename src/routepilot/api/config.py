"""This stage's configuration model; it lives in ``routepilot.config.api`` so that
``config/`` stays a leaf that imports no stage. The alerts' models (``routepilot.config.alerts``)
are re-exported here for the callers that knew them from here."""

from routepilot.config.alerts import AlertsConfig, WebhookConfig
from routepilot.config.api import ApiConfig

__all__ = [
    "AlertsConfig",
    "ApiConfig",
    "WebhookConfig",
]
