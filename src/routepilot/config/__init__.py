"""Configuration: YAML in, validated typed settings out.

The names are loaded on first use: every stage's own ``config.py`` imports
``routepilot.config.base``, and the top-level model imports every stage's
config, so an eager import here would make the import order matter.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_NAMES = {
    "Config": "routepilot.config.models",
    "ProviderConfig": "routepilot.config.models",
    "RouterConfig": "routepilot.config.models",
    "ConfigError": "routepilot.config.load",
    "dump_yaml": "routepilot.config.load",
    "load_file": "routepilot.config.load",
    "load_text": "routepilot.config.load",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'routepilot.config' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
