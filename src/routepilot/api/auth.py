"""Who may read and who may act: bearer tokens compared in constant time.

Reads are open unless a read token is configured (the write token reads too);
actions need the write token, and with none configured they are refused.
"""

from __future__ import annotations

import hmac

from fastapi.security import HTTPAuthorizationCredentials

from routepilot.api.config import ApiConfig


class AuthError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _same(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def check_read(config: ApiConfig, creds: HTTPAuthorizationCredentials | None) -> None:
    if config.read_token is None:
        return
    if creds is None:
        raise AuthError("this API needs a token: send Authorization: Bearer <token>", 401)
    if not (
        _same(creds.credentials, config.read_token) or _same(creds.credentials, config.write_token)
    ):
        raise AuthError("invalid token", 401)


def check_write(config: ApiConfig, creds: HTTPAuthorizationCredentials | None) -> None:
    if config.write_token is None:
        raise AuthError(
            "actions are disabled: no api.write_token is configured on the controller", 403
        )
    if creds is None:
        raise AuthError("actions need the write token: send Authorization: Bearer <token>", 401)
    if _same(creds.credentials, config.write_token):
        return
    if _same(creds.credentials, config.read_token):
        raise AuthError("the read-only token cannot change anything: use the write token", 403)
    raise AuthError("invalid token", 401)
