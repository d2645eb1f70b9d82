"""routepilot api stage: REST API, Prometheus exposition, alerts."""
