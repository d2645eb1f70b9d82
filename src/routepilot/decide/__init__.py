"""routepilot decide stage: the pure policy that chooses each busy prefix's exit.

``decide(inp, state, policy, providers)`` takes a snapshot of traffic, routes
and measurements and returns the desired exit of every prefix with its reason
and the numbers behind it, plus the state for the next round.
"""

from routepilot.decide.config import PolicyConfig
from routepilot.decide.engine import decide
from routepilot.decide.model import (
    Active,
    DecisionInput,
    DecisionResult,
    DecisionState,
    Move,
    ProviderLike,
)
from routepilot.decide.reasons import Reason

__all__ = [
    "Active",
    "DecisionInput",
    "DecisionResult",
    "DecisionState",
    "Move",
    "PolicyConfig",
    "ProviderLike",
    "Reason",
    "decide",
]
