"""routepilot alerts stage: conditions read from the controller's view become alerts,
filtered per receiver and delivered to webhooks (generic, Slack, Teams, PagerDuty), email
and SNMP traps without ever blocking the daemon.

- ``events``: the catalog of every event (docs/events.md is its page);
- ``manager``: :class:`AlertManager`, pure, views in, transitions out;
- ``filters``: per-receiver events, minimum severity, rate limit, quiet hours;
- ``dispatch``: bounded queue and retrying task per receiver, counted drops;
- ``webhook`` (with ``presets``), ``email``, ``snmp``: the transports;
- ``component``: :class:`Alerting`, the daemon's component, and its metrics.
"""
