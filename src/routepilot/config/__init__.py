"""Configuration: YAML in, validated typed settings out."""

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
