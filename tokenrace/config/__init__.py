"""Configuration: typed models (``models``) and the YAML loader (``loader``).

No network libraries here: this package imports none of tornado, textual or aiohttp.
"""
from ..errors import ConfigError
from .loader import (
    CONFIG_ENV,
    expand_env,
    find_config_path,
    load_config,
    parse_config,
    read_config,
    starter_text,
    write_starter,
)
from .models import DEFAULT_BASE_URLS, KINDS, Config, ProviderConfig, Secret, SSEEndpoint, Timeouts

__all__ = [
    "CONFIG_ENV", "DEFAULT_BASE_URLS", "KINDS", "Config", "ConfigError", "ProviderConfig", "SSEEndpoint",
    "Secret", "Timeouts", "expand_env", "find_config_path", "load_config", "parse_config", "read_config",
    "starter_text", "write_starter",
]
