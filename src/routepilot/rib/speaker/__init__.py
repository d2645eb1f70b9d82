"""BGP speaker backends behind one interface (see ``base.py``).

``BACKENDS`` maps a backend name, as written in the configuration, to the class
that implements it; a backend module adds itself here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from routepilot.config.models import RouterConfig
from routepilot.config.rib import SpeakerConfig
from routepilot.rib.speaker.base import (
    EndOfRib,
    InjectedRoute,
    MalformedUpdate,
    Nlri,
    PathAttributes,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
    Speaker,
    SpeakerEvent,
    SpeakerRestarted,
)

__all__ = [
    "BACKENDS",
    "EndOfRib",
    "InjectedRoute",
    "MalformedUpdate",
    "Nlri",
    "PathAttributes",
    "PathsLearned",
    "PathsWithdrawn",
    "SessionChanged",
    "Speaker",
    "SpeakerEvent",
    "SpeakerRestarted",
    "make_speaker",
]


def _exabgp(*args, **kwargs) -> Speaker:
    from routepilot.rib.speaker.exabgp import ExaBGPSpeaker

    return ExaBGPSpeaker(*args, **kwargs)


BACKENDS: dict[str, Callable[..., Speaker]] = {"exabgp": _exabgp}
"""Backend name -> factory taking ``(speaker_config, routers)``."""


def make_speaker(speaker_config: SpeakerConfig, routers: Sequence[RouterConfig]) -> Speaker:
    """Builds the configured backend for these routers (``run/wiring.py`` calls it)."""
    return BACKENDS[speaker_config.backend](speaker_config, routers)
