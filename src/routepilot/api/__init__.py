"""routepilot api stage: REST API, Prometheus exposition, alerts.

``routepilot.config`` is imported first on purpose: its models compose
``api.config.ApiConfig``, so importing ``routepilot.api.config`` on its own
would otherwise start a circular import half-way through ``routepilot.config``.
"""

import routepilot.config  # noqa: F401
