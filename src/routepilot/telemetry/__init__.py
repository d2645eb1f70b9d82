"""routepilot telemetry stage: SNMP interface counters -> per-link rates -> billing samples.

The public surface: :class:`~routepilot.telemetry.poller.Telemetry` (the component),
:class:`~routepilot.config.telemetry.TelemetryConfig` (re-exported by ``telemetry.config``),
:class:`~routepilot.telemetry.snapshot.TelemetrySnapshot` for decide/, the pure billing
arithmetic in :mod:`routepilot.telemetry.billing`, and :mod:`routepilot.telemetry.fake`
for other stages' tests.
"""
