"""Shared base for every configuration model: strict, documented, immutable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, SecretStr


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


class SnmpCredentials(StrictModel):
    """How routepilot authenticates to an SNMP peer (telemetry's agents, alerts' trap
    receivers): v2c with a community, or v3 USM authPriv. The secrets are named by file or
    environment variable and read by :func:`read_snmp_secrets` into private attributes: they
    cannot be given in the file (extra keys are refused), are not dumped, and show as
    ********** in a repr."""

    version: Literal["2c", "3"] = "2c"
    """SNMP version: ``2c`` (community) or ``3`` (USM user, authPriv only)."""
    community_file: str | None = None
    """v2c: file holding the community (one line)."""
    community_env: str | None = None
    """v2c: environment variable holding the community (when no ``community_file``)."""
    user: str | None = None
    """v3: USM user name."""
    auth_protocol: Literal["SHA", "SHA256"] = "SHA"
    """v3: authentication protocol (HMAC-SHA-96, RFC 3414; HMAC-SHA-256-192, RFC 7860)."""
    auth_key_file: str | None = None
    """v3: file holding the authentication passphrase."""
    auth_key_env: str | None = None
    """v3: environment variable holding the authentication passphrase."""
    priv_protocol: Literal["AES"] = "AES"
    """v3: privacy protocol (AES-128 in CFB mode, RFC 3826)."""
    priv_key_file: str | None = None
    """v3: file holding the privacy passphrase."""
    priv_key_env: str | None = None
    """v3: environment variable holding the privacy passphrase."""

    _community: SecretStr | None = PrivateAttr(None)
    _auth_key: SecretStr | None = PrivateAttr(None)
    _priv_key: SecretStr | None = PrivateAttr(None)

    @property
    def community(self) -> SecretStr | None:
        """The v2c community read from ``community_file``/``community_env``."""
        return self._community

    @property
    def auth_key(self) -> SecretStr | None:
        """The v3 authentication passphrase read from its file or variable."""
        return self._auth_key

    @property
    def priv_key(self) -> SecretStr | None:
        """The v3 privacy passphrase read from its file or variable."""
        return self._priv_key
