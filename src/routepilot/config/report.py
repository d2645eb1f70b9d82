"""Configuration of the reports (report/): the SLA targets providers are held to."""

from __future__ import annotations

from pydantic import Field

from routepilot.config.base import StrictModel


class SlaTarget(StrictModel):
    """What a provider promises over a report's period; unset targets are not checked."""

    rtt_ms: float | None = Field(None, gt=0)
    """Round-trip time the provider must stay at or under, at the quantile ``rtt_quantile``
    of its per-minute RTTs (its median over the prefixes probed through it)."""
    loss: float | None = Field(None, ge=0, le=1)
    """Highest mean packet loss over the period, as a fraction (0.005 = 0.5%)."""
    availability: float | None = Field(None, ge=0, le=1)
    """Lowest share of probed minutes in which the provider was up (0.999 = 99.9%)."""


class SlaConfig(SlaTarget):
    """Targets for every provider, each overridable per provider under ``providers``."""

    providers: dict[str, SlaTarget] = Field(default_factory=dict)
    """Per-provider targets, by provider name; fields left out fall back to the global ones."""
    rtt_quantile: float = Field(0.95, gt=0, le=1)
    """Which quantile of the per-minute RTTs is compared with ``rtt_ms`` (0.95: the 95th
    percentile)."""
    down_loss: float = Field(0.5, gt=0, le=1)
    """A minute in which a provider (or, for outages avoided, BGP's default for a prefix)
    loses at least this share of probes counts as down."""

    def target(self, provider: str) -> SlaTarget:
        """The targets that apply to ``provider``: its own, else the global ones."""
        own = self.providers.get(provider)
        if own is None:
            return SlaTarget(rtt_ms=self.rtt_ms, loss=self.loss, availability=self.availability)
        return SlaTarget(
            rtt_ms=self.rtt_ms if own.rtt_ms is None else own.rtt_ms,
            loss=self.loss if own.loss is None else own.loss,
            availability=self.availability if own.availability is None else own.availability,
        )
