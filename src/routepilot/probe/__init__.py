"""routepilot probe stage: per-provider active measurement (ICMP, TCP, UDP, traceroute).

The public surface: :class:`Prober` (in-process) and :class:`ProberProcess` (the same in a
worker process), :class:`ProbeConfig`, :class:`MeasurementSnapshot` for decide/, the
:class:`RollupSink` protocol for store/, and :mod:`routepilot.probe.fake` for tests.
"""

# The top-level configuration composes ProbeConfig, and ProbeConfig builds on the
# configuration base: importing the configuration package first, here, lets either side
# be imported first without a circular-import failure.
import routepilot.config  # noqa: F401  (import order, see above)
