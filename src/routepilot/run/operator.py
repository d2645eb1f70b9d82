"""What the operator said (pins, exclusions, pause), kept across restarts by the store."""

from __future__ import annotations

from dataclasses import dataclass, field

from routepilot.store import ControllerState


@dataclass
class Operator:
    """Pins, exclusions and pause: inputs to every decision round."""

    pins: dict[str, str] = field(default_factory=dict)
    exclusions: set[str] = field(default_factory=set)
    paused: bool = False

    @classmethod
    def from_state(cls, saved: ControllerState) -> Operator:
        """The operator's part of a saved controller state."""
        return cls(dict(saved.pins), set(saved.exclusions), saved.paused)
