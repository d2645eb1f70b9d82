"""routepilot probe stage: per-provider active measurement (ICMP, TCP, UDP, traceroute).

The public surface: :class:`Prober` (in-process) and :class:`ProberProcess` (the same in a
worker process), :class:`ProbeConfig`, :class:`MeasurementSnapshot` for decide/, the
:class:`RollupSink` protocol for store/, and :mod:`routepilot.probe.fake` for tests.
"""
