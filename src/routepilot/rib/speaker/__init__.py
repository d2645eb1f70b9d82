"""BGP speaker backends behind one interface (see ``base.py``).

``BACKENDS`` maps a backend name, as written in the configuration, to the class
that implements it; a backend module adds itself here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from routepilot.rib.speaker.base import (
    EndOfRib,
    InjectedRoute,
    MalformedUpdate,
    Nlri,
    PathAttributes,
    PathIdsWithdrawn,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
    Speaker,
    SpeakerEvent,
    SpeakerRestarted,
)

if TYPE_CHECKING:
    from routepilot.config.models import RouterConfig
    from routepilot.rib.config import SpeakerConfig

__all__ = [
    "BACKENDS",
    "EndOfRib",
    "InjectedRoute",
    "MalformedUpdate",
    "Nlri",
    "PathAttributes",
    "PathIdsWithdrawn",
    "PathsLearned",
    "PathsWithdrawn",
    "SessionChanged",
    "Speaker",
    "SpeakerEvent",
    "SpeakerRestarted",
    "make_speaker",
]


Backend = Callable[["SpeakerConfig", Sequence["RouterConfig"]], Speaker]
"""A backend's factory: ``(speaker_config, routers)`` -> its ``Speaker``."""


def _exabgp(config: SpeakerConfig, routers: Sequence[RouterConfig]) -> Speaker:
    from routepilot.rib.speaker.exabgp import ExaBGPSpeaker

    return ExaBGPSpeaker(config, routers)


def _gobgp(config: SpeakerConfig, routers: Sequence[RouterConfig]) -> Speaker:
    from routepilot.rib.speaker.gobgp_api import require_stubs

    require_stubs()  # generated at setup: a clear StubsMissing, not an ImportError
    from routepilot.rib.speaker.gobgp import GoBGPSpeaker

    return GoBGPSpeaker(config, routers)


BACKENDS: dict[str, Backend] = {"exabgp": _exabgp, "gobgp": _gobgp}
"""Backend name -> factory taking ``(speaker_config, routers)``."""


def make_speaker(speaker_config: SpeakerConfig, routers: Sequence[RouterConfig]) -> Speaker:
    """Builds the configured backend for these routers."""
    return BACKENDS[speaker_config.backend](speaker_config, routers)
