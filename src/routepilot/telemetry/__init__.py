"""routepilot telemetry stage: SNMP interface counters -> per-link rates -> billing samples.

The public surface: :class:`~routepilot.telemetry.poller.Telemetry` (the component),
:class:`~routepilot.telemetry.config.TelemetryConfig`,
:class:`~routepilot.telemetry.snapshot.TelemetrySnapshot` for decide/, the pure billing
arithmetic in :mod:`routepilot.telemetry.billing`, and :mod:`routepilot.telemetry.fake`
for other stages' tests.
"""

# Same import-order guard as the other stages: the configuration package first.
import routepilot.config  # noqa: F401  (import order, see above)
