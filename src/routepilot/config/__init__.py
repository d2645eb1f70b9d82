"""Configuration: YAML in, validated typed settings out.

A leaf: every model, the top-level one and each stage's section
(``config/flows.py``, ``config/probe.py`` …), builds on pydantic and
``config/base.py`` only, so importing the configuration loads no stage and
the import order never matters.
"""

from __future__ import annotations

from routepilot.config.load import ConfigError, dump_yaml, load_file, load_text
from routepilot.config.models import Config, ProviderConfig, RouterConfig

__all__ = [
    "Config",
    "ConfigError",
    "ProviderConfig",
    "RouterConfig",
    "dump_yaml",
    "load_file",
    "load_text",
]
