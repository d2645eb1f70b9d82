"""Shared base for every configuration model: strict, documented, immutable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr


class StrictModel(BaseModel):
    """Rejects unknown keys (a typo must never be silently ignored) and freezes values."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def read_secret(file: str | None, env: str | None, what: str) -> SecretStr | None:
    """The secret named by ``file`` (its content, one trailing newline stripped) or ``env``.

    Raises ValueError naming the file or variable (never the value) when it is missing
    or empty, so a typo is caught by ``config check`` rather than by a silent timeout.
    """
    if file is not None:
        try:
            text = Path(file).read_text()
        except OSError as e:
            raise ValueError(f"{what}: cannot read {file}: {e.strerror}") from None
        value = text[:-1] if text.endswith("\n") else text
        if not value:
            raise ValueError(f"{what}: {file} is empty")
        return SecretStr(value)
    if env is not None:
        value = os.environ.get(env, "")
        if not value:
            raise ValueError(f"{what}: environment variable {env} is not set or empty")
        return SecretStr(value)
    return None


SNMP_SECRETS = ("community", "auth_key", "priv_key")
"""The secrets of an SNMP v2c/v3 model, each given as ``<name>_file`` or ``<name>_env``."""


def read_snmp_secrets(model: Any, label: str) -> None:
    """Reads an SNMP model's secrets (telemetry's agents, alerts' trap receivers) with
    :func:`read_secret` into its private attributes (``_community`` …) and checks that its
    ``version`` has what it needs: a community for v2c, both passphrases for v3 authPriv.

    Raises ValueError starting with ``label`` (``agent edge``, ``snmp trap``).
    """
    for key in SNMP_SECRETS:
        secret = read_secret(
            getattr(model, f"{key}_file"), getattr(model, f"{key}_env"), f"{label} {key}"
        )
        setattr(model, f"_{key}", secret)
    if model.version == "2c" and model._community is None:
        raise ValueError(f"{label}: v2c needs community_file or community_env")
    if model.version == "3":
        for key in ("auth_key", "priv_key"):
            secret = getattr(model, f"_{key}")
            if secret is None:
                raise ValueError(f"{label}: v3 authPriv needs {key}_file or {key}_env")
            if len(secret.get_secret_value()) < 8:
                # RFC 3414 section 11.2: passphrases shorter than 8 octets are refused.
                raise ValueError(f"{label}: {key} must be at least 8 characters")
