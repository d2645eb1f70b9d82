"""Shared base for every configuration model: strict, documented, immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Rejects unknown keys (a typo must never be silently ignored) and freezes values."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
